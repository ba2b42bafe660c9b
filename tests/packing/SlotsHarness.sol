// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TimeframeId, InstanceType} from "contracts/types/Ids.sol";
import {IMeteringTypes} from "contracts/interfaces/IMeteringTypes.sol";
import {AccountSlot, AccountSlotLibrary} from "contracts/types/AccountSlot.sol";
import {Cursor, CursorLibrary} from "contracts/types/Cursor.sol";
import {InstanceSlot, InstanceSlotLibrary} from "contracts/types/InstanceSlot.sol";
import {RulesSlot, RulesSlotLibrary} from "contracts/types/RulesSlot.sol";
import {UsageSlot, UsageSlotLibrary} from "contracts/types/UsageSlot.sol";
import {TermsSlot, TermsSlotLibrary} from "contracts/types/TermsSlot.sol";

/// @dev Exposes the packed-slot libraries of Meter to the fuzzed packing tests (tests/packing/), one call per
/// library function. Test-only: never deployed outside a test node.
contract SlotsHarness {
    // ------------------------------------------------------------------ InstanceSlot

    function instancePack(
        address customer,
        uint40 leaseEnd,
        uint16 timeframe,
        uint16 instanceType,
        uint8 generation,
        uint8 seat,
        IMeteringTypes.InstanceStatus status,
        uint8 detail,
        bool timePriced
    ) external pure returns (uint256) {
        return InstanceSlot.unwrap(
            InstanceSlotLibrary.pack(
                customer,
                leaseEnd,
                TimeframeId.wrap(timeframe),
                InstanceType.wrap(instanceType),
                generation,
                seat,
                status,
                detail,
                timePriced
            )
        );
    }

    function instanceUnpack(uint256 word)
        external
        pure
        returns (address, uint40, uint16, uint16, uint8, uint8, IMeteringTypes.InstanceStatus, bool)
    {
        InstanceSlot s = InstanceSlot.wrap(word);
        return (
            s.customer(),
            s.leaseEnd(),
            TimeframeId.unwrap(s.timeframe()),
            InstanceType.unwrap(s.instanceType()),
            s.generation(),
            s.seat(),
            s.status(),
            s.isOpen()
        );
    }

    function instanceFlags(uint256 word) external pure returns (IMeteringTypes.DenialReason, uint8, bool) {
        InstanceSlot s = InstanceSlot.wrap(word);
        return (s.reason(), s.detail(), s.timePriced());
    }

    function leaseTag(uint32 leaseSeconds) external pure returns (uint8) {
        return InstanceSlotLibrary.leaseTag(leaseSeconds);
    }

    function instanceWithLeaseEnd(uint256 word, uint40 leaseEnd) external pure returns (uint256) {
        return InstanceSlot.unwrap(InstanceSlot.wrap(word).withLeaseEnd(leaseEnd));
    }

    function instanceClosed(uint256 word) external pure returns (uint256) {
        return InstanceSlot.unwrap(InstanceSlot.wrap(word).closed());
    }

    // ------------------------------------------------------------------ UsageSlot

    function usagePack(uint32 activations, uint32 overage, uint64 leased, uint40 seat0, uint40 seat1, uint40 seat2)
        external
        pure
        returns (uint256)
    {
        return UsageSlot.unwrap(UsageSlotLibrary.pack(activations, overage, leased, seat0, seat1, seat2));
    }

    function usageUnpack(uint256 word) external pure returns (uint32, uint32, uint64, uint40, uint40, uint40) {
        UsageSlot u = UsageSlot.wrap(word);
        return (u.activations(), u.overageActivations(), u.leasedSeconds(), u.seatEnd(0), u.seatEnd(1), u.seatEnd(2));
    }

    function usageWithSeatEnd(uint256 word, uint256 k, uint40 leaseEnd) external pure returns (uint256) {
        return UsageSlot.unwrap(UsageSlot.wrap(word).withSeatEnd(k, leaseEnd));
    }

    function usageWithLeasedSeconds(uint256 word, uint64 leased) external pure returns (uint256) {
        return UsageSlot.unwrap(UsageSlot.wrap(word).withLeasedSeconds(leased));
    }

    function usageWithActivations(uint256 word, uint32 activations, uint32 overage) external pure returns (uint256) {
        return UsageSlot.unwrap(UsageSlot.wrap(word).withActivations(activations, overage));
    }

    // ------------------------------------------------------------------ AccountSlot

    function accountPack(IMeteringTypes.CustomerAccount memory a) external pure returns (uint256) {
        return AccountSlot.unwrap(AccountSlotLibrary.pack(a));
    }

    function accountUnpack(uint256 word)
        external
        pure
        returns (IMeteringTypes.CustomerAccount memory, bool enrolled, bool screens, bool openToAll)
    {
        AccountSlot s = AccountSlot.wrap(word);
        return (s.unpack(), s.isEnrolled(), s.screensAgents(), s.enrolledOpenToAll());
    }

    function accountWithRevokedAny(uint256 word) external pure returns (uint256) {
        return AccountSlot.unwrap(AccountSlot.wrap(word).withRevokedAny());
    }

    function accountWithStatus(uint256 word, IMeteringTypes.CustomerStatus status) external pure returns (uint256) {
        return AccountSlot.unwrap(AccountSlot.wrap(word).withStatus(status));
    }

    function accountWithRestricted(uint256 word, bool restricted) external pure returns (uint256) {
        return AccountSlot.unwrap(AccountSlot.wrap(word).withRestricted(restricted));
    }

    function accountWithSpendingCap(uint256 word, uint64 cap, bytes8 currency) external pure returns (uint256) {
        return AccountSlot.unwrap(AccountSlot.wrap(word).withSpendingCap(cap, currency));
    }

    function accountWithSpent(uint256 word, uint16 timeframe, uint96 spent) external pure returns (uint256) {
        return AccountSlot.unwrap(AccountSlot.wrap(word).withSpent(TimeframeId.wrap(timeframe), spent));
    }

    // ------------------------------------------------------------------ RulesSlot

    function rulesPack(IMeteringTypes.Rules calldata r) external pure returns (uint256) {
        return RulesSlot.unwrap(RulesSlotLibrary.pack(r));
    }

    function rulesUnpack(uint256 word, uint48 pricePerContinuation)
        external
        pure
        returns (IMeteringTypes.Rules memory, bool configured, bool soft)
    {
        RulesSlot s = RulesSlot.wrap(word);
        return (s.unpack(pricePerContinuation), s.configured(), s.soft());
    }

    // ------------------------------------------------------------------ Cursor

    function cursorPack(uint16 count, uint16 walked, uint16 id, uint40 start, uint40 end, bytes8 currency)
        external
        pure
        returns (uint256)
    {
        return Cursor.unwrap(CursorLibrary.pack(count, walked, TimeframeId.wrap(id), start, end, currency));
    }

    function cursorUnpack(uint256 word) external pure returns (uint16, uint16, uint16, uint40, uint40, bytes8) {
        Cursor c = Cursor.wrap(word);
        return (c.count(), c.walked(), TimeframeId.unwrap(c.id()), c.start(), c.end(), c.currency());
    }

    function cursorWithCount(uint256 word, uint16 count) external pure returns (uint256) {
        return Cursor.unwrap(Cursor.wrap(word).withCount(count));
    }

    function cursorWithWalked(uint256 word, uint16 walked) external pure returns (uint256) {
        return Cursor.unwrap(Cursor.wrap(word).withWalked(walked));
    }

    // ------------------------------------------------------------------ TermsSlot

    function termsPack(uint48 pricePerContinuation, uint32 leaseBound, uint40 timeframeEnd)
        external
        pure
        returns (uint256)
    {
        return TermsSlot.unwrap(TermsSlotLibrary.pack(pricePerContinuation, leaseBound, timeframeEnd));
    }

    function termsUnpack(uint256 word) external pure returns (uint48, uint32, uint40) {
        TermsSlot t = TermsSlot.wrap(word);
        return (t.pricePerContinuation(), t.leaseBound(), t.timeframeEnd());
    }
}
