// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TimeframeId, InstanceType} from "./Ids.sol";
import {IMeteringTypes} from "../interfaces/IMeteringTypes.sol";

/// @dev The record an agent's seat holds: its current instance, packed into one storage slot so that a request, a
/// renewal or a stop reads it once and writes it once.
///
/// Layout, from the lowest bit:
///
///     bits      field          meaning
///     0-159     customer       the customer billed
///     160-199   leaseEnd       the lease expiry while open; the second billing stopped once closed; 0 if denied
///     200-215   timeframe      the timeframe it is billed in (0 for a denial outside every timeframe)
///     216-231   instanceType
///     232-239   generation     1-255 once the seat was used, 0 before
///     240-247   seat           the concurrency seat it holds, NO_SEAT (255) when none
///     248-249   status         IMeteringTypes.InstanceStatus
///     250-254   detail         a denied request: its IMeteringTypes.DenialReason; a granted one: the lease tag,
///                              a 5-bit fingerprint of the lease length requested, so a replay that asks for
///                              another length is refused (31 changed lengths in 32; see {leaseTag})
///     255       timePriced     its rules price running time, so a renewal or a stop changes the customer's
///                              spending (when clear, neither reads the rules: nothing to charge or give back)
type InstanceSlot is uint256;

using InstanceSlotLibrary for InstanceSlot global;

/// @title Packing and unpacking of {InstanceSlot}.
library InstanceSlotLibrary {
    uint256 internal constant LEASE_END_OFFSET = 160;
    uint256 internal constant TIMEFRAME_OFFSET = 200;
    uint256 internal constant TYPE_OFFSET = 216;
    uint256 internal constant GENERATION_OFFSET = 232;
    uint256 internal constant SEAT_OFFSET = 240;
    uint256 internal constant STATUS_OFFSET = 248;
    uint256 internal constant DETAIL_OFFSET = 250;
    uint256 internal constant TIME_PRICED_OFFSET = 255;

    uint256 private constant MASK_40 = 0xFFFFFFFFFF;
    uint256 private constant MASK_STATUS = 3;
    uint256 private constant MASK_DETAIL = 31;

    /// @dev A whole record. `detail` is the denial reason of a denied record, the lease tag of a granted one.
    function pack(
        address customer_,
        uint40 leaseEnd_,
        TimeframeId timeframe_,
        InstanceType instanceType_,
        uint8 generation_,
        uint8 seat_,
        IMeteringTypes.InstanceStatus status_,
        uint8 detail_,
        bool timePriced_
    ) internal pure returns (InstanceSlot) {
        return InstanceSlot.wrap(
            uint256(uint160(customer_)) | (uint256(leaseEnd_) << LEASE_END_OFFSET)
                | (uint256(TimeframeId.unwrap(timeframe_)) << TIMEFRAME_OFFSET)
                | (uint256(InstanceType.unwrap(instanceType_)) << TYPE_OFFSET)
                | (uint256(generation_) << GENERATION_OFFSET) | (uint256(seat_) << SEAT_OFFSET)
                | (uint256(status_) << STATUS_OFFSET) | (uint256(detail_) << DETAIL_OFFSET)
                | (uint256(timePriced_ ? 1 : 0) << TIME_PRICED_OFFSET)
        );
    }

    function customer(InstanceSlot s) internal pure returns (address) {
        return address(uint160(InstanceSlot.unwrap(s)));
    }

    function leaseEnd(InstanceSlot s) internal pure returns (uint40) {
        return uint40(InstanceSlot.unwrap(s) >> LEASE_END_OFFSET);
    }

    function timeframe(InstanceSlot s) internal pure returns (TimeframeId) {
        return TimeframeId.wrap(uint16(InstanceSlot.unwrap(s) >> TIMEFRAME_OFFSET));
    }

    function instanceType(InstanceSlot s) internal pure returns (InstanceType) {
        return InstanceType.wrap(uint16(InstanceSlot.unwrap(s) >> TYPE_OFFSET));
    }

    function generation(InstanceSlot s) internal pure returns (uint8) {
        return uint8(InstanceSlot.unwrap(s) >> GENERATION_OFFSET);
    }

    function seat(InstanceSlot s) internal pure returns (uint8) {
        return uint8(InstanceSlot.unwrap(s) >> SEAT_OFFSET);
    }

    function status(InstanceSlot s) internal pure returns (IMeteringTypes.InstanceStatus) {
        return IMeteringTypes.InstanceStatus((InstanceSlot.unwrap(s) >> STATUS_OFFSET) & MASK_STATUS);
    }

    /// @dev Whether the record is an open instance (cheaper than comparing `status()`: no enum conversion).
    function isOpen(InstanceSlot s) internal pure returns (bool) {
        return (InstanceSlot.unwrap(s) >> STATUS_OFFSET) & MASK_STATUS == uint256(IMeteringTypes.InstanceStatus.Open);
    }

    /// @dev Why the request was denied; `None` for a granted one.
    function reason(InstanceSlot s) internal pure returns (IMeteringTypes.DenialReason) {
        if (status(s) != IMeteringTypes.InstanceStatus.Denied) return IMeteringTypes.DenialReason.None;
        return IMeteringTypes.DenialReason(detail(s));
    }

    /// @dev The detail field: a denial's reason, or a grant's lease tag.
    function detail(InstanceSlot s) internal pure returns (uint8) {
        return uint8((InstanceSlot.unwrap(s) >> DETAIL_OFFSET) & MASK_DETAIL);
    }

    /// @dev The lease tag of a request for `leaseSeconds`: 5 bits of a multiplicative hash (Knuth's), so lengths
    /// that differ in any bit, not only in the low ones, usually get different tags. The record has 5 bits to
    /// spare; an exact copy of the length would need a second word per grant (about +5,000 gas).
    function leaseTag(uint32 leaseSeconds) internal pure returns (uint8) {
        // Cannot overflow: a uint32 times a uint32 fits in 64 bits.
        unchecked {
            return uint8((uint256(leaseSeconds) * 2654435761 >> 27) & MASK_DETAIL);
        }
    }

    function timePriced(InstanceSlot s) internal pure returns (bool) {
        return (InstanceSlot.unwrap(s) >> TIME_PRICED_OFFSET) & 1 != 0;
    }

    /// @dev The same record with another lease end.
    function withLeaseEnd(InstanceSlot s, uint40 leaseEnd_) internal pure returns (InstanceSlot) {
        return InstanceSlot.wrap(
            (InstanceSlot.unwrap(s) & ~(MASK_40 << LEASE_END_OFFSET)) | (uint256(leaseEnd_) << LEASE_END_OFFSET)
        );
    }

    /// @dev The same record, closed (an open record's reason is `None`, so only the status changes).
    function closed(InstanceSlot s) internal pure returns (InstanceSlot) {
        return InstanceSlot.wrap(
            (InstanceSlot.unwrap(s) & ~(MASK_STATUS << STATUS_OFFSET))
                | (uint256(IMeteringTypes.InstanceStatus.Closed) << STATUS_OFFSET)
        );
    }
}
