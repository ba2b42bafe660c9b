// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @dev What a renewal, a continuation and `expireLeases` read about a (timeframe, instance type), packed into one
/// storage slot written by `setRules`: the continuation price, the lease bound, and the timeframe's end and
/// currency (copied from the timeframe, which never changes once created). A renewal reads this word instead of
/// the timeframe's, so bounding its lease costs no extra read.
///
/// Layout, from the lowest bit:
///
///     bits      field                 meaning
///     0-47      pricePerContinuation  micro-units
///     48-79     maxLeaseSeconds       0 = no limit but the timeframe's end (also in {RulesSlot}, for grants)
///     80-119    timeframeEnd
///     120-183   currency              the timeframe's ISO 4217 code as bytes8
///     184-255   (always 0)
type TermsSlot is uint256;

using TermsSlotLibrary for TermsSlot global;

/// @title Packing and unpacking of {TermsSlot}.
library TermsSlotLibrary {
    uint256 internal constant MAX_LEASE_OFFSET = 48;
    uint256 internal constant END_OFFSET = 80;
    uint256 internal constant CURRENCY_OFFSET = 120;

    function pack(uint48 pricePerContinuation_, uint32 maxLeaseSeconds_, uint40 timeframeEnd_, bytes8 currency_)
        internal
        pure
        returns (TermsSlot)
    {
        return TermsSlot.wrap(
            uint256(pricePerContinuation_) | (uint256(maxLeaseSeconds_) << MAX_LEASE_OFFSET)
                | (uint256(timeframeEnd_) << END_OFFSET) | (uint256(uint64(currency_)) << CURRENCY_OFFSET)
        );
    }

    function pricePerContinuation(TermsSlot s) internal pure returns (uint48) {
        return uint48(TermsSlot.unwrap(s));
    }

    function maxLeaseSeconds(TermsSlot s) internal pure returns (uint32) {
        return uint32(TermsSlot.unwrap(s) >> MAX_LEASE_OFFSET);
    }

    function timeframeEnd(TermsSlot s) internal pure returns (uint40) {
        return uint40(TermsSlot.unwrap(s) >> END_OFFSET);
    }

    function currency(TermsSlot s) internal pure returns (bytes8) {
        return bytes8(uint64(TermsSlot.unwrap(s) >> CURRENCY_OFFSET));
    }
}
