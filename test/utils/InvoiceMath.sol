// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IMeteringTypes} from "../../contracts/interfaces/IMeteringTypes.sol";

/// @title The billing arithmetic of one (customer, timeframe, type), written independently of the contract.
/// @dev As the invoice computes it (see the README): billable activations and seconds are what exceeds the
/// included quotas; each line is an exact amount in micro-units (1e-6 of the minor unit) and is rounded once, down
/// to the minor unit. The spending cap counts the same amounts, with the time line rounded up instead.
library InvoiceMath {
    uint256 internal constant PRICE_SCALE = 1e6;

    struct Quantities {
        uint256 activations;
        uint256 continuations;
        uint256 leasedSeconds;
    }

    function billableActivations(Quantities memory q, IMeteringTypes.Rules memory r) internal pure returns (uint256) {
        return q.activations > r.includedActivations ? q.activations - r.includedActivations : 0;
    }

    function billableSeconds(Quantities memory q, IMeteringTypes.Rules memory r) internal pure returns (uint256) {
        return q.leasedSeconds > r.includedSeconds ? q.leasedSeconds - r.includedSeconds : 0;
    }

    /// @dev What the spending cap commits for these quantities, in micro-units (time rounded up).
    function committedMicro(Quantities memory q, IMeteringTypes.Rules memory r) internal pure returns (uint256) {
        uint256 time = billableSeconds(q, r) * r.pricePerTimeUnit;
        return billableActivations(q, r) * r.pricePerActivation + q.continuations * r.pricePerContinuation
            + (time + r.timeUnitSeconds - 1) / r.timeUnitSeconds;
    }

    /// @dev The invoice's total in minor units: three lines, each rounded down once.
    function invoiceMinor(Quantities memory q, IMeteringTypes.Rules memory r) internal pure returns (uint256) {
        return billableActivations(q, r) * r.pricePerActivation / PRICE_SCALE
            + q.continuations * r.pricePerContinuation / PRICE_SCALE
            + billableSeconds(q, r) * r.pricePerTimeUnit / (uint256(r.timeUnitSeconds) * PRICE_SCALE);
    }
}
