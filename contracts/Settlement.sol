// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {TimeframeId, InstanceType} from "./types/Ids.sol";
import {IMeter} from "./interfaces/IMeter.sol";
import {IMeteringTypes} from "./interfaces/IMeteringTypes.sol";
import {IPrepaidMeter} from "./interfaces/IPrepaidMeter.sol";
import {ISettlement} from "./interfaces/ISettlement.sol";

/// @title Prepaid escrow and on-chain settlement beside the meter. See {ISettlement} and {IPrepaidMeter}.
/// @dev Money flow, per customer, in token units of its escrow currency:
///
///     deposit  : customer -> this      balance += amount        meter cap = floor(balance / unitsPerMinor)
///     grant    : (meter)               spent += cost            denied (DepositExhausted) beyond cap
///     withdraw : this -> customer      balance -= amount        only while balance - amount >= committed
///     settle   : this -> payee         balance -= invoice       spent -= what the timeframe committed
///
/// where `committed = ceil(spent / 1e6) * unitsPerMinor` and `spent` (micro-units, in the meter) is what every
/// unsettled timeframe committed. The meter grants only while `spent <= cap * 1e6`, so
/// `invoice total <= floor(spent / 1e6) <= cap <= balance / unitsPerMinor`: every granted request is covered.
/// A timeframe's invoice rounds each line down (the customer's favour) while its commitment rounds time up (the
/// provider's guarantee), so settling pays at most what was reserved, and what is left is released.
///
/// Rounding is always in the escrow's favour when it reserves (commitments round up to a whole minor unit), and
/// in the customer's favour when it charges (lines round down), as the canonical invoice does.
///
/// Tokens: SafeERC20 (tokens that return no bool work); a deposit whose balance delta differs from the amount
/// reverts (fee-on-transfer tokens are refused). Rebasing tokens are not supported: the provider must not name
/// one, because balances here are fixed numbers; a positive rebase or a stray transfer is surplus that no one can
/// take (`held` counts only what was deposited), and a negative one would make the last withdrawals fail.
/// Reentrancy: every state-changing function is `nonReentrant`, and token calls come after the state is written.
contract Settlement is ISettlement, Ownable2Step, ReentrancyGuard {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    /// @inheritdoc ISettlement
    uint256 public constant MAX_BATCH = 256;
    uint256 private constant PRICE_SCALE = 1e6;

    /// @dev One word: the token and how many of its units make one minor unit of the currency.
    struct CurrencyToken {
        IERC20 token;
        uint96 unitsPerMinor;
    }

    /// @dev One word: token units held for the customer, its escrow currency, and when it became prepaid.
    struct Escrow {
        uint128 balance;
        bytes8 currency;
        uint40 since;
    }

    /// @dev One word: whether settled, and the amount in minor units.
    struct SettlementRecord {
        bool settled;
        uint128 amount;
    }

    IPrepaidMeter private immutable _meter;
    address private _payee;
    mapping(bytes8 currency => CurrencyToken) private _tokens;
    mapping(address customer => Escrow) private _escrows;
    mapping(address customer => mapping(TimeframeId => SettlementRecord)) private _settlements;
    mapping(IERC20 token => uint256) private _held;

    /// @param meter_ The meter whose counters are settled; it must grant this contract its `SETTLEMENT_ROLE`.
    /// @param provider The owner: names tokens and the payee.
    /// @param payee_ Where payouts go.
    constructor(IPrepaidMeter meter_, address provider, address payee_) Ownable(provider) {
        _meter = meter_;
        _setPayee(payee_);
    }

    // ------------------------------------------------------------------ provider

    /// @inheritdoc ISettlement
    function setCurrencyToken(bytes8 currency, IERC20 token, uint96 unitsPerMinor) external onlyOwner {
        CurrencyToken storage ct = _tokens[currency];
        if (address(ct.token) != address(0)) revert SettlementCurrencyConfigured(currency, ct.token);
        if (address(token) == address(0) || unitsPerMinor == 0) revert SettlementInvalidToken(token, unitsPerMinor);
        _tokens[currency] = CurrencyToken(token, unitsPerMinor);
        emit CurrencyTokenSet(currency, token, unitsPerMinor);
    }

    /// @inheritdoc ISettlement
    function setPayee(address payee_) external onlyOwner {
        _setPayee(payee_);
    }

    // ------------------------------------------------------------------ customers

    /// @inheritdoc ISettlement
    function deposit(bytes8 currency, uint256 amount) external nonReentrant {
        if (amount == 0) revert SettlementZeroAmount();
        CurrencyToken memory ct = _tokens[currency];
        if (address(ct.token) == address(0)) revert SettlementUnknownCurrency(currency);
        Escrow memory e = _escrows[msg.sender];
        uint96 release;
        if (e.currency == bytes8(0)) {
            release = _optIn(msg.sender);
            e.currency = currency;
            e.since = uint40(block.timestamp);
        } else if (e.currency != currency) {
            revert SettlementCurrencyMismatch(msg.sender, e.currency, currency);
        }
        // The balance delta is what arrived: a fee-on-transfer token delivers less, and is refused.
        uint256 before = ct.token.balanceOf(address(this));
        ct.token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = ct.token.balanceOf(address(this)) - before;
        if (received != amount) revert SettlementFeeOnTransfer(ct.token, amount, received);
        e.balance = (uint256(e.balance) + amount).toUint128();
        _escrows[msg.sender] = e;
        _held[ct.token] += amount;
        uint64 cap = _cap(e.balance, ct.unitsPerMinor);
        // The first call makes the customer prepaid.
        _meter.setPrepaid(msg.sender, release, cap, e.currency);
        emit Deposited(msg.sender, currency, ct.token, amount, e.balance, cap);
    }

    /// @inheritdoc ISettlement
    function withdraw(uint256 amount) external nonReentrant {
        if (amount == 0) revert SettlementZeroAmount();
        Escrow memory e = _escrows[msg.sender];
        if (e.currency == bytes8(0)) revert SettlementNotPrepaid(msg.sender);
        CurrencyToken memory ct = _tokens[e.currency];
        uint256 available = _available(msg.sender, e.balance, ct.unitsPerMinor);
        if (amount > available) revert SettlementInsufficientFree(msg.sender, amount, available);
        // Cannot underflow: amount <= available <= balance.
        unchecked {
            e.balance -= uint128(amount);
        }
        _escrows[msg.sender] = e;
        _held[ct.token] -= amount;
        uint64 cap = _cap(e.balance, ct.unitsPerMinor);
        _meter.setPrepaid(msg.sender, 0, cap, e.currency);
        ct.token.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, e.currency, ct.token, amount, e.balance, cap);
    }

    // ------------------------------------------------------------------ anyone

    /// @inheritdoc ISettlement
    /// @dev Reverts unless the customer is prepaid, the timeframe has ended after the customer became prepaid, and
    /// it is not settled yet. A timeframe's counters cannot change once it has ended: grants and renewals need a
    /// live lease in the active timeframe, a stop after a lease's end changes nothing, and a continuation bills the
    /// next timeframe. So the amount is final at the end, and settling needs no delay.
    function settle(address customer, TimeframeId timeframe_) external nonReentrant returns (uint256 amount) {
        IMeteringTypes.Timeframe memory t = IMeter(address(_meter)).timeframe(timeframe_);
        if (block.timestamp < t.end) revert SettlementTimeframeNotEnded(timeframe_, t.end);
        Escrow memory e = _escrows[customer];
        if (e.currency == bytes8(0)) revert SettlementNotPrepaid(customer);
        if (t.end <= e.since) revert SettlementPostpaidTimeframe(customer, timeframe_, e.since);
        if (_settlements[customer][timeframe_].settled) revert SettlementAlreadySettled(customer, timeframe_);
        uint256 types = _meter.instanceTypes(timeframe_);
        CurrencyToken memory ct = _tokens[t.currency];
        uint256 tokens;
        (amount, tokens) = _settle(customer, timeframe_, t.currency, e, ct, types);
        if (tokens != 0) {
            _held[ct.token] -= tokens;
            ct.token.safeTransfer(_payee, tokens);
        }
    }

    /// @inheritdoc ISettlement
    function settleMany(address[] calldata customers, TimeframeId timeframe_)
        external
        nonReentrant
        returns (uint256 settled, uint256 tokens)
    {
        uint256 n = customers.length;
        if (n > MAX_BATCH) revert SettlementBatchTooLarge(n, MAX_BATCH);
        IMeteringTypes.Timeframe memory t = IMeter(address(_meter)).timeframe(timeframe_);
        if (block.timestamp < t.end) revert SettlementTimeframeNotEnded(timeframe_, t.end);
        uint256 types = _meter.instanceTypes(timeframe_);
        CurrencyToken memory ct = _tokens[t.currency];
        for (uint256 i; i < n; ++i) {
            address customer = customers[i];
            Escrow memory e = _escrows[customer];
            if (e.currency == bytes8(0) || t.end <= e.since || _settlements[customer][timeframe_].settled) continue;
            (, uint256 paid) = _settle(customer, timeframe_, t.currency, e, ct, types);
            tokens += paid;
            ++settled;
        }
        if (tokens != 0) {
            _held[ct.token] -= tokens;
            ct.token.safeTransfer(_payee, tokens);
        }
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc ISettlement
    function amountDue(address customer, TimeframeId timeframe_)
        external
        view
        returns (uint256 amount, uint256 commitment)
    {
        return _due(customer, timeframe_, _meter.instanceTypes(timeframe_));
    }

    /// @inheritdoc ISettlement
    function settlement(address customer, TimeframeId timeframe_) external view returns (bool, uint256) {
        SettlementRecord memory s = _settlements[customer][timeframe_];
        return (s.settled, s.amount);
    }

    /// @inheritdoc ISettlement
    function escrow(address customer) external view returns (EscrowView memory v) {
        Escrow memory e = _escrows[customer];
        CurrencyToken memory ct = _tokens[e.currency];
        v.currency = e.currency;
        v.token = ct.token;
        v.unitsPerMinor = ct.unitsPerMinor;
        v.balance = e.balance;
        v.since = e.since;
        if (e.currency != bytes8(0)) {
            v.available = _available(customer, e.balance, ct.unitsPerMinor);
            v.committed = e.balance - v.available;
        }
    }

    /// @inheritdoc ISettlement
    function currencyToken(bytes8 currency) external view returns (IERC20, uint256) {
        CurrencyToken memory ct = _tokens[currency];
        return (ct.token, ct.unitsPerMinor);
    }

    /// @inheritdoc ISettlement
    function held(IERC20 token) external view returns (uint256) {
        return _held[token];
    }

    /// @inheritdoc ISettlement
    function payee() external view returns (address) {
        return _payee;
    }

    /// @notice The meter this contract settles.
    function meter() external view returns (IPrepaidMeter) {
        return _meter;
    }

    // ------------------------------------------------------------------ internals

    /// @dev Settles one customer (checks done by the caller): records it, debits the escrow, releases the
    /// commitment in the meter and emits {Settled}. Returns the amount (minor units) and the token units to pay.
    /// A timeframe in another currency than the escrow's (the provider changed currency under a prepaid customer)
    /// is released unpaid: the escrow holds no token of that currency, and the invoice is then postpaid.
    function _settle(
        address customer,
        TimeframeId timeframe_,
        bytes8 currency,
        Escrow memory e,
        CurrencyToken memory ct,
        uint256 types
    ) private returns (uint256 amount, uint256 tokens) {
        uint256 commitment;
        (amount, commitment) = _due(customer, timeframe_, types);
        _settlements[customer][timeframe_] = SettlementRecord(true, amount.toUint128());
        IERC20 token;
        if (currency == e.currency) {
            token = ct.token;
            tokens = amount * ct.unitsPerMinor;
            // Checked: the meter granted only what the balance covers, so this cannot underflow; if it did, the
            // whole settlement reverts rather than paying from another customer's deposit.
            e.balance -= tokens.toUint128();
            _escrows[customer].balance = e.balance;
        }
        uint64 cap = _cap(e.balance, _tokens[e.currency].unitsPerMinor);
        _meter.setPrepaid(customer, commitment.toUint96(), cap, e.currency);
        bytes32 invoiceHash = IMeter(address(_meter)).invoiceAnchor(customer, timeframe_).invoiceHash;
        emit Settled(
            customer, timeframe_, currency, amount, token, tokens, _payee, invoiceHash, commitment, msg.sender
        );
    }

    /// @dev The canonical invoice's total (minor units) of (customer, timeframe) by the meter's counters, and what
    /// the meter committed for it (micro-units). Per type and charge: `billable * price`, divided by
    /// `per * PRICE_SCALE` and rounded down (the invoice's line), and, for the commitment, the same micro-units with
    /// time rounded up once per type (as {Pricing-timeCost} commits it). The loop is bounded by `MAX_TYPES`.
    function _due(address customer, TimeframeId timeframe_, uint256 types)
        private
        view
        returns (uint256 amount, uint256 commitment)
    {
        IMeter m = IMeter(address(_meter));
        uint256 n = types & 0xFFFF;
        for (uint256 i = 1; i <= n; ++i) {
            InstanceType kind = InstanceType.wrap(uint16(types >> (16 * i)));
            (IMeteringTypes.Rules memory r,) = m.rules(timeframe_, kind);
            IMeteringTypes.Usage memory u = m.usage(customer, timeframe_, kind);
            (uint32 activations, uint64 leased) = (u.activations, u.leasedSeconds);
            uint32 continuations = _meter.pricedContinuations(
                (uint256(uint160(customer)) << 32) | (uint256(TimeframeId.unwrap(timeframe_)) << 16)
                    | InstanceType.unwrap(kind)
            );
            uint256 a = activations > r.includedActivations
                ? uint256(activations - r.includedActivations) * r.pricePerActivation
                : 0;
            uint256 c = uint256(continuations) * r.pricePerContinuation;
            uint256 s = leased > r.includedSeconds ? uint256(leased - r.includedSeconds) * r.pricePerTimeUnit : 0;
            amount += a / PRICE_SCALE + c / PRICE_SCALE + s / (uint256(r.timeUnitSeconds) * PRICE_SCALE);
            commitment += a + c + Math.ceilDiv(s, r.timeUnitSeconds);
        }
    }

    /// @dev Checks that `customer` may become prepaid: it exists in the meter, and has committed nothing in the
    /// active timeframe (so everything its spending will hold is covered by its deposit). Returns what an ended,
    /// postpaid timeframe left in its spending, to clear: that stays postpaid.
    function _optIn(address customer) private view returns (uint96 release) {
        IMeter m = IMeter(address(_meter));
        IMeteringTypes.CustomerAccount memory a = m.customerAccount(customer);
        if (a.status == IMeteringTypes.CustomerStatus.None) revert SettlementNotCustomer(customer);
        TimeframeId active = m.activeTimeframe();
        uint16 now_ = TimeframeId.unwrap(active);
        if (a.spent != 0 && now_ != 0 && TimeframeId.unwrap(a.spentTimeframe) == now_) {
            revert SettlementCommittedBeforePrepaid(customer, a.spent);
        }
        return a.spent;
    }

    /// @dev Token units of `customer`'s balance that no granted, unsettled usage committed.
    function _available(address customer, uint256 balance, uint256 unitsPerMinor) private view returns (uint256) {
        uint256 spent_ = IMeter(address(_meter)).customerAccount(customer).spent;
        uint256 committed = Math.ceilDiv(spent_, PRICE_SCALE) * unitsPerMinor;
        return balance > committed ? balance - committed : 0;
    }

    /// @dev The meter cap (minor units) a balance covers, rounded down.
    function _cap(uint256 balance, uint256 unitsPerMinor) private pure returns (uint64) {
        uint256 cap = balance / unitsPerMinor;
        return cap > type(uint64).max ? type(uint64).max : uint64(cap);
    }

    function _setPayee(address payee_) private {
        if (payee_ == address(0)) revert SettlementInvalidPayee(payee_);
        _payee = payee_;
        emit PayeeSet(payee_);
    }
}
