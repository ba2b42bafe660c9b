// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TimeframeId} from "./Ids.sol";
import {IMeteringTypes} from "../interfaces/IMeteringTypes.sol";

/// @dev A customer's account ({IMeteringTypes-CustomerAccount}) packed into one storage slot: every decision for the
/// customer reads its status, agent restriction, cap and spending at once, and a grant writes its spending back.
///
/// Layout, from the lowest bit:
///
///     bits      field            meaning
///     0-7       status           IMeteringTypes.CustomerStatus
///     8         restricted       1 when only approved agents may bill the customer
///     9         revokedAny       1 once the customer revoked an agent: decisions then read the approval even
///                                when the customer is not restricted (a revoke always takes effect)
///     10        prepaid          1 once the settlement contract holds the customer's deposit and sets its cap;
///                                `spent` then sums every unsettled timeframe
///     11-15     (always 0)
///     16-79     spendingCap      minor units of `capCurrency` per timeframe, 0 = no cap
///     80-95     spentTimeframe   the timeframe `spent` belongs to
///     96-191    spent            micro-units committed in `spentTimeframe`
///     192-255   capCurrency      the cap's currency (ISO 4217 code as bytes8), 0 when no cap was ever set
type AccountSlot is uint256;

using AccountSlotLibrary for AccountSlot global;

