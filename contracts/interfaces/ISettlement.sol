// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {TimeframeId} from "../types/Ids.sol";

/// @title Prepaid escrow and on-chain settlement of the meter's invoices (issue 16).
/// @notice A customer deposits an ERC-20 token (the one the provider named for a currency) and becomes prepaid:
/// from then on the meter grants it only what its deposit covers (see {IPrepaidMeter}). After a timeframe ends,
/// anyone may settle (customer, timeframe): this contract computes the amount from the meter's counters and the
/// timeframe's frozen rules, with the canonical invoice's rounding (each line `billable * price / per`, rounded
/// down once to the minor unit; the total is the sum of the lines), pays it to the provider's payee and releases
/// the rest of what that timeframe committed. What no granted usage committed is withdrawable at any time.
///
/// Trust: the chain, the token and the frozen rules. The provider cannot choose an amount (it is computed here),
/// cannot settle early or twice, and cannot change a currency's token once named; the customer cannot withdraw what
/// a granted lease committed; a third party can only trigger what is due anyway.
interface ISettlement {
    /// @dev `currency` has no token: the provider has not named one.
    error SettlementUnknownCurrency(bytes8 currency);
    /// @dev A currency's token is named once and never changes (balances are held in it).
    error SettlementCurrencyConfigured(bytes8 currency, IERC20 token);
    /// @dev A token of address 0 or 0 units per minor unit.
    error SettlementInvalidToken(IERC20 token, uint256 unitsPerMinor);
    /// @dev The customer's escrow is in `escrowCurrency`; one escrow currency per customer.
    error SettlementCurrencyMismatch(address customer, bytes8 escrowCurrency, bytes8 currency);
    /// @dev An amount of 0 tokens.
    error SettlementZeroAmount();
    /// @dev The token moved `received` units for a transfer of `expected`: fee-on-transfer tokens are refused.
    error SettlementFeeOnTransfer(IERC20 token, uint256 expected, uint256 received);
    /// @dev `customer` is not a customer of the meter (never enrolled).
    error SettlementNotCustomer(address customer);
    /// @dev A customer becomes prepaid only with nothing committed in the active timeframe (`spent` micro-units
    /// are), so that everything its spending holds is covered by its deposit: deposit between timeframes, or
    /// before the first grant of one.
    error SettlementCommittedBeforePrepaid(address customer, uint256 spent);
    /// @dev `customer` has never deposited: it is postpaid.
    error SettlementNotPrepaid(address customer);
    /// @dev Only `available` token units are not committed by granted usage.
    error SettlementInsufficientFree(address customer, uint256 requested, uint256 available);
    /// @dev The timeframe has not ended yet (it ends at `end`).
    error SettlementTimeframeNotEnded(TimeframeId timeframe, uint40 end);
    /// @dev The timeframe ended before the customer became prepaid (at `since`): it is billed postpaid.
    error SettlementPostpaidTimeframe(address customer, TimeframeId timeframe, uint40 since);
    /// @dev (customer, timeframe) was settled already.
    error SettlementAlreadySettled(address customer, TimeframeId timeframe);
    /// @dev A batch larger than `max`.
    error SettlementBatchTooLarge(uint256 size, uint256 max);
    /// @dev The payee cannot be address 0.
    error SettlementInvalidPayee(address payee);

    /// @notice The provider named `token` for `currency`, `unitsPerMinor` token units per minor unit.
    event CurrencyTokenSet(bytes8 indexed currency, IERC20 indexed token, uint256 unitsPerMinor);
    /// @notice Payouts go to `payee` from now on.
    event PayeeSet(address indexed payee);
    /// @notice `customer` deposited `amount` token units; its escrow holds `balance` and its meter cap is `cap`.
    event Deposited(
        address indexed customer, bytes8 indexed currency, IERC20 token, uint256 amount, uint256 balance, uint64 cap
    );
    /// @notice `customer` withdrew `amount` token units; its escrow holds `balance` and its meter cap is `cap`.
    event Withdrawn(
        address indexed customer, bytes8 indexed currency, IERC20 token, uint256 amount, uint256 balance, uint64 cap
    );
    /// @notice (customer, timeframe) is settled: `amount` minor units of `currency` (the canonical final invoice's
    /// total), paid as `tokens` units of `token` to `payee`; `invoiceHash` is the anchored invoice's hash (0 if
    /// none was anchored yet); `released` micro-units of commitment were given back to the customer's cap. A
    /// timeframe in another currency than the customer's escrow is settled unpaid (`token` 0, `tokens` 0): see
    /// {settle}.
    event Settled(
        address indexed customer,
        TimeframeId indexed timeframe,
        bytes8 currency,
        uint256 amount,
        IERC20 token,
        uint256 tokens,
        address payee,
        bytes32 invoiceHash,
        uint256 released,
        address settledBy
    );

    /// @notice A customer's escrow. `committed` is what granted, unsettled usage holds (token units, rounded up to a
    /// whole minor unit), `available` what it may withdraw.
    struct EscrowView {
        bytes8 currency;
        IERC20 token;
        uint256 unitsPerMinor;
        uint256 balance;
        uint256 committed;
        uint256 available;
        uint40 since;
    }

    /// @notice Names the token of `currency` and its units per minor unit, once (owner only).
    function setCurrencyToken(bytes8 currency, IERC20 token, uint96 unitsPerMinor) external;

    /// @notice Sets where payouts go (owner only).
    function setPayee(address payee) external;

    /// @notice Deposits `amount` token units of `currency`'s token (approved beforehand). The first deposit makes
    /// the caller prepaid in `currency` (the meter refuses if it has committed something in the active timeframe);
    /// timeframes that end after it are settled from the escrow. Raises the caller's meter cap to what its balance
    /// covers. Reverts on a fee-on-transfer token.
    function deposit(bytes8 currency, uint256 amount) external;

    /// @notice Withdraws `amount` token units that no granted usage committed, and lowers the meter cap to match.
    function withdraw(uint256 amount) external;

    /// @notice Settles `customer` for `timeframe` (anyone may): pays the canonical final invoice's total to the
    /// payee and releases that timeframe's commitment. Returns the amount in minor units.
    function settle(address customer, TimeframeId timeframe) external returns (uint256 amount);

    /// @notice Settles every prepaid, unsettled customer of `customers` for `timeframe` (at most `MAX_BATCH`);
    /// skips the others. Returns how many were settled and the token units paid.
    function settleMany(address[] calldata customers, TimeframeId timeframe)
        external
        returns (uint256 settled, uint256 tokens);

    /// @notice The amount (minor units) `customer` owes for `timeframe` by the counters now, and the commitment
    /// (micro-units) settling it releases. Final once the timeframe has ended.
    function amountDue(address customer, TimeframeId timeframe)
        external
        view
        returns (uint256 amount, uint256 commitment);

    /// @notice Whether (customer, timeframe) is settled, and for how many minor units.
    function settlement(address customer, TimeframeId timeframe) external view returns (bool settled, uint256 amount);

    /// @notice The escrow of `customer`.
    function escrow(address customer) external view returns (EscrowView memory);

    /// @notice The token of `currency` and its units per minor unit (0 when none).
    function currencyToken(bytes8 currency) external view returns (IERC20 token, uint256 unitsPerMinor);

    /// @notice Token units this contract accounts for in `token`: deposits - payouts - withdrawals.
    function held(IERC20 token) external view returns (uint256);

    /// @notice Where payouts go.
    function payee() external view returns (address);

    /// @notice The largest batch {settleMany} takes.
    function MAX_BATCH() external view returns (uint256);
}
