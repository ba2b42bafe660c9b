// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TimeframeId, InstanceType} from "../types/Ids.sol";
import {IMeteringTypes} from "./IMeteringTypes.sol";

/// @title The hooks the settlement contract needs from the meter (issue 16), kept apart from {IMeter}.
/// @notice A prepaid customer's deposit lives in the settlement contract, which alone sets the customer's spending
/// cap in the meter: the cap is what the deposit covers, in minor units. For a prepaid customer the meter:
/// - keeps `spent` across timeframes (it is not reset when a new timeframe starts): it is the sum of what every
///   unsettled timeframe committed, in micro-units, and the settlement contract lowers it when it settles one;
/// - denies a grant, renewal or continuation that would take `spent` beyond `cap * PRICE_SCALE`, with
///   `DenialReason.DepositExhausted` (a cap of 0 then means "nothing", not "no cap");
/// - refuses `setSpendingCap` from the customer ({MeteringPrepaidCap}).
/// So a grant costs no extra call: the meter checks the cap it always checked. Postpaid customers keep everything
/// as before (their own cap, per timeframe, 0 = none).
interface IPrepaidMeter is IMeteringTypes {
    /// @dev A prepaid customer's cap is set by the settlement contract only; withdraw from it instead.
    error MeteringPrepaidCap(address customer);

    /// @dev A timeframe has at most `max` instance types, so that settling it reads a bounded list.
    error MeteringTooManyTypes(TimeframeId timeframe, uint256 max);

    /// @notice Makes `customer` prepaid (for good), gives back `release` micro-units of its committed spending
    /// (what a settled timeframe committed, or on the first call what an ended postpaid timeframe left there) and
    /// sets its cap to `cap` minor units of `currency` (the escrow's: a timeframe in another currency is then
    /// denied `CapCurrencyMismatch`, as for any cap).
    /// @dev Only the holder of `keccak256("SETTLEMENT_ROLE")`, which checks the rest through the views (the customer
    /// exists; on the first call, nothing committed in the active timeframe). Reverts on underflow if `release`
    /// exceeds what is committed. The settlement contract's events carry the cap.
    function setPrepaid(address customer, uint96 release, uint64 cap, bytes8 currency) external;

    /// @notice The instance types that have rules in `timeframe`, packed: bits 0-15 count them (at most 15), and
    /// bits `16 * i` to `16 * i + 15` hold the `i`-th (from 1), in the order their rules were first set.
    function instanceTypes(TimeframeId timeframe) external view returns (uint256);

    /// @notice How many continuations into a timeframe that had a price were granted, per usage key
    /// `customer << 32 | timeframe << 16 | type` (a free continuation changes no amount and is not counted). With
    /// {IMeter-usage} (activations, leased seconds: once the timeframe has ended, the seconds billed), the
    /// counters an invoice prices.
    function pricedContinuations(uint256 usageKey) external view returns (uint32);
}