/// @title Packing and unpacking of {AccountSlot}.
library AccountSlotLibrary {
    uint256 internal constant RESTRICTED_OFFSET = 8;
    uint256 internal constant SPENDING_CAP_OFFSET = 16;
    uint256 internal constant SPENT_TIMEFRAME_OFFSET = 80;
    uint256 internal constant SPENT_OFFSET = 96;
    uint256 internal constant CAP_CURRENCY_OFFSET = 192;
    uint256 private constant RESTRICTED_BIT = 1 << RESTRICTED_OFFSET;
    uint256 private constant REVOKED_ANY_BIT = 1 << 9;
    uint256 private constant PREPAID_BIT = 1 << 10;

    uint256 private constant MASK_8 = 0xFF;
    uint256 private constant MASK_64 = 0xFFFFFFFFFFFFFFFF;
    /// @dev `spentTimeframe` and `spent` together: bits 80-191.
    uint256 private constant MASK_SPENDING = (uint256(1) << 112) - 1;

    /// @dev A whole account.
    function pack(IMeteringTypes.CustomerAccount memory a) internal pure returns (AccountSlot) {
        return AccountSlot.wrap(
            uint256(a.status) | (a.restricted ? RESTRICTED_BIT : 0) | (a.revokedAny ? REVOKED_ANY_BIT : 0)
                | (uint256(a.spendingCap) << SPENDING_CAP_OFFSET)
                | (uint256(TimeframeId.unwrap(a.spentTimeframe)) << SPENT_TIMEFRAME_OFFSET)
                | (uint256(a.spent) << SPENT_OFFSET) | (uint256(uint64(a.capCurrency)) << CAP_CURRENCY_OFFSET)
        );
    }

    /// @dev The whole account, as the views return it.
    function unpack(AccountSlot s) internal pure returns (IMeteringTypes.CustomerAccount memory) {
        return IMeteringTypes.CustomerAccount(
            status(s), restricted(s), spendingCap(s), spentTimeframe(s), spent(s), capCurrency(s), revokedAny(s)
        );
    }

    function status(AccountSlot s) internal pure returns (IMeteringTypes.CustomerStatus) {
        return IMeteringTypes.CustomerStatus(AccountSlot.unwrap(s) & MASK_8);
    }

    /// @dev Whether the customer is enrolled (cheaper than comparing `status()`: no enum conversion).
    function isEnrolled(AccountSlot s) internal pure returns (bool) {
        return AccountSlot.unwrap(s) & MASK_8 == uint256(IMeteringTypes.CustomerStatus.Enrolled);
    }

    function restricted(AccountSlot s) internal pure returns (bool) {
        return AccountSlot.unwrap(s) & RESTRICTED_BIT != 0;
    }

    function revokedAny(AccountSlot s) internal pure returns (bool) {
        return AccountSlot.unwrap(s) & REVOKED_ANY_BIT != 0;
    }

    /// @dev Whether the customer is enrolled and accepts every agent (not restricted, never revoked one): the
    /// common case of a decision, in one test.
    function enrolledOpenToAll(AccountSlot s) internal pure returns (bool) {
        return AccountSlot.unwrap(s) & (MASK_8 | RESTRICTED_BIT | REVOKED_ANY_BIT)
            == uint256(IMeteringTypes.CustomerStatus.Enrolled);
    }

    /// @dev Whether a decision for this customer must read its approval of the agent: it restricted itself to
    /// approved agents, or it revoked one (one test for both, on the hot path).
    function screensAgents(AccountSlot s) internal pure returns (bool) {
        return AccountSlot.unwrap(s) & (RESTRICTED_BIT | REVOKED_ANY_BIT) != 0;
    }

    function capCurrency(AccountSlot s) internal pure returns (bytes8) {
        return bytes8(uint64(AccountSlot.unwrap(s) >> CAP_CURRENCY_OFFSET));
    }

    function spendingCap(AccountSlot s) internal pure returns (uint64) {
        return uint64(AccountSlot.unwrap(s) >> SPENDING_CAP_OFFSET);
    }

    function spentTimeframe(AccountSlot s) internal pure returns (TimeframeId) {
        return TimeframeId.wrap(uint16(AccountSlot.unwrap(s) >> SPENT_TIMEFRAME_OFFSET));
    }

    function spent(AccountSlot s) internal pure returns (uint96) {
        return uint96(AccountSlot.unwrap(s) >> SPENT_OFFSET);
    }

    function withStatus(AccountSlot s, IMeteringTypes.CustomerStatus status_) internal pure returns (AccountSlot) {
        return AccountSlot.wrap((AccountSlot.unwrap(s) & ~MASK_8) | uint256(status_));
    }

    function withRestricted(AccountSlot s, bool restricted_) internal pure returns (AccountSlot) {
        return AccountSlot.wrap(
            (AccountSlot.unwrap(s) & ~RESTRICTED_BIT) | (restricted_ ? RESTRICTED_BIT : 0)
        );
    }

    /// @dev The same account, marked as having revoked an agent (never unmarked: a revoke stays in force).
    function withRevokedAny(AccountSlot s) internal pure returns (AccountSlot) {
        return AccountSlot.wrap(AccountSlot.unwrap(s) | REVOKED_ANY_BIT);
    }

    /// @dev The same account with a cap of `cap` minor units of `currency`.
    function withSpendingCap(AccountSlot s, uint64 cap, bytes8 currency) internal pure returns (AccountSlot) {
        return AccountSlot.wrap(
            (AccountSlot.unwrap(s) & ~(MASK_64 << SPENDING_CAP_OFFSET) & ~(MASK_64 << CAP_CURRENCY_OFFSET))
                | (uint256(cap) << SPENDING_CAP_OFFSET) | (uint256(uint64(currency)) << CAP_CURRENCY_OFFSET)
        );
    }

    /// @dev The same account having committed `spent_` in `timeframe_`.
    function withSpent(AccountSlot s, TimeframeId timeframe_, uint96 spent_) internal pure returns (AccountSlot) {
        return AccountSlot.wrap(
            (AccountSlot.unwrap(s) & ~(MASK_SPENDING << SPENT_TIMEFRAME_OFFSET))
                | (uint256(TimeframeId.unwrap(timeframe_)) << SPENT_TIMEFRAME_OFFSET)
                | (uint256(spent_) << SPENT_OFFSET)
        );
    }

    // ---------------------------------------------------------------- settlement (issue 16)

    /// @dev Whether the customer prepays through the settlement contract: its `spent` then sums every unsettled
    /// timeframe, and its cap (set by the settlement contract alone) is what its deposit covers, 0 included.
    function prepaid(AccountSlot s) internal pure returns (bool) {
        return AccountSlot.unwrap(s) & PREPAID_BIT != 0;
    }

    /// @dev The same account, prepaid.
    function withPrepaid(AccountSlot s) internal pure returns (AccountSlot) {
        return AccountSlot.wrap(AccountSlot.unwrap(s) | PREPAID_BIT);
    }
}
