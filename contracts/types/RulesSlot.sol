// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IMeteringTypes} from "../interfaces/IMeteringTypes.sol";

/// @dev The rules of one (timeframe, instance type) that a decision reads, packed into one storage slot. Only
/// `pricePerContinuation` lives apart (in {TermsSlot}): continuations are rare, and the slot has no room for it.
///
/// Layout, from the lowest bit:
///
///     bits      field                 meaning
///     0-23      timeUnitSeconds       at least 1 once set, so 0 means "no rules set"
///     24-71     pricePerTimeUnit      micro-units
///     72-103    includedSeconds
///     104-151   pricePerActivation    micro-units
///     152-183   includedActivations
///     184-215   maxActivations        0 = no limit
///     216-222   maxConcurrent         0 = no limit, at most MAX_CONCURRENT (99, so 7 bits hold it)
///     223       mode                  IMeteringTypes.LimitMode (Soft = 1)
///     224-255   maxLeaseSeconds       0 = no limit but the timeframe's end
type RulesSlot is uint256;

using RulesSlotLibrary for RulesSlot global;

/// @title Packing and unpacking of {RulesSlot}.
library RulesSlotLibrary {
    uint256 internal constant PRICE_PER_TIME_UNIT_OFFSET = 24;
    uint256 internal constant INCLUDED_SECONDS_OFFSET = 72;
    uint256 internal constant PRICE_PER_ACTIVATION_OFFSET = 104;
    uint256 internal constant INCLUDED_ACTIVATIONS_OFFSET = 152;
    uint256 internal constant MAX_ACTIVATIONS_OFFSET = 184;
    uint256 internal constant MAX_CONCURRENT_OFFSET = 216;
    uint256 internal constant MODE_OFFSET = 223;
    uint256 internal constant MAX_LEASE_OFFSET = 224;

    uint256 private constant MASK_24 = 0xFFFFFF;
    uint256 private constant MASK_7 = 0x7F;

    /// @dev The slot of `r` (whose `timeUnitSeconds` must be at least 1 and `maxConcurrent` at most 127).
    function pack(IMeteringTypes.Rules calldata r) internal pure returns (RulesSlot) {
        return RulesSlot.wrap(
            uint256(r.timeUnitSeconds) | (uint256(r.pricePerTimeUnit) << PRICE_PER_TIME_UNIT_OFFSET)
                | (uint256(r.includedSeconds) << INCLUDED_SECONDS_OFFSET)
                | (uint256(r.pricePerActivation) << PRICE_PER_ACTIVATION_OFFSET)
                | (uint256(r.includedActivations) << INCLUDED_ACTIVATIONS_OFFSET)
                | (uint256(r.maxActivations) << MAX_ACTIVATIONS_OFFSET)
                | (uint256(r.maxConcurrent) << MAX_CONCURRENT_OFFSET) | (uint256(r.mode) << MODE_OFFSET)
                | (uint256(r.maxLeaseSeconds) << MAX_LEASE_OFFSET)
        );
    }

    /// @dev The rules as `setRules` took them, given the continuation price kept apart.
    function unpack(RulesSlot s, uint48 pricePerContinuation) internal pure returns (IMeteringTypes.Rules memory) {
        return IMeteringTypes.Rules({
            pricePerActivation: pricePerActivation(s),
            pricePerContinuation: pricePerContinuation,
            pricePerTimeUnit: pricePerTimeUnit(s),
            timeUnitSeconds: timeUnitSeconds(s),
            includedActivations: includedActivations(s),
            includedSeconds: includedSeconds(s),
            maxConcurrent: maxConcurrent(s),
            maxActivations: maxActivations(s),
            mode: mode(s),
            maxLeaseSeconds: maxLeaseSeconds(s)
        });
    }

    /// @dev Whether rules were set (`setRules` refuses a `timeUnitSeconds` of 0).
    function configured(RulesSlot s) internal pure returns (bool) {
        return RulesSlot.unwrap(s) & MASK_24 != 0;
    }

    function timeUnitSeconds(RulesSlot s) internal pure returns (uint24) {
        return uint24(RulesSlot.unwrap(s));
    }

    function pricePerTimeUnit(RulesSlot s) internal pure returns (uint48) {
        return uint48(RulesSlot.unwrap(s) >> PRICE_PER_TIME_UNIT_OFFSET);
    }

    function includedSeconds(RulesSlot s) internal pure returns (uint32) {
        return uint32(RulesSlot.unwrap(s) >> INCLUDED_SECONDS_OFFSET);
    }

    function pricePerActivation(RulesSlot s) internal pure returns (uint48) {
        return uint48(RulesSlot.unwrap(s) >> PRICE_PER_ACTIVATION_OFFSET);
    }

    function includedActivations(RulesSlot s) internal pure returns (uint32) {
        return uint32(RulesSlot.unwrap(s) >> INCLUDED_ACTIVATIONS_OFFSET);
    }

    function maxActivations(RulesSlot s) internal pure returns (uint32) {
        return uint32(RulesSlot.unwrap(s) >> MAX_ACTIVATIONS_OFFSET);
    }

    function maxConcurrent(RulesSlot s) internal pure returns (uint16) {
        return uint16((RulesSlot.unwrap(s) >> MAX_CONCURRENT_OFFSET) & MASK_7);
    }

    function mode(RulesSlot s) internal pure returns (IMeteringTypes.LimitMode) {
        return IMeteringTypes.LimitMode((RulesSlot.unwrap(s) >> MODE_OFFSET) & 1);
    }

    /// @dev Whether a soft limit applies (cheaper than comparing `mode()`: no enum conversion).
    function soft(RulesSlot s) internal pure returns (bool) {
        return (RulesSlot.unwrap(s) >> MODE_OFFSET) & 1 != 0;
    }

    function maxLeaseSeconds(RulesSlot s) internal pure returns (uint32) {
        return uint32(RulesSlot.unwrap(s) >> MAX_LEASE_OFFSET);
    }
}
