// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title What usage commits, in micro-units (millionths of the currency's minor unit).
/// @dev The contract keeps, per customer and timeframe, the sum of these amounts to enforce spending caps. Time is
/// charged as `ceil(billableSeconds * pricePerTimeUnit / timeUnitSeconds)` of the *total* leased seconds of a
/// (customer, timeframe, type), so the running sum telescopes to exactly that ceiling: never below the exact
/// price, hence never below what an invoice (which rounds down) bills.
library Pricing {
    /// @dev The cost of `leasedSeconds` of running time with `includedSeconds` free.
    function timeCost(uint64 leasedSeconds, uint32 includedSeconds, uint48 pricePerTimeUnit, uint24 timeUnitSeconds)
        internal
        pure
        returns (uint256)
    {
        if (leasedSeconds <= includedSeconds) return 0;
        // Cannot overflow: a uint64 times a uint48 fits in 112 bits; timeUnitSeconds >= 1 (checked by setRules).
        unchecked {
            uint256 amount = uint256(leasedSeconds - includedSeconds) * pricePerTimeUnit;
            return (amount + timeUnitSeconds - 1) / timeUnitSeconds;
        }
    }

    /// @dev What changing a type's leased seconds from `before` to `afterwards` commits (or, negative, gives back).
    function timeDelta(
        uint64 before,
        uint64 afterwards,
        uint32 includedSeconds,
        uint48 pricePerTimeUnit,
        uint24 timeUnitSeconds
    ) internal pure returns (int256) {
        return int256(timeCost(afterwards, includedSeconds, pricePerTimeUnit, timeUnitSeconds))
            - int256(timeCost(before, includedSeconds, pricePerTimeUnit, timeUnitSeconds));
    }
}
