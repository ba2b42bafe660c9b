// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IMeteringTypes} from "../interfaces/IMeteringTypes.sol";

/// @title The activation decision, as a pure function of the limits and the current counters.
/// @dev Kept apart from storage so the rule can be read, and tested, on its own.
library ActivationPolicy {
    /// @dev Decides a request of a customer that is enrolled, under rules that exist.
    /// A limit of 0 means "no limit". Concurrency is checked before the activation quota, so a request that breaks
    /// both reports `ConcurrencyLimitReached`.
    /// @param active Open instances of the customer for this (timeframe, type), before this request.
    /// @param activations Activations of the customer for this (timeframe, type), before this request.
    /// @return reason `None` when granted; otherwise why a hard limit denied it.
    /// @return overage True when granted beyond a soft limit.
    function decide(
        uint32 maxConcurrent,
        uint32 maxActivations,
        IMeteringTypes.LimitMode mode,
        uint32 active,
        uint32 activations
    ) internal pure returns (IMeteringTypes.DenialReason reason, bool overage) {
        if (maxConcurrent != 0 && active >= maxConcurrent) {
            reason = IMeteringTypes.DenialReason.ConcurrencyLimitReached;
        } else if (maxActivations != 0 && activations >= maxActivations) {
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
