// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Lease arithmetic.
library Leases {
    /// @dev The longest lease rules allow: their `maxLeaseSeconds`, or the largest uint32 when it is 0 (no bound).
    function bound(uint32 maxLeaseSeconds) internal pure returns (uint32) {
        return maxLeaseSeconds == 0 ? type(uint32).max : maxLeaseSeconds;
    }

    /// @dev The expiry of a lease of `leaseSeconds` from `now`, at most `bound` seconds long (see {bound}), never
    /// past `timeframeEnd` (leases never cross a timeframe boundary) and never before `currentEnd` (a renewal does
    /// not shorten a lease). Requires `now < timeframeEnd`.
    function expiry(uint40 now_, uint32 leaseSeconds, uint32 bound_, uint40 timeframeEnd, uint40 currentEnd)
        internal
        pure
        returns (uint40 end)
    {
        if (leaseSeconds > bound_) leaseSeconds = bound_;
        uint256 wanted;
        // Cannot overflow: a uint40 plus a uint32 fits in a uint256 (and in a uint41).
        unchecked {
            wanted = uint256(now_) + leaseSeconds;
        }
        end = wanted < timeframeEnd ? uint40(wanted) : timeframeEnd;
        if (end < currentEnd) end = currentEnd;
    }
}
