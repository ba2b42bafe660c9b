// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Lease arithmetic.
library Leases {
    /// @dev The expiry of a lease of `leaseSeconds` from `now`, never past `timeframeEnd` (leases never cross a
    /// timeframe boundary) and never before `currentEnd` (a renewal does not shorten a lease).
    /// Requires `now < timeframeEnd`.
    function expiry(uint40 now_, uint32 leaseSeconds, uint40 timeframeEnd, uint40 currentEnd)
        internal
        pure
        returns (uint40 end)
    {
        // Cannot overflow: uint40 seconds last until the year 36812, and uint32 adds at most 136 years.
        uint256 wanted = uint256(now_) + leaseSeconds;
        end = wanted < timeframeEnd ? uint40(wanted) : timeframeEnd;
        if (end < currentEnd) end = currentEnd;
    }
}
