// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IMeteringTypes} from "../../contracts/interfaces/IMeteringTypes.sol";

/// @title Billing rules drawn from a seed, for the invariant suite's timeframes.
library RandomRules {
    /// @dev Rules drawn from a seed: prices down to fractions of a cent, small limits that are reached, both modes.
    function draw(uint256 seed) internal pure returns (IMeteringTypes.Rules memory r) {
        uint256 x = uint256(keccak256(abi.encode(seed)));
        r.pricePerActivation = uint48((x % 4 == 0) ? 0 : (x >> 8) % 50_000_000); // up to 50 cents
        r.pricePerContinuation = uint48((x >> 40) % 3 == 0 ? (x >> 48) % 5_000_000 : 0);
        r.timeUnitSeconds = uint24([uint256(1), 60, 3600, 7][(x >> 104) % 4]);
        // Up to 2 EUR an hour, whatever the unit, so caps of a few EUR are reached by some leases, not all.
        r.pricePerTimeUnit = uint48((x >> 72) % 200_000_000 * r.timeUnitSeconds / 3600);
        r.includedActivations = uint32((x >> 112) % 3);
        r.includedSeconds = uint32((x >> 120) % 3 == 0 ? (x >> 128) % 2 hours : 0);
        r.maxConcurrent = uint16((x >> 144) % 6); // 0 = no limit; 4 and 5 use a seat page
        r.maxActivations = uint32((x >> 152) % 3 == 0 ? 1 + (x >> 160) % 12 : 0);
        r.mode = (x >> 176) % 3 == 0 ? IMeteringTypes.LimitMode.Soft : IMeteringTypes.LimitMode.Hard;
        // Leases bounded one time in three (10 minutes to 4 hours).
        r.maxLeaseSeconds = uint32((x >> 184) % 3 == 0 ? 10 minutes + (x >> 192) % 4 hours : 0);
        // Extreme prices one time in 16: the largest a rule can hold, per second (the spending bound must hold).
        if ((x >> 220) % 16 == 0) {
            r.pricePerActivation = type(uint48).max;
            r.pricePerTimeUnit = type(uint48).max;
            r.timeUnitSeconds = 1;
        }
    }
}
