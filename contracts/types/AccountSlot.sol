// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TimeframeId} from "./Ids.sol";
import {IMeteringTypes} from "../interfaces/IMeteringTypes.sol";

/// @dev A customer's account ({IMeteringTypes-CustomerAccount}) packed into one storage slot: every decision for the
/// customer reads its status, agent restriction, cap and spending at once, and a grant writes its spending back.
///
/// Layout, from the lowest bit:
///
///     bits      field            meaning
///     0-7       status           IMeteringTypes.CustomerStatus
///     8-15      restricted       1 when only approved agents may bill the customer
///     16-79     spendingCap      minor units per timeframe, 0 = no cap
///     80-95     spentTimeframe   the timeframe `spent` belongs to
///     96-191    spent            micro-units committed in `spentTimeframe` (prepaid: in every unsettled timeframe)
///     192-199   prepaid          1 once the settlement contract holds the customer's deposit and sets its cap
///     200-255   (always 0)
type AccountSlot is uint256;

using AccountSlotLibrary for AccountSlot global;

/// @title Packing and unpacking of {AccountSlot}.
library AccountSlotLibrary {
    uint256 internal constant RESTRICTED_OFFSET = 8;
    uint256 internal constant SPENDING_CAP_OFFSET = 16;
    uint256 internal constant SPENT_TIMEFRAME_OFFSET = 80;
    uint256 internal constant SPENT_OFFSET = 96;
    uint256 internal constant PREPAID_OFFSET = 192;

    uint256 private constant MASK_8 = 0xFF;
    uint256 private constant MASK_64 = 0xFFFFFFFFFFFFFFFF;
    /// @dev `spentTimeframe` and `spent` together: bits 80-191.
    uint256 private constant MASK_SPENDING = (uint256(1) << 112) - 1;

    /// @dev A whole account.
    function pack(IMeteringTypes.CustomerAccount memory a) internal pure returns (AccountSlot) {
        return AccountSlot.wrap(
            uint256(a.status) | (uint256(a.restricted ? 1 : 0) << RESTRICTED_OFFSET)
                | (uint256(a.spendingCap) << SPENDING_CAP_OFFSET)
                | (uint256(TimeframeId.unwrap(a.spentTimeframe)) << SPENT_TIMEFRAME_OFFSET)
                | (uint256(a.spent) << SPENT_OFFSET)
        );
    }

    /// @dev The whole account, as the views return it.
    function unpack(AccountSlot s) internal pure returns (IMeteringTypes.CustomerAccount memory) {
        return IMeteringTypes.CustomerAccount(status(s), restricted(s), spendingCap(s), spentTimeframe(s), spent(s));
    }

    function status(AccountSlot s) internal pure returns (IMeteringTypes.CustomerStatus) {
        return IMeteringTypes.CustomerStatus(AccountSlot.unwrap(s) & MASK_8);
    }

    /// @dev Whether the customer is enrolled (cheaper than comparing `status()`: no enum conversion).
    function isEnrolled(AccountSlot s) internal pure returns (bool) {
        return AccountSlot.unwrap(s) & MASK_8 == uint256(IMeteringTypes.CustomerStatus.Enrolled);
    }

    function restricted(AccountSlot s) internal pure returns (bool) {
        return (AccountSlot.unwrap(s) >> RESTRICTED_OFFSET) & MASK_8 != 0;
    }

    function spendingCap(AccountSlot s) internal pure returns (uint64) {
        return uint64(AccountSlot.unwrap(s) >> SPENDING_CAP_OFFSET);
    }

    function spentTimeframe(AccountSlot s) internal pure returns (TimeframeId) {
        return TimeframeId.wrap(uint16(AccountSlot.unwrap(s) >> SPENT_TIMEFRAME_OFFSET));
    }

    function spent(AccountSlot s) internal pure returns (uint96) {
        return uint96(AccountSlot.unwrap(s) >> SPENT_OFFSET);
    }

    function withStatus(AccountSlot s, IMeteringTypes.CustomerStatus status_) internal pure returns (AccountSlot) {
        return AccountSlot.wrap((AccountSlot.unwrap(s) & ~MASK_8) | uint256(status_));
    }

    function withRestricted(AccountSlot s, bool restricted_) internal pure returns (AccountSlot) {
        return AccountSlot.wrap(
            (AccountSlot.unwrap(s) & ~(MASK_8 << RESTRICTED_OFFSET))
                | (uint256(restricted_ ? 1 : 0) << RESTRICTED_OFFSET)
        );
    }

    function withSpendingCap(AccountSlot s, uint64 cap) internal pure returns (AccountSlot) {
        return AccountSlot.wrap(
            (AccountSlot.unwrap(s) & ~(MASK_64 << SPENDING_CAP_OFFSET)) | (uint256(cap) << SPENDING_CAP_OFFSET)
        );
    }

    /// @dev The same account having committed `spent_` in `timeframe_`.
    function withSpent(AccountSlot s, TimeframeId timeframe_, uint96 spent_) internal pure returns (AccountSlot) {
        return AccountSlot.wrap(
            (AccountSlot.unwrap(s) & ~(MASK_SPENDING << SPENT_TIMEFRAME_OFFSET))
                | (uint256(TimeframeId.unwrap(timeframe_)) << SPENT_TIMEFRAME_OFFSET)
                | (uint256(spent_) << SPENT_OFFSET)
        );
    }

    // ---------------------------------------------------------------- settlement (issue 16)

    /// @dev Whether the customer prepays through the settlement contract: its `spent` then sums every unsettled
    /// timeframe, and its cap (set by the settlement contract alone) is what its deposit covers, 0 included.
    function prepaid(AccountSlot s) internal pure returns (bool) {
        return (AccountSlot.unwrap(s) >> PREPAID_OFFSET) & MASK_8 != 0;
    }

    /// @dev The same account, prepaid.
    function withPrepaid(AccountSlot s) internal pure returns (AccountSlot) {
        return AccountSlot.wrap(AccountSlot.unwrap(s) | (uint256(1) << PREPAID_OFFSET));
    }
}
