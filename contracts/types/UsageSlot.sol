// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @dev The counters of one (customer, timeframe, instance type) and its first three concurrency seats, packed into
/// one storage slot: a grant, a renewal or a stop reads it once and writes it once, and a type with a concurrency
/// limit of up to three finds its free seat without another read.
///
/// Layout, from the lowest bit:
///
///     bits      field                meaning
///     0-31      activations          grants (not continuations) so far
///     32-63     overageActivations   of which granted beyond a soft limit
///     64-127    leasedSeconds        closed intervals plus every open lease up to its current expiry
///     128-167   seat 0               lease end held by seat 0 (free once it has come; 0 = never used)
///     168-207   seat 1
///     208-247   seat 2
///     248-255   (always 0)
///
/// Seats 3 and up live in pages of six lease ends, one slot per page, outside this slot.
type UsageSlot is uint256;

using UsageSlotLibrary for UsageSlot global;

/// @title Packing and unpacking of {UsageSlot}.
library UsageSlotLibrary {
    uint256 internal constant OVERAGE_OFFSET = 32;
    uint256 internal constant LEASED_SECONDS_OFFSET = 64;
    uint256 internal constant SEAT_0_OFFSET = 128;
    uint256 internal constant SEAT_BITS = 40;
    /// @dev How many seats the slot holds.
    uint256 internal constant INLINE_SEATS = 3;

    uint256 private constant MASK_40 = 0xFFFFFFFFFF;
    uint256 private constant MASK_64 = 0xFFFFFFFFFFFFFFFF;

    /// @dev A whole slot.
    function pack(
        uint32 activations_,
        uint32 overageActivations_,
        uint64 leasedSeconds_,
        uint40 seat0,
        uint40 seat1,
        uint40 seat2
    ) internal pure returns (UsageSlot) {
        return UsageSlot.wrap(
            uint256(activations_) | (uint256(overageActivations_) << OVERAGE_OFFSET)
                | (uint256(leasedSeconds_) << LEASED_SECONDS_OFFSET) | (uint256(seat0) << SEAT_0_OFFSET)
                | (uint256(seat1) << (SEAT_0_OFFSET + SEAT_BITS)) | (uint256(seat2) << (SEAT_0_OFFSET + 2 * SEAT_BITS))
        );
    }

    function activations(UsageSlot u) internal pure returns (uint32) {
        return uint32(UsageSlot.unwrap(u));
    }

    function overageActivations(UsageSlot u) internal pure returns (uint32) {
        return uint32(UsageSlot.unwrap(u) >> OVERAGE_OFFSET);
    }

    function leasedSeconds(UsageSlot u) internal pure returns (uint64) {
        return uint64(UsageSlot.unwrap(u) >> LEASED_SECONDS_OFFSET);
    }

    /// @dev The lease end held by seat `k`; requires `k < INLINE_SEATS`.
    function seatEnd(UsageSlot u, uint256 k) internal pure returns (uint40) {
        return uint40(UsageSlot.unwrap(u) >> _seatOffset(k));
    }

    /// @dev The same slot with seat `k` (below `INLINE_SEATS`) holding `leaseEnd`.
    function withSeatEnd(UsageSlot u, uint256 k, uint40 leaseEnd) internal pure returns (UsageSlot) {
        uint256 offset = _seatOffset(k);
        return UsageSlot.wrap((UsageSlot.unwrap(u) & ~(MASK_40 << offset)) | (uint256(leaseEnd) << offset));
    }

    /// @dev The same slot with other leased seconds.
    function withLeasedSeconds(UsageSlot u, uint64 leasedSeconds_) internal pure returns (UsageSlot) {
        return UsageSlot.wrap(
            (UsageSlot.unwrap(u) & ~(MASK_64 << LEASED_SECONDS_OFFSET))
                | (uint256(leasedSeconds_) << LEASED_SECONDS_OFFSET)
        );
    }

    /// @dev The same slot with other activation counters.
    function withActivations(UsageSlot u, uint32 activations_, uint32 overageActivations_)
        internal
        pure
        returns (UsageSlot)
    {
        return UsageSlot.wrap(
            (UsageSlot.unwrap(u) & ~MASK_64) | uint256(activations_)
                | (uint256(overageActivations_) << OVERAGE_OFFSET)
        );
    }

    /// @dev Where seat `k` starts; requires `k < INLINE_SEATS`.
    function _seatOffset(uint256 k) private pure returns (uint256) {
        // Cannot overflow: k < INLINE_SEATS, so the offset is below 256.
        unchecked {
            return SEAT_0_OFFSET + k * SEAT_BITS;
        }
    }
}
