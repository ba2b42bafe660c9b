// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @dev What a renewal, a continuation and `expireLeases` read about a (timeframe, instance type), packed into one
/// storage slot written by `setRules`: the continuation price, the lease bound, and the timeframe's end (copied
/// from the timeframe, which never changes once created). A renewal reads this word instead of
/// the timeframe's, so bounding its lease costs no extra read.
///
/// Layout, from the lowest bit:
///
///     bits      field                 meaning
///     0-39      timeframeEnd
///     40-71     leaseBound            the rules' `maxLeaseSeconds`, or the largest uint32 when it is 0 (no
///                                     bound): {Leases-bound}, stored ready so a renewal compares once
///     72-119    pricePerContinuation  micro-units
///     120-255   (always 0)
type TermsSlot is uint256;

using TermsSlotLibrary for TermsSlot global;

/// @title Packing and unpacking of {TermsSlot}.
library TermsSlotLibrary {
    uint256 internal constant LEASE_BOUND_OFFSET = 40;
    uint256 internal constant PRICE_OFFSET = 72;

    function pack(uint48 pricePerContinuation_, uint32 leaseBound_, uint40 timeframeEnd_)
        internal
        pure
        returns (TermsSlot)
    {
        return TermsSlot.wrap(
            uint256(timeframeEnd_) | (uint256(leaseBound_) << LEASE_BOUND_OFFSET)
                | (uint256(pricePerContinuation_) << PRICE_OFFSET)
        );
    }

    function pricePerContinuation(TermsSlot s) internal pure returns (uint48) {
        return uint48(TermsSlot.unwrap(s) >> PRICE_OFFSET);
    }

    function leaseBound(TermsSlot s) internal pure returns (uint32) {
        return uint32(TermsSlot.unwrap(s) >> LEASE_BOUND_OFFSET);
    }

    function timeframeEnd(TermsSlot s) internal pure returns (uint40) {
        return uint40(TermsSlot.unwrap(s));
    }
}
