// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IMeteringTypes} from "../interfaces/IMeteringTypes.sol";

/// @title The limit decision, as a pure function of the rules and what the counters say.
/// @dev Kept apart from storage so the rule can be read, and tested, on its own.
library ActivationPolicy {
    /// @dev Decides a request of an enrolled, accepted customer under rules that exist.
    /// Concurrency is checked before the activation quota, so a request that breaks both reports
    /// `ConcurrencyLimitReached`. A continuation is not an activation: only concurrency applies to it.
    /// @param seatsFull True when the type has a concurrency limit and every seat holds a lease that has not ended.
    /// @param activations Activations of the customer for this (timeframe, type), before this request.
    /// @return reason `None` when granted; otherwise why a hard limit denied it.
    /// @return overage True when granted beyond a soft limit.
    function decide(
        bool seatsFull,
        uint32 maxActivations,
        IMeteringTypes.LimitMode mode,
        uint32 activations,
        bool continuation
    ) internal pure returns (IMeteringTypes.DenialReason reason, bool overage) {
        if (seatsFull) {
            reason = IMeteringTypes.DenialReason.ConcurrencyLimitReached;
        } else if (!continuation && maxActivations != 0 && activations >= maxActivations) {
            reason = IMeteringTypes.DenialReason.ActivationQuotaReached;
        } else {
            return (IMeteringTypes.DenialReason.None, false);
        }
        if (mode == IMeteringTypes.LimitMode.Soft) {
            return (IMeteringTypes.DenialReason.None, true);
        }
        return (reason, false);
    }
}
