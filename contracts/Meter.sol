// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {TimeframeId, InstanceType} from "./types/Ids.sol";
import {AccountSlot} from "./types/AccountSlot.sol";
import {Cursor, CursorLibrary} from "./types/Cursor.sol";
import {InstanceSlot, InstanceSlotLibrary} from "./types/InstanceSlot.sol";
import {RulesSlot, RulesSlotLibrary} from "./types/RulesSlot.sol";
import {UsageSlot, UsageSlotLibrary} from "./types/UsageSlot.sol";
import {TermsSlot, TermsSlotLibrary} from "./types/TermsSlot.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IMeter} from "./interfaces/IMeter.sol";
import {IPrepaidMeter} from "./interfaces/IPrepaidMeter.sol";
import {ActivationPolicy} from "./libraries/ActivationPolicy.sol";
import {Leases} from "./libraries/Leases.sol";
import {Pricing} from "./libraries/Pricing.sol";

/// @title Usage metering contract. See {IMeter} for the behaviour of every function.
/// @dev Storage is private and laid out for the hot path: every slot a decision touches is one packed word (the
/// types in `types/` document each layout), read once and written once per transaction. A steady-state grant reads
/// the agent's role, the cursor, the rules, the customer's account (and its approval of the agent when it
/// restricted itself) and updates the usage slot (which holds the first seats), the account and the agent's seat
/// record: no new slot. Seats stay non-zero once used, so reusing one costs an update, not a new slot.
///
/// Slots (one word each; mapping keys are packed into one word, so each costs one hash, and the cells below keep a
/// storage reference so a slot read and then written is hashed once):
/// - `_instances[agent << 56 | seat]`: {InstanceSlot}, the record of the agent's seat.
/// - `_usage[customer << 32 | timeframe << 16 | type]`: {UsageSlot}, counters and seats 0-2. Seats 3 to
///   `MAX_CONCURRENT - 1` live in `_seatPages[usageKey << 8 | page]`, six lease ends per page.
/// - `_customers[customer]`: {AccountSlot}. `_approved[customer][agent]`: the customer's approvals.
/// - `_rules[timeframe << 16 | type]`: {RulesSlot}, everything a decision reads; `_terms` under the same key holds
///   {TermsSlot}: what a renewal, a continuation and `expireLeases` read (continuation price, lease bound, the
///   timeframe's end).
/// - `_cursor`: {Cursor}, the timeframe count, how far the walk over ended timeframes got, and the cached timeframe.
///
/// A renewal or a stop of an instance whose rules do not price running time (the record's `timePriced` bit) reads
/// neither the rules nor, for a stop, the account: there is nothing to charge or give back.
///
/// No function loops over users' data: batches are bounded by `MAX_BATCH`, the seat search by `MAX_CONCURRENT`
/// (a rules setting), and the walk over ended timeframes passes each timeframe once in the contract's life.
contract Meter is IMeter, IPrepaidMeter, AccessControlDefaultAdminRules {
    /// @inheritdoc IMeter
    uint256 public constant MAX_BATCH = 256;
    /// @inheritdoc IMeter
    /// @dev 15 minutes: a keeper renews a boundary lease within seconds of the boundary; the grace bounds what a late
    /// continuation bills without a lease (at most this, and only on a seat nobody else held meanwhile).
    uint40 public constant CONTINUATION_GRACE_SECONDS = 15 minutes;
    /// @inheritdoc IMeter
    uint16 public constant MAX_CONCURRENT = 99; // 3 seats in the usage slot + 16 pages of 6
    /// @inheritdoc IMeter
    uint256 public constant PRICE_SCALE = 1e6;
    /// @inheritdoc IMeter
    bytes32 public constant RULES_MANAGER_ROLE = keccak256("RULES_MANAGER_ROLE");
    /// @inheritdoc IMeter
    bytes32 public constant AGENT_ROLE = keccak256("AGENT_ROLE");

    /// @dev The `seat` of an instance that holds none (no concurrency limit, or granted as soft overage).
    uint8 private constant NO_SEAT = type(uint8).max;
    uint256 private constant INLINE_SEATS = UsageSlotLibrary.INLINE_SEATS;
    uint256 private constant PAGE_SEATS = 6;
    /// @dev A customer's stance on an agent, in `_approved`.
    uint8 private constant APPROVED = 1;
    uint8 private constant REVOKED = 2;

    /// @dev The cap a new customer starts with (one word).
    struct DefaultCap {
        uint64 cap;
        bytes8 currency;
    }

    /// @dev Mapping entries that hold one packed word. A `storage` reference to an entry hashes its key once for both
    /// the read and the write of a transaction (as Uniswap v4 keeps `Slot0` in `Pool.State`).
    struct SeatCell {
        InstanceSlot record;
    }

    struct UsageCell {
        UsageSlot usage;
    }

    struct AccountCell {
        AccountSlot account;
    }

    Cursor private _cursor;
    mapping(TimeframeId => Timeframe) private _timeframes;
    mapping(uint256 rulesKey => RulesSlot) private _rules;
    mapping(uint256 rulesKey => TermsSlot) private _terms;
    mapping(address customer => AccountCell) private _customers;
    /// @dev 0: never approved nor revoked, `APPROVED`, `REVOKED`.
    mapping(address customer => mapping(address agent => uint8)) private _approved;
    mapping(uint256 usageKey => UsageCell) private _usage;
    mapping(uint256 pageKey => uint40[6]) private _seatPages;
    mapping(uint256 seatKey => SeatCell) private _instances;
    mapping(address => mapping(TimeframeId => InvoiceAnchor)) private _invoices;
    // Settlement (issue 16): see the section "settlement hooks" below.
    mapping(TimeframeId => uint256) private _types; // {IPrepaidMeter-instanceTypes}: a count and 15 types
    /// @inheritdoc IPrepaidMeter
    mapping(uint256 usageKey => uint32) public pricedContinuations;
    DefaultCap private _defaultCap;

    /// @param admin Holder of `DEFAULT_ADMIN_ROLE`, which grants the other roles.
    /// @param adminTransferDelay Seconds a new admin must wait before accepting a two-step admin transfer.
    constructor(address admin, uint48 adminTransferDelay) AccessControlDefaultAdminRules(adminTransferDelay, admin) {}

    // ------------------------------------------------------------------ provider

    /// @inheritdoc IMeter
    function createTimeframe(uint40 start, uint40 end, bytes8 currency)
        external
        onlyRole(RULES_MANAGER_ROLE)
        returns (TimeframeId id)
    {
        if (start >= end) revert MeteringInvalidTimeframe(start, end);
        if (start <= block.timestamp) revert MeteringTimeframeStartsInPast(start, block.timestamp);
        if (!_validCurrency(currency)) revert MeteringInvalidCurrency(currency);
        Cursor cursor = _cursor;
        uint16 count = cursor.count();
        if (count == type(uint16).max) revert MeteringTimeframeIdsExhausted();
        if (count != 0) {
            uint40 previousEnd = _timeframes[TimeframeId.wrap(count)].end;
            if (start < previousEnd) revert MeteringTimeframeOverlap(start, previousEnd);
        }
        // Cannot overflow: checked against type(uint16).max above.
        unchecked {
            count += 1;
        }
        _cursor = cursor.withCount(count);
        id = TimeframeId.wrap(count);
        _timeframes[id] = Timeframe(start, end, currency);
        emit TimeframeCreated(id, start, end, currency);
    }

    /// @inheritdoc IMeter
    function setRules(TimeframeId timeframe_, InstanceType instanceType, Rules calldata r)
        external
        onlyRole(RULES_MANAGER_ROLE)
        returns (bytes32 hash)
    {
        Timeframe storage t = _existingTimeframe(timeframe_);
        uint40 start = t.start;
        if (block.timestamp >= start) revert MeteringRulesFrozen(timeframe_, start);
        if (r.timeUnitSeconds == 0 || r.maxConcurrent > MAX_CONCURRENT) {
            revert MeteringInvalidRules(r.timeUnitSeconds, r.maxConcurrent, MAX_CONCURRENT);
        }
        uint256 key = _rulesKey(timeframe_, instanceType);
        if (!_rules[key].configured()) _addType(timeframe_, instanceType);
        _rules[key] = RulesSlotLibrary.pack(r);
        _terms[key] = TermsSlotLibrary.pack(r.pricePerContinuation, Leases.bound(r.maxLeaseSeconds), t.end);
        hash = keccak256(abi.encode(timeframe_, instanceType, r));
        emit RulesSet(timeframe_, instanceType, hash, r);
    }

    /// @inheritdoc IMeter
    function enrollCustomer(address customer) external onlyRole(RULES_MANAGER_ROLE) {
        if (customer == address(0)) revert MeteringInvalidCustomer(customer);
        AccountCell storage cell = _customers[customer];
        AccountSlot account = cell.account;
        if (account.isEnrolled()) return;
        bool isNew = account.status() == CustomerStatus.None;
        account = account.withStatus(CustomerStatus.Enrolled);
        DefaultCap memory d = _defaultCap;
        if (isNew && d.cap != 0) account = account.withSpendingCap(d.cap, d.currency);
        cell.account = account;
        emit CustomerEnrolled(customer);
        if (isNew && d.cap != 0) emit SpendingCapSet(customer, d.cap, d.currency);
    }

    /// @inheritdoc IMeter
    function setDefaultCustomerCap(uint64 cap, bytes8 currency) external onlyRole(RULES_MANAGER_ROLE) {
        if (!_validCurrency(currency)) revert MeteringInvalidCurrency(currency);
        _defaultCap = DefaultCap(cap, currency);
        emit DefaultCustomerCapSet(cap, currency);
    }

    /// @inheritdoc IMeter
    function suspendCustomer(address customer) external onlyRole(RULES_MANAGER_ROLE) {
        AccountCell storage cell = _customers[customer];
        AccountSlot account = cell.account;
        CustomerStatus status = account.status();
        if (status == CustomerStatus.None) revert MeteringInvalidCustomer(customer);
        if (status == CustomerStatus.Suspended) return;
        cell.account = account.withStatus(CustomerStatus.Suspended);
        emit CustomerSuspended(customer);
    }

    /// @inheritdoc IMeter
    function closeInstance(bytes32 instanceId) external onlyRole(RULES_MANAGER_ROLE) {
        (address agent, uint56 seatIndex, uint8 generation) = _split(instanceId);
        SeatCell storage seat_ = _instances[_seatKey(agent, seatIndex)];
        InstanceSlot inst = _openInstance(instanceId, seat_, generation);
        if (block.timestamp >= inst.leaseEnd()) {
            _closeExpired(instanceId, seat_, inst);
            return;
        }
        uint40 now_ = _stop(seat_, inst);
        emit InstanceClosedByProvider(
            instanceId, inst.customer(), inst.instanceType(), inst.timeframe(), now_, msg.sender
        );
    }

    /// @inheritdoc IMeter
    function anchorInvoice(address customer, TimeframeId timeframe_, bytes32 invoiceHash, uint256 total)
        external
        onlyRole(RULES_MANAGER_ROLE)
    {
        if (invoiceHash == bytes32(0)) revert MeteringZeroInvoiceHash();
        if (_customers[customer].account.status() == CustomerStatus.None) revert MeteringInvalidCustomer(customer);
        uint40 end = _existingTimeframe(timeframe_).end;
        if (block.timestamp < end) revert MeteringTimeframeNotEnded(timeframe_, end);
        InvoiceAnchor storage anchor = _invoices[customer][timeframe_];
        if (anchor.invoiceHash != bytes32(0)) {
            revert MeteringInvoiceAlreadyAnchored(customer, timeframe_, anchor.invoiceHash);
        }
        _invoices[customer][timeframe_] = InvoiceAnchor(invoiceHash, total, 0);
        emit InvoiceAnchored(customer, timeframe_, invoiceHash, total);
    }

    /// @inheritdoc IMeter
    function correctInvoice(address customer, TimeframeId timeframe_, bytes32 invoiceHash, uint256 total)
        external
        onlyRole(RULES_MANAGER_ROLE)
    {
        if (invoiceHash == bytes32(0)) revert MeteringZeroInvoiceHash();
        InvoiceAnchor storage anchor = _invoices[customer][timeframe_];
        bytes32 previous = anchor.invoiceHash;
        if (previous == bytes32(0)) revert MeteringInvoiceNotAnchored(customer, timeframe_);
        uint32 revision = anchor.revision + 1;
        _invoices[customer][timeframe_] = InvoiceAnchor(invoiceHash, total, revision);
        emit InvoiceCorrected(customer, timeframe_, invoiceHash, previous, total, revision);
    }

    // ------------------------------------------------------------------ customers

    /// @inheritdoc IMeter
    function approveAgent(address agent) external {
        (AccountCell storage cell, AccountSlot account) = _callerAccount();
        _approved[msg.sender][agent] = APPROVED;
        emit AgentApproved(msg.sender, agent);
        if (!account.restricted()) {
            cell.account = account.withRestricted(true);
            emit AgentRestrictionSet(msg.sender, true);
        }
    }

    /// @inheritdoc IMeter
    function revokeAgent(address agent) external {
        (AccountCell storage cell, AccountSlot account) = _callerAccount();
        _approved[msg.sender][agent] = REVOKED;
        // Decisions for this customer now read its approvals even when it is not restricted.
        if (!account.revokedAny()) cell.account = account.withRevokedAny();
        emit AgentRevoked(msg.sender, agent);
    }

    /// @inheritdoc IMeter
    function setAgentRestriction(bool restricted) external {
        (AccountCell storage cell, AccountSlot account) = _callerAccount();
        cell.account = account.withRestricted(restricted);
        emit AgentRestrictionSet(msg.sender, restricted);
    }

    /// @inheritdoc IMeter
    function setSpendingCap(uint64 cap, bytes8 currency) external {
        (AccountCell storage cell, AccountSlot account) = _callerAccount();
        if (account.prepaid()) revert MeteringPrepaidCap(msg.sender);
        if (!_validCurrency(currency)) revert MeteringInvalidCurrency(currency);
        if (cap != 0) {
            // The timeframe the cap bounds now: the active one, or the next to start (none when all have ended).
            (Cursor c,) = _findActive();
            if (block.timestamp < c.end() && c.currency() != currency) {
                revert MeteringCapCurrencyMismatch(currency, c.currency());
            }
        }
        cell.account = account.withSpendingCap(cap, currency);
        emit SpendingCapSet(msg.sender, cap, currency);
    }

    /// @inheritdoc IMeter
    function stopInstance(bytes32 instanceId) external {
        (address agent, uint56 seatIndex, uint8 generation) = _split(instanceId);
        SeatCell storage seat_ = _instances[_seatKey(agent, seatIndex)];
        InstanceSlot inst = _openInstance(instanceId, seat_, generation);
        if (inst.customer() != msg.sender) revert MeteringNotInstanceCustomer(instanceId, msg.sender);
        if (block.timestamp >= inst.leaseEnd()) {
            _closeExpired(instanceId, seat_, inst);
            return;
        }
        uint40 now_ = _stop(seat_, inst);
        emit InstanceStoppedByCustomer(instanceId, msg.sender, inst.instanceType(), inst.timeframe(), now_);
    }

    // ------------------------------------------------------------------ agents

    /// @inheritdoc IMeter
    function requestActivation(address customer, InstanceType instanceType, uint64 requestId, uint32 leaseSeconds)
        external
        onlyRole(AGENT_ROLE)
        returns (Decision memory)
    {
        (TimeframeId active, Cursor c) = _activeTimeframe();
        (bool granted, DenialReason reason) = _activate(customer, instanceType, requestId, leaseSeconds, active, c);
        return Decision(granted, reason);
    }

    /// @inheritdoc IMeter
    function requestActivations(ActivationRequest[] calldata requests)
        external
        onlyRole(AGENT_ROLE)
        returns (Decision[] memory decisions)
    {
        uint256 n = requests.length;
        if (n > MAX_BATCH) revert MeteringBatchTooLarge(n, MAX_BATCH);
        (TimeframeId active, Cursor c) = _activeTimeframe();
        // Each entry is allocated (zeroed) here and filled in place below.
        decisions = new Decision[](n);
        for (uint256 i; i < n; ++i) {
            ActivationRequest calldata q = requests[i];
            Decision memory d = decisions[i];
            (d.granted, d.reason) =
                _activate(q.customer, q.instanceType, q.requestId, q.leaseSeconds, active, c);
        }
    }

    /// @inheritdoc IMeter
    function renewLease(bytes32 instanceId, uint32 leaseSeconds)
        external
        onlyRole(AGENT_ROLE)
        returns (Decision memory decision, uint40 leaseEnd)
    {
        (address agent, uint56 seatIndex, uint8 generation) = _split(instanceId);
        if (msg.sender != agent) revert MeteringNotInstanceHolder(instanceId, msg.sender);
        if (leaseSeconds == 0) revert MeteringZeroLease(instanceId);
        SeatCell storage seat_ = _instances[_seatKey(agent, seatIndex)];
        InstanceSlot inst = _openInstance(instanceId, seat_, generation);
        // Filled in place: the return variable is already allocated, a second struct would cost memory.
        if (block.timestamp < inst.leaseEnd()) {
            (decision.granted, decision.reason, leaseEnd) = _renew(instanceId, seat_, inst, leaseSeconds);
        } else {
            (decision.granted, decision.reason, leaseEnd) = _continue(instanceId, seat_, inst, leaseSeconds);
        }
    }

    /// @inheritdoc IMeter
    function deactivate(bytes32 instanceId) external {
        (address agent, uint56 seatIndex, uint8 generation) = _split(instanceId);
        if (msg.sender != agent) revert MeteringNotInstanceHolder(instanceId, msg.sender);
        SeatCell storage seat_ = _instances[_seatKey(agent, seatIndex)];
        InstanceSlot inst = _openInstance(instanceId, seat_, generation);
        if (block.timestamp >= inst.leaseEnd()) {
            _closeExpired(instanceId, seat_, inst);
            return;
        }
        uint40 now_ = _stop(seat_, inst);
        emit InstanceDeactivated(instanceId, inst.customer(), inst.instanceType(), inst.timeframe(), now_);
    }

    /// @inheritdoc IMeter
    function expireLeases(bytes32[] calldata instanceIds) external returns (uint256 closed) {
        uint256 n = instanceIds.length;
        if (n > MAX_BATCH) revert MeteringBatchTooLarge(n, MAX_BATCH);
        for (uint256 i; i < n; ++i) {
            bytes32 id = instanceIds[i];
            (address agent, uint56 seatIndex, uint8 generation) = _split(id);
            SeatCell storage seat_ = _instances[_seatKey(agent, seatIndex)];
            InstanceSlot inst = seat_.record;
            if (
                inst.generation() == generation && inst.isOpen() && block.timestamp >= inst.leaseEnd()
                    && _wellFormed(id) && !_continuable(inst)
            ) {
                _closeExpired(id, seat_, inst);
                ++closed;
            }
        }
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IMeter
    function timeframeCount() external view returns (uint256) {
        return _cursor.count();
    }

    /// @inheritdoc IMeter
    function timeframe(TimeframeId id) external view returns (Timeframe memory) {
        return _existingTimeframe(id);
    }

    /// @inheritdoc IMeter
    function activeTimeframe() external view returns (TimeframeId id) {
        (Cursor c,) = _findActive();
        if (block.timestamp >= c.start() && block.timestamp < c.end()) id = c.id();
    }

    /// @inheritdoc IMeter
    function rules(TimeframeId timeframe_, InstanceType instanceType)
        public
        view
        returns (Rules memory r, bool configured)
    {
        uint256 key = _rulesKey(timeframe_, instanceType);
        RulesSlot s = _rules[key];
        return (s.unpack(_terms[key].pricePerContinuation()), s.configured());
    }

    /// @inheritdoc IMeter
    function rulesHash(TimeframeId timeframe_, InstanceType instanceType) external view returns (bytes32) {
        (Rules memory r, bool configured) = rules(timeframe_, instanceType);
        return configured ? keccak256(abi.encode(timeframe_, instanceType, r)) : bytes32(0);
    }

    /// @inheritdoc IMeter
    function customerStatus(address customer) external view returns (CustomerStatus) {
        return _customers[customer].account.status();
    }

    /// @inheritdoc IMeter
    function customerAccount(address customer) external view returns (CustomerAccount memory) {
        return _customers[customer].account.unpack();
    }

    /// @inheritdoc IMeter
    function spent(address customer, TimeframeId timeframe_) external view returns (uint256) {
        AccountSlot account = _customers[customer].account;
        return account.spentTimeframe() == timeframe_ ? account.spent() : 0;
    }

    /// @inheritdoc IMeter
    function agentApproved(address customer, address agent) external view returns (bool) {
        return _approved[customer][agent] == APPROVED;
    }

    /// @inheritdoc IMeter
    function agentRevoked(address customer, address agent) external view returns (bool) {
        return _approved[customer][agent] == REVOKED;
    }

    /// @inheritdoc IMeter
    function defaultCustomerCap() external view returns (uint64 cap, bytes8 currency) {
        DefaultCap memory d = _defaultCap;
        return (d.cap, d.currency);
    }

    /// @inheritdoc IMeter
    function mayBill(address customer, address agent) external view returns (bool) {
        AccountSlot account = _customers[customer].account;
        return account.isEnrolled() && hasRole(AGENT_ROLE, agent)
            && !_agentBarred(account, customer, agent);
    }

    /// @inheritdoc IMeter
    function usage(address customer, TimeframeId timeframe_, InstanceType instanceType)
        external
        view
        returns (Usage memory u)
    {
        uint256 usageKey = _usageKey(customer, timeframe_, instanceType);
        UsageSlot s = _usage[usageKey].usage;
        u.activations = s.activations();
        u.overageActivations = s.overageActivations();
        u.leasedSeconds = s.leasedSeconds();
        uint16 seats = _rules[_rulesKey(timeframe_, instanceType)].maxConcurrent();
        for (uint256 k; k < seats; ++k) {
            if (_seatEnd(s, usageKey, k) > block.timestamp) ++u.running;
        }
    }

    /// @inheritdoc IMeter
    function instance(bytes32 instanceId) external view returns (Instance memory) {
        (address agent, uint56 seatIndex, uint8 generation) = _split(instanceId);
        InstanceSlot s = _instances[_seatKey(agent, seatIndex)].record;
        if (s.generation() != generation || generation == 0 || !_wellFormed(instanceId)) {
            return Instance(
                address(0), 0, TimeframeId.wrap(0), InstanceType.wrap(0), InstanceStatus.Unknown, DenialReason.None, 0
            );
        }
        return Instance(s.customer(), s.leaseEnd(), s.timeframe(), s.instanceType(), s.status(), s.reason(), s.seat());
    }

    /// @inheritdoc IMeter
    function seat(address agent, uint56 seatIndex)
        external
        view
        returns (uint8 generation, InstanceStatus status, uint40 leaseEnd)
    {
        InstanceSlot s = _instances[_seatKey(agent, seatIndex)].record;
        return (s.generation(), s.status(), s.leaseEnd());
    }

    /// @inheritdoc IMeter
    function instanceIdOf(address agent, uint64 requestId) public pure returns (bytes32) {
        return bytes32((uint256(uint160(agent)) << 96) | requestId);
    }

    /// @inheritdoc IMeter
    function invoiceAnchor(address customer, TimeframeId timeframe_) external view returns (InvoiceAnchor memory) {
        return _invoices[customer][timeframe_];
    }

    // ------------------------------------------------------------------ settlement hooks (issue 16)
    // Everything the settlement contract needs, in one place: see {IPrepaidMeter}. Elsewhere, only `setRules`
    // (records the type), `setSpendingCap` (refused when prepaid), `_decide` (a prepaid account's spending spans
    // timeframes, priced continuations are counted) and `_overCap`/`_capDenial` know about prepaid customers.
    // Kept small for EIP-170: the settlement contract does the checks it can do through the views.

    bytes32 internal constant SETTLEMENT_ROLE = keccak256("SETTLEMENT_ROLE");
    uint256 internal constant MAX_TYPES = 15;

    /// @inheritdoc IPrepaidMeter
    function setPrepaid(address customer, uint96 release, uint64 cap, bytes8 currency)
        external
        onlyRole(SETTLEMENT_ROLE)
    {
        AccountCell storage cell = _customers[customer];
        AccountSlot account = cell.account;
        // Checked: releasing more than is committed is a bug of the caller.
        cell.account = account.withPrepaid().withSpent(account.spentTimeframe(), account.spent() - release)
            .withSpendingCap(cap, currency);
    }

    /// @inheritdoc IPrepaidMeter
    function instanceTypes(TimeframeId timeframe_) external view returns (uint256) {
        return _types[timeframe_];
    }

    /// @dev Records that `timeframe_` has rules for `instanceType` (the first time they are set): lane 0 of the word
    /// counts the types, lane `i` (16 bits each) holds the `i`-th.
    function _addType(TimeframeId timeframe_, InstanceType instanceType) private {
        uint256 word = _types[timeframe_];
        uint256 n = word & 0xFFFF;
        if (n == MAX_TYPES) revert MeteringTooManyTypes(timeframe_, MAX_TYPES);
        // Cannot overflow: n < 15, so the lane ends below bit 256.
        unchecked {
            _types[timeframe_] = (word + 1) | (uint256(InstanceType.unwrap(instanceType)) << (16 * (n + 1)));
        }
    }

    /// @dev Counts a granted continuation when it has a price (only then does it change an amount).
    function _countContinuation(uint256 rulesKey, uint256 usageKey) private {
        if (_terms[rulesKey].pricePerContinuation() != 0) ++pricedContinuations[usageKey];
    }

    /// @dev Why the cap denied: the customer's own cap, or a prepaid customer's deposit.
    function _capDenial(AccountSlot account) private pure returns (DenialReason) {
        return account.prepaid() ? DenialReason.DepositExhausted : DenialReason.SpendingCapReached;
    }

    // ------------------------------------------------------------------ internals: decisions

    /// @dev Decides one activation request of `msg.sender` and records the decision. The only place new requests
    /// are granted or denied. `active` is the active timeframe (0 when none), `c` the cursor (its bounds, currency).
    function _activate(
        address customer,
        InstanceType instanceType,
        uint64 requestId,
        uint32 leaseSeconds,
        TimeframeId active,
        Cursor c
    ) private returns (bool, DenialReason) {
        bytes32 id = instanceIdOf(msg.sender, requestId);
        if (customer == address(0)) revert MeteringInvalidCustomer(customer);
        if (leaseSeconds == 0) revert MeteringZeroLease(id);
        // Cannot truncate: a uint64 shifted right by 8 fits in 56 bits; the generation is the low byte.
        uint56 seatIndex = uint56(requestId >> 8);
        uint8 generation = uint8(requestId);
        SeatCell storage seat_ = _instances[_seatKey(msg.sender, seatIndex)];
        InstanceSlot previous = seat_.record;
        uint8 current = previous.generation();
        uint8 tag = InstanceSlotLibrary.leaseTag(leaseSeconds);

        if (generation == current && generation != 0) {
            if (
                previous.customer() != customer
                    || InstanceType.unwrap(previous.instanceType()) != InstanceType.unwrap(instanceType)
            ) {
                revert MeteringRequestMismatch(id, previous.customer(), previous.instanceType());
            }
            InstanceStatus status = previous.status();
            if (status != InstanceStatus.Denied && previous.detail() != tag) {
                revert MeteringReplayLeaseMismatch(id, leaseSeconds);
            }
            DenialReason first = previous.reason();
            emit ActivationReplayed(id, customer, status, first);
            return (status != InstanceStatus.Denied, first);
        }
        // Cannot overflow: a uint8 plus one fits in a uint256.
        unchecked {
            if (uint256(generation) != uint256(current) + 1) revert MeteringUnexpectedGeneration(id, current);
        }
        if (previous.isOpen()) {
            bytes32 occupant = instanceIdOf(msg.sender, (uint64(seatIndex) << 8) | current);
            uint40 previousEnd = previous.leaseEnd();
            if (block.timestamp < previousEnd) revert MeteringSeatBusy(occupant, previousEnd);
            // Its billing stopped at its lease end; the seat moves on to the next generation.
            emit LeaseExpired(
                occupant, previous.customer(), previous.instanceType(), previous.timeframe(), previousEnd
            );
        }

        Grant memory g;
        g.reason = DenialReason.NoActiveTimeframe;
        if (TimeframeId.unwrap(active) != 0) {
            g = _decide(msg.sender, customer, instanceType, active, c, leaseSeconds, false);
        }
        if (g.reason != DenialReason.None) {
            seat_.record = InstanceSlotLibrary.pack(
                customer, 0, active, instanceType, generation, NO_SEAT, InstanceStatus.Denied, uint8(g.reason), false
            );
            emit ActivationDenied(id, customer, instanceType, active, g.reason);
            return (false, g.reason);
        }
        seat_.record = InstanceSlotLibrary.pack(
            customer, g.leaseEnd, active, instanceType, generation, g.seat, InstanceStatus.Open, tag, g.timePriced
        );
        emit ActivationGranted(id, customer, instanceType, active, uint40(block.timestamp), g.leaseEnd, g.overage);
        return (true, DenialReason.None);
    }

    /// @dev The outcome of {_decide}: why denied (`None`: granted), and for a grant its overage flag, seat, lease
    /// end, whether its time is priced, and the second it is billed from.
    struct Grant {
        DenialReason reason;
        bool overage;
        uint8 seat;
        uint40 leaseEnd;
        bool timePriced;
        uint40 billedFrom;
    }

    /// @dev Decides a new activation or a continuation for `customer` by `agent` in the active timeframe `tf`
    /// (the cursor `c` holds its bounds and currency) and, when granted, commits it to the usage counters, the seats and the customer's
    /// spending. A new activation is billed from now. A continuation is billed from the timeframe's start if the
    /// seat it takes was free since then, else from the second that seat became free: billed time never overlaps
    /// another lease's seat-time, so hard limits hold in billed time too. (No seat: no limit, or soft overage.)
    function _decide(
        address agent,
        address customer,
        InstanceType instanceType,
        TimeframeId tf,
        Cursor c,
        uint32 leaseSeconds,
        bool continuation
    ) private returns (Grant memory g) {
        g.seat = NO_SEAT;
        uint256 rulesKey = _rulesKey(tf, instanceType);
        RulesSlot r = _rules[rulesKey];
        if (!r.configured()) {
            g.reason = DenialReason.NoRulesForType;
            return g;
        }
        AccountCell storage accountCell = _customers[customer];
        AccountSlot account = accountCell.account;
        // One test for the common case: enrolled, and open to every agent (no restriction, no revoke).
        if (!account.enrolledOpenToAll()) {
            if (!account.isEnrolled()) {
                g.reason = account.status() == CustomerStatus.None
                    ? DenialReason.CustomerNotEnrolled
                    : DenialReason.CustomerSuspended;
                return g;
            }
            if (_agentBarred(account, customer, agent)) {
                g.reason = DenialReason.AgentNotApproved;
                return g;
            }
        }
        uint256 usageKey = _usageKey(customer, tf, instanceType);
        UsageCell storage usageCell = _usage[usageKey];
        UsageSlot u = usageCell.usage;
        uint40 now_ = uint40(block.timestamp);
        uint16 maxConcurrent = r.maxConcurrent();
        uint8 k = maxConcurrent == 0 ? NO_SEAT : _freeSeat(u, usageKey, maxConcurrent, now_);
        (g.reason, g.overage) = ActivationPolicy.decide(
            maxConcurrent != 0 && k == NO_SEAT, r.maxActivations(), r.mode(), u.activations(), continuation
        );
        if (g.reason != DenialReason.None) return g;

        uint40 leaseEnd = Leases.expiry(now_, leaseSeconds, Leases.bound(r.maxLeaseSeconds()), c.end(), 0);
        uint40 billedFrom = now_;
        if (continuation) {
            // A seat's value in this timeframe is 0 (never used) or a second at or after its start.
            uint40 freedAt = k == NO_SEAT ? 0 : _seatEnd(u, usageKey, k);
            uint40 start = c.start();
            billedFrom = freedAt > start ? freedAt : start;
        }
        uint64 before = u.leasedSeconds();
        uint64 added;
        // Cannot underflow: the lease ends after now (it lasts at least a second, and now is before the
        // timeframe's end), and the billing starts at or before now.
        unchecked {
            added = leaseEnd - billedFrom;
        }
        uint64 leased = before + added;
        uint256 committed;
        bool timePriced = r.pricePerTimeUnit() != 0;
        // Cannot overflow: a time cost is below 2^113 micro-units, a price below 2^48, spending below 2^96.
        // Cannot underflow: more seconds never cost less.
        unchecked {
            uint256 cost = timePriced ? _timeCost(r, leased) - _timeCost(r, before) : 0;
            if (continuation) {
                cost += _terms[rulesKey].pricePerContinuation();
            } else if (u.activations() >= r.includedActivations()) {
                cost += r.pricePerActivation();
            }
            // A prepaid account's spending spans every unsettled timeframe (see {IPrepaidMeter}).
            committed = (account.spentTimeframe() == tf || account.prepaid() ? account.spent() : 0) + cost;
        }
        g.reason = _capReason(account, committed, c.currency());
        if (g.reason != DenialReason.None) {
            g.overage = false;
            return g;
        }
        if (continuation) _countContinuation(rulesKey, usageKey);

        if (!continuation) {
            uint32 overageActivations = u.overageActivations();
            if (g.overage) overageActivations += 1;
            u = u.withActivations(u.activations() + 1, overageActivations);
        }
        u = u.withLeasedSeconds(leased);
        if (k != NO_SEAT) u = _setSeat(u, usageKey, k, leaseEnd);
        usageCell.usage = u;
        // Checked cast: `_overCap` denied anything above type(uint96).max, and SafeCast checks it again.
        accountCell.account = account.withSpent(tf, SafeCast.toUint96(committed));
        (g.seat, g.leaseEnd, g.timePriced, g.billedFrom) = (k, leaseEnd, timePriced, billedFrom);
    }

    /// @dev Extends an open, unexpired lease, or records why not.
    function _renew(bytes32 instanceId, SeatCell storage seat_, InstanceSlot inst, uint32 leaseSeconds)
        private
        returns (bool, DenialReason, uint40)
    {
        address customer = inst.customer();
        AccountCell storage accountCell = _customers[customer];
        AccountSlot account = accountCell.account;
        DenialReason reason;
        // One test for the common case: enrolled, and open to every agent (no restriction, no revoke).
        if (!account.enrolledOpenToAll()) {
            if (!account.isEnrolled()) reason = DenialReason.CustomerSuspended;
            else if (_agentBarred(account, customer, msg.sender)) reason = DenialReason.AgentNotApproved;
        }
        if (reason == DenialReason.None) {
            TimeframeId tf = inst.timeframe();
            uint256 rulesKey = _rulesKey(tf, inst.instanceType());
            TermsSlot terms = _terms[rulesKey];
            uint40 currentEnd = inst.leaseEnd();
            uint40 leaseEnd = Leases.expiry(
                uint40(block.timestamp), leaseSeconds, terms.leaseBound(), terms.timeframeEnd(), currentEnd
            );
            uint256 usageKey = _usageKey(customer, tf, inst.instanceType());
            UsageCell storage usageCell = _usage[usageKey];
            UsageSlot u = usageCell.usage;
            uint64 before = u.leasedSeconds();
            uint64 added;
            // Cannot underflow: Leases.expiry never returns less than the current lease end.
            unchecked {
                added = leaseEnd - currentEnd;
            }
            uint64 leased = before + added;
            // The account's spending is this timeframe's: every grant in it wrote it, and it is still running.
            uint256 committed = account.spent();
            if (inst.timePriced()) {
                RulesSlot r = _rules[rulesKey];
                // Cannot underflow: more seconds never cost less. Cannot overflow: spending is below 2^96 (the
                // cap check keeps it there), a time cost below 2^113.
                unchecked {
                    committed += _timeCost(r, leased) - _timeCost(r, before);
                }
            }
            // The cap's currency is this timeframe's: no grant in it passed a cap in another one, and a cap set
            // while it runs was checked against it ({setSpendingCap}).
            if (_overCap(account, committed)) {
                reason = _capDenial(account);
            } else {
                u = u.withLeasedSeconds(leased);
                uint8 k = inst.seat();
                if (k != NO_SEAT) u = _setSeat(u, usageKey, k, leaseEnd);
                usageCell.usage = u;
                if (committed != account.spent()) {
                    // Cannot truncate: `_overCap` denied anything above type(uint96).max.
                    accountCell.account = account.withSpent(account.spentTimeframe(), uint96(committed));
                }
                seat_.record = inst.withLeaseEnd(leaseEnd);
                emit LeaseRenewed(instanceId, customer, inst.instanceType(), tf, leaseEnd);
                return (true, DenialReason.None, leaseEnd);
            }
        }
        emit LeaseRenewalDenied(instanceId, customer, inst.instanceType(), inst.timeframe(), reason);
        return (false, reason, 0);
    }

    /// @dev Closes an open instance whose lease has run out (billing stopped at its end) and, if it ran to the end
    /// of its timeframe, the active timeframe starts there and the renewal comes within `CONTINUATION_GRACE_SECONDS` of
    /// that boundary, continues it as a fresh decision under the rules in force now (see {_decide} for the second
    /// it is billed from). The record is written once: continued, or closed.
    function _continue(bytes32 instanceId, SeatCell storage seat_, InstanceSlot inst, uint32 leaseSeconds)
        private
        returns (bool, DenialReason, uint40)
    {
        address customer = inst.customer();
        InstanceType instanceType = inst.instanceType();
        TimeframeId ended = inst.timeframe();
        emit LeaseExpired(instanceId, customer, instanceType, ended, inst.leaseEnd());
        (TimeframeId active, Cursor c) = _activeTimeframe();
        Grant memory g;
        if (!_continuable(inst)) {
            g.reason = DenialReason.LeaseExpired;
        } else if (TimeframeId.unwrap(active) != TimeframeId.unwrap(ended) + 1 || c.start() != inst.leaseEnd()) {
            // Only a timeframe that starts where this one ended continues it.
            g.reason = TimeframeId.unwrap(active) == 0 ? DenialReason.NoActiveTimeframe : DenialReason.LeaseExpired;
        } else {
            g = _decide(msg.sender, customer, instanceType, active, c, leaseSeconds, true);
        }
        if (g.reason != DenialReason.None) {
            seat_.record = inst.closed();
            emit LeaseRenewalDenied(instanceId, customer, instanceType, active, g.reason);
            return (false, g.reason, 0);
        }
        seat_.record = InstanceSlotLibrary.pack(
            customer, g.leaseEnd, active, instanceType, inst.generation(), g.seat, InstanceStatus.Open, inst.detail(),
            g.timePriced
        );
        emit LeaseContinued(instanceId, customer, instanceType, active, g.billedFrom, g.leaseEnd, g.overage);
        return (true, DenialReason.None, g.leaseEnd);
    }

    /// @dev Whether an open, expired lease may still be continued: it ran to its timeframe's end, and the grace after
    /// that end has not passed. Reads the terms only for a lease within the grace of its own end.
    function _continuable(InstanceSlot inst) private view returns (bool) {
        uint40 leaseEnd = inst.leaseEnd();
        // Cannot overflow: a lease end is a timeframe's end at most, a uint40, plus 15 minutes fits in a uint256.
        unchecked {
            if (block.timestamp >= uint256(leaseEnd) + CONTINUATION_GRACE_SECONDS) return false;
        }
        return leaseEnd == _terms[_rulesKey(inst.timeframe(), inst.instanceType())].timeframeEnd();
    }

    /// @dev Whether `customer` keeps `agent` from billing it: it restricted itself and did not approve the agent, or
    /// it revoked the agent (whatever its restriction). Reads the approval only when the account says it matters.
    function _agentBarred(AccountSlot account, address customer, address agent) private view returns (bool) {
        if (!account.screensAgents()) return false;
        uint8 stance = _approved[customer][agent];
        return account.restricted() ? stance != APPROVED : stance == REVOKED;
    }

    /// @dev Stops an open, unexpired instance now: gives back the unexpired remainder of its lease (seconds and
    /// what they committed) and frees its seat. Returns the second billing stopped.
    function _stop(SeatCell storage seat_, InstanceSlot inst) private returns (uint40 now_) {
        now_ = uint40(block.timestamp);
        address customer = inst.customer();
        TimeframeId tf = inst.timeframe();
        InstanceType instanceType = inst.instanceType();
        uint256 usageKey = _usageKey(customer, tf, instanceType);
        UsageCell storage usageCell = _usage[usageKey];
        UsageSlot u = usageCell.usage;
        uint64 before = u.leasedSeconds();
        uint64 remainder;
        // Cannot underflow: the lease has not ended (callers checked).
        unchecked {
            remainder = inst.leaseEnd() - now_;
        }
        // Cannot underflow: the unexpired remainder was added when the lease was granted or renewed.
        uint64 leased = before - remainder;
        u = u.withLeasedSeconds(leased);
        // A freed seat holds a time that has come (never 0), so its page stays a non-zero slot.
        uint8 k = inst.seat();
        if (k != NO_SEAT) u = _setSeat(u, usageKey, k, now_);
        usageCell.usage = u;
        if (inst.timePriced()) {
            RulesSlot r = _rules[_rulesKey(tf, instanceType)];
            uint256 refund;
            // Cannot underflow: fewer seconds never cost more.
            unchecked {
                refund = _timeCost(r, before) - _timeCost(r, leased);
            }
            if (refund != 0) {
                AccountCell storage accountCell = _customers[customer];
                AccountSlot account = accountCell.account;
                // Checked: the refund was committed by this timeframe's grants and renewals, so it is at most what
                // was spent (a uint96, never wrapped: see {_overCap}).
                accountCell.account = account.withSpent(account.spentTimeframe(), uint96(account.spent() - refund));
            }
        }
        seat_.record = inst.closed().withLeaseEnd(now_);
    }

    /// @dev Closes an open instance whose lease has run out. Its seconds were counted up to the lease end already,
    /// and its seat freed itself at that second: only the record changes.
    function _closeExpired(bytes32 instanceId, SeatCell storage seat_, InstanceSlot inst) private {
        seat_.record = inst.closed();
        emit LeaseExpired(instanceId, inst.customer(), inst.instanceType(), inst.timeframe(), inst.leaseEnd());
    }

    /// @dev Why committing `committed` micro-units is refused, or `None`: a cap in another currency than the
    /// timeframe's `currency`, or crossing the cap (see {_overCap}).
    function _capReason(AccountSlot account, uint256 committed, bytes8 currency) private pure returns (DenialReason) {
        if ((account.spendingCap() != 0 || account.prepaid()) && account.capCurrency() != currency) {
            return DenialReason.CapCurrencyMismatch;
        }
        return _overCap(account, committed) ? _capDenial(account) : DenialReason.None;
    }

    /// @dev Whether committing `committed` micro-units crosses the cap, or, without a cap (0), what spending can
    /// hold: 2^96 - 1 micro-units, the checked bound that makes every `uint96(committed)` cast safe.
    function _overCap(AccountSlot account, uint256 committed) private pure returns (bool) {
        uint64 cap = account.spendingCap();
        // Cannot overflow: a uint64 times 1e6 is below 2^84.
        unchecked {
            // A prepaid customer's cap of 0 means "nothing covered", not "no cap".
            return committed > (cap == 0 && !account.prepaid() ? type(uint96).max : uint256(cap) * PRICE_SCALE);
        }
    }

    /// @dev What `leasedSeconds` of running time cost under `r` (see {Pricing-timeCost}).
    function _timeCost(RulesSlot r, uint64 leasedSeconds) private pure returns (uint256) {
        return Pricing.timeCost(leasedSeconds, r.includedSeconds(), r.pricePerTimeUnit(), r.timeUnitSeconds());
    }

    // ------------------------------------------------------------------ internals: seats

    /// @dev The first seat (below `maxConcurrent`) whose lease has ended, or `NO_SEAT`.
    function _freeSeat(UsageSlot u, uint256 usageKey, uint16 maxConcurrent, uint40 now_)
        private
        view
        returns (uint8)
    {
        if (u.seatEnd(0) <= now_) return 0;
        if (maxConcurrent > 1 && u.seatEnd(1) <= now_) return 1;
        if (maxConcurrent > 2 && u.seatEnd(2) <= now_) return 2;
        for (uint256 k = INLINE_SEATS; k < maxConcurrent; ++k) {
            (uint256 pageKey, uint256 i) = _page(usageKey, k);
            // Cannot truncate: k < MAX_CONCURRENT < NO_SEAT.
            if (_seatPages[pageKey][i] <= now_) return uint8(k);
        }
        return NO_SEAT;
    }

    /// @dev The lease end held by seat `k`.
    function _seatEnd(UsageSlot u, uint256 usageKey, uint256 k) private view returns (uint40) {
        if (k < INLINE_SEATS) return u.seatEnd(k);
        (uint256 pageKey, uint256 i) = _page(usageKey, k);
        return _seatPages[pageKey][i];
    }

    /// @dev Sets seat `k` to `leaseEnd`: in the returned usage slot (written by the caller) for the first three, in
    /// its page otherwise.
    function _setSeat(UsageSlot u, uint256 usageKey, uint8 k, uint40 leaseEnd) private returns (UsageSlot) {
        if (k < INLINE_SEATS) return u.withSeatEnd(k, leaseEnd);
        (uint256 pageKey, uint256 i) = _page(usageKey, k);
        _seatPages[pageKey][i] = leaseEnd;
        return u;
    }

    /// @dev The key of the page that holds seat `k` (at least `INLINE_SEATS`), and the seat's place in it.
    function _page(uint256 usageKey, uint256 k) private pure returns (uint256 pageKey, uint256 i) {
        // Cannot underflow: k >= INLINE_SEATS. Cannot overflow: a usage key has 192 bits, a page number 5.
        unchecked {
            k -= INLINE_SEATS;
            return ((usageKey << 8) | (k / PAGE_SEATS), k % PAGE_SEATS);
        }
    }

    // ------------------------------------------------------------------ internals: records and keys

    function _openInstance(bytes32 instanceId, SeatCell storage seat_, uint8 generation)
        private
        view
        returns (InstanceSlot inst)
    {
        inst = seat_.record;
        if (inst.generation() != generation || generation == 0 || !_wellFormed(instanceId)) {
            revert MeteringInstanceNotOpen(instanceId, InstanceStatus.Unknown);
        }
        if (!inst.isOpen()) revert MeteringInstanceNotOpen(instanceId, inst.status());
    }

    function _callerAccount() private view returns (AccountCell storage cell, AccountSlot account) {
        cell = _customers[msg.sender];
        account = cell.account;
        if (account.status() == CustomerStatus.None) revert MeteringNotCustomer(msg.sender);
    }

    /// @dev The agent, seat and generation an instance id is made of (see {_wellFormed} for ids no agent made).
    function _split(bytes32 instanceId) private pure returns (address agent, uint56 seatIndex, uint8 generation) {
        uint256 raw = uint256(instanceId);
        agent = address(uint160(raw >> 96));
        seatIndex = uint56(raw >> 8);
        generation = uint8(raw);
    }

    /// @dev Whether `instanceId` could have been made by {instanceIdOf}: bits 64-95 are zero. Any other id names
    /// nothing (it would alias a real seat if only its agent, seat and generation were read).
    function _wellFormed(bytes32 instanceId) private pure returns (bool) {
        return (uint256(instanceId) >> 64) & type(uint32).max == 0;
    }

    /// @dev `agent << 56 | seatIndex`: 216 bits, one word, so the record's position costs one hash.
    function _seatKey(address agent, uint56 seatIndex) private pure returns (uint256) {
        return (uint256(uint160(agent)) << 56) | seatIndex;
    }

    /// @dev `customer << 32 | timeframe << 16 | type`: 192 bits.
    function _usageKey(address customer, TimeframeId tf, InstanceType instanceType) private pure returns (uint256) {
        return (uint256(uint160(customer)) << 32) | (uint256(TimeframeId.unwrap(tf)) << 16)
            | InstanceType.unwrap(instanceType);
    }

    /// @dev `timeframe << 16 | type`.
    function _rulesKey(TimeframeId tf, InstanceType instanceType) private pure returns (uint256) {
        return (uint256(TimeframeId.unwrap(tf)) << 16) | InstanceType.unwrap(instanceType);
    }

    function _existingTimeframe(TimeframeId id) private view returns (Timeframe storage tf) {
        if (TimeframeId.unwrap(id) == 0 || TimeframeId.unwrap(id) > _cursor.count()) {
            revert MeteringUnknownTimeframe(id);
        }
        return _timeframes[id];
    }

    /// @dev An upper-case ISO 4217-shaped code: three letters A-Z, then zero bytes.
    function _validCurrency(bytes8 currency) private pure returns (bool) {
        for (uint256 i; i < 8; ++i) {
            bytes1 c = currency[i];
            if (i < 3 ? (c < 0x41 || c > 0x5a) : c != 0) return false;
        }
        return true;
    }

    // ------------------------------------------------------------------ internals: the active timeframe

    /// @dev The active timeframe (0 when none) and the cursor (its bounds and currency), moving the cursor forward
    /// and storing it when needed.
    function _activeTimeframe() private returns (TimeframeId id, Cursor c) {
        bool moved;
        (c, moved) = _findActive();
        if (moved) _cursor = c;
        if (block.timestamp >= c.start() && block.timestamp < c.end()) id = c.id();
    }

    /// @dev The first timeframe that has not ended yet. Timeframes are created in order and never overlap, so their
    /// ends increase with their ids: the ones not looked at yet (after `walked`) are searched by bisection, in
    /// O(log n) reads however many ended since the last call. `walked` remembers how far the search got, so a
    /// timeframe found ended is never looked at again, also when every timeframe has ended.
    function _findActive() private view returns (Cursor c, bool moved) {
        c = _cursor;
        if (block.timestamp < c.end()) return (c, false);
        uint16 count = c.count();
        if (c.walked() == count) return (c, false);
        // The first id in (walked, count] whose end is after now, or count + 1 when all have ended.
        uint256 low = uint256(c.walked()) + 1;
        uint256 high = uint256(count) + 1;
        while (low < high) {
            uint256 mid = (low + high) / 2;
            // Cannot truncate: mid <= count, a uint16.
            if (block.timestamp < _timeframes[TimeframeId.wrap(uint16(mid))].end) high = mid;
            else low = mid + 1;
        }
        moved = true;
        if (low > count) return (c.withWalked(count), moved);
        // Cannot truncate: low <= count, a uint16.
        TimeframeId id = TimeframeId.wrap(uint16(low));
        Timeframe memory tf = _timeframes[id];
        c = CursorLibrary.pack(count, uint16(low), id, tf.start, tf.end, tf.currency);
    }
}
