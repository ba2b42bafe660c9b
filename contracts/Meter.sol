// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {TimeframeId, InstanceType} from "./types/Ids.sol";
import {IMeter} from "./interfaces/IMeter.sol";
import {ActivationPolicy} from "./libraries/ActivationPolicy.sol";
import {Leases} from "./libraries/Leases.sol";
import {Pricing} from "./libraries/Pricing.sol";

/// @title Usage metering contract. See {IMeter} for the behaviour of every function.
/// @dev Storage is private and laid out for the hot path. A steady-state grant reads the agent's role, the cached
/// active timeframe, the rules (one slot), the customer's account (one slot) and updates the usage slot (which
/// holds the first seats), the customer's account and the agent's seat record: no new slot. Seats stay non-zero
/// once used, so reusing one costs an update, not a new slot.
///
/// Layouts (one slot each):
/// - `StoredInstance` (per agent and seat): customer 160 | leaseEnd 40 | timeframe 16 | type 16 | generation 8 |
///   seat 8 | state 8, where state = status (bits 0-1) | reason << 2.
/// - `StoredUsage` (per customer, timeframe, type): activations 32 | overage 32 | leasedSeconds 64 | seats 0-2 as
///   three lease ends of 40 bits. Seats 3 to `MAX_CONCURRENT - 1` live in pages of six lease ends.
/// - `CustomerAccount`: status 8 | restricted 8 | cap 64 | spentTimeframe 16 | spent 96.
/// - `StoredRules`: everything a decision reads; only the continuation price lives apart.
/// - `Cursor`: timeframe count, how far the walk over ended timeframes got, and the cached timeframe.
///
/// No function loops over users' data: batches are bounded by `MAX_BATCH`, the seat search by `MAX_CONCURRENT`
/// (a rules setting), and the walk over ended timeframes passes each timeframe once in the contract's life.
contract Meter is IMeter, AccessControlDefaultAdminRules {
    /// @inheritdoc IMeter
    uint256 public constant MAX_BATCH = 256;
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
    uint256 private constant INLINE_SEATS = 3;
    uint256 private constant PAGE_SEATS = 6;

    struct StoredRules {
        bool configured;
        LimitMode mode;
        uint16 maxConcurrent;
        uint32 maxActivations;
        uint32 includedActivations;
        uint32 includedSeconds;
        uint48 pricePerActivation;
        uint48 pricePerTimeUnit;
        uint24 timeUnitSeconds;
    }

    struct StoredUsage {
        uint32 activations;
        uint32 overageActivations;
        uint64 leasedSeconds;
        uint40 seat0;
        uint40 seat1;
        uint40 seat2;
    }

    struct StoredInstance {
        address customer;
        uint40 leaseEnd;
        TimeframeId timeframe;
        InstanceType instanceType;
        uint8 generation;
        uint8 seat;
        uint8 state;
    }

    /// @dev `walked` is the highest timeframe id the walk has looked at; `id` is the first of them that had not
    /// ended when last looked (with its bounds), or the last ended one when all had.
    struct Cursor {
        uint16 count;
        uint16 walked;
        TimeframeId id;
        uint40 start;
        uint40 end;
    }

    /// @dev A decision's outcome before it is written down.
    struct Outcome {
        DenialReason reason;
        bool overage;
        uint8 seat;
        uint40 leaseEnd;
    }

    Cursor private _cursor;
    mapping(TimeframeId => Timeframe) private _timeframes;
    mapping(TimeframeId => mapping(InstanceType => StoredRules)) private _rules;
    mapping(TimeframeId => mapping(InstanceType => uint48)) private _continuationPrice;
    mapping(address => CustomerAccount) private _customers;
    mapping(address customer => mapping(address agent => bool)) private _approved;
    mapping(address => mapping(TimeframeId => mapping(InstanceType => StoredUsage))) private _usage;
    mapping(address => mapping(TimeframeId => mapping(InstanceType => mapping(uint256 => uint40[6])))) private
        _seatPages;
    mapping(address agent => mapping(uint56 seat => StoredInstance)) private _instances;
    mapping(address => mapping(TimeframeId => InvoiceAnchor)) private _invoices;

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
        uint16 count = _cursor.count;
        if (count == type(uint16).max) revert MeteringTimeframeIdsExhausted();
        if (count != 0) {
            uint40 previousEnd = _timeframes[TimeframeId.wrap(count)].end;
            if (start < previousEnd) revert MeteringTimeframeOverlap(start, previousEnd);
        }
        // Cannot overflow: checked against type(uint16).max above.
        unchecked {
            count += 1;
        }
        _cursor.count = count;
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
        uint40 start = _existingTimeframe(timeframe_).start;
        if (block.timestamp >= start) revert MeteringRulesFrozen(timeframe_, start);
        if (r.timeUnitSeconds == 0 || r.maxConcurrent > MAX_CONCURRENT) {
            revert MeteringInvalidRules(r.timeUnitSeconds, r.maxConcurrent, MAX_CONCURRENT);
        }
        _rules[timeframe_][instanceType] = StoredRules({
            configured: true,
            mode: r.mode,
            maxConcurrent: r.maxConcurrent,
            maxActivations: r.maxActivations,
            includedActivations: r.includedActivations,
            includedSeconds: r.includedSeconds,
            pricePerActivation: r.pricePerActivation,
            pricePerTimeUnit: r.pricePerTimeUnit,
            timeUnitSeconds: r.timeUnitSeconds
        });
        _continuationPrice[timeframe_][instanceType] = r.pricePerContinuation;
        hash = keccak256(abi.encode(timeframe_, instanceType, r));
        emit RulesSet(timeframe_, instanceType, hash, r);
    }

    /// @inheritdoc IMeter
    function enrollCustomer(address customer) external onlyRole(RULES_MANAGER_ROLE) {
        if (customer == address(0)) revert MeteringInvalidCustomer(customer);
        CustomerAccount storage account = _customers[customer];
        if (account.status == CustomerStatus.Enrolled) return;
        account.status = CustomerStatus.Enrolled;
        emit CustomerEnrolled(customer);
    }

    /// @inheritdoc IMeter
    function suspendCustomer(address customer) external onlyRole(RULES_MANAGER_ROLE) {
        CustomerAccount storage account = _customers[customer];
        CustomerStatus status = account.status;
        if (status == CustomerStatus.None) revert MeteringInvalidCustomer(customer);
        if (status == CustomerStatus.Suspended) return;
        account.status = CustomerStatus.Suspended;
        emit CustomerSuspended(customer);
    }

    /// @inheritdoc IMeter
    function closeInstance(bytes32 instanceId) external onlyRole(RULES_MANAGER_ROLE) {
        (address agent, uint56 seatIndex, uint8 generation) = _split(instanceId);
        StoredInstance memory inst = _openInstance(instanceId, agent, seatIndex, generation);
        if (block.timestamp >= inst.leaseEnd) {
            _closeExpired(instanceId, agent, seatIndex, inst);
            return;
        }
        uint40 now_ = _stop(agent, seatIndex, inst);
        emit InstanceClosedByProvider(instanceId, inst.customer, inst.instanceType, inst.timeframe, now_, msg.sender);
    }

    /// @inheritdoc IMeter
    function anchorInvoice(address customer, TimeframeId timeframe_, bytes32 invoiceHash, uint256 total)
        external
        onlyRole(RULES_MANAGER_ROLE)
    {
        if (invoiceHash == bytes32(0)) revert MeteringZeroInvoiceHash();
        if (_customers[customer].status == CustomerStatus.None) revert MeteringInvalidCustomer(customer);
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
        CustomerAccount storage account = _callerAccount();
        _approved[msg.sender][agent] = true;
        emit AgentApproved(msg.sender, agent);
        if (!account.restricted) {
            account.restricted = true;
            emit AgentRestrictionSet(msg.sender, true);
        }
    }

    /// @inheritdoc IMeter
    function revokeAgent(address agent) external {
        _callerAccount();
        _approved[msg.sender][agent] = false;
        emit AgentRevoked(msg.sender, agent);
    }

    /// @inheritdoc IMeter
    function setAgentRestriction(bool restricted) external {
        _callerAccount().restricted = restricted;
        emit AgentRestrictionSet(msg.sender, restricted);
    }

    /// @inheritdoc IMeter
    function setSpendingCap(uint64 cap) external {
        _callerAccount().spendingCap = cap;
        emit SpendingCapSet(msg.sender, cap);
    }

    // ------------------------------------------------------------------ agents

    /// @inheritdoc IMeter
    function requestActivation(address customer, InstanceType instanceType, uint64 requestId, uint32 leaseSeconds)
        external
        onlyRole(AGENT_ROLE)
        returns (Decision memory)
    {
        Cursor memory active = _activeTimeframe();
        return _activate(customer, instanceType, requestId, leaseSeconds, active);
    }

    /// @inheritdoc IMeter
    function requestActivations(ActivationRequest[] calldata requests)
        external
        onlyRole(AGENT_ROLE)
        returns (Decision[] memory decisions)
    {
        uint256 n = requests.length;
        if (n > MAX_BATCH) revert MeteringBatchTooLarge(n, MAX_BATCH);
        Cursor memory active = _activeTimeframe();
        decisions = new Decision[](n);
        for (uint256 i; i < n; ++i) {
            ActivationRequest calldata q = requests[i];
            decisions[i] = _activate(q.customer, q.instanceType, q.requestId, q.leaseSeconds, active);
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
        StoredInstance memory inst = _openInstance(instanceId, agent, seatIndex, generation);

        if (block.timestamp < inst.leaseEnd) return _renew(instanceId, agent, seatIndex, inst, leaseSeconds);

        // The lease has run out: billing stopped at its end.
        _closeExpired(instanceId, agent, seatIndex, inst);
        uint40 timeframeEnd = _timeframes[inst.timeframe].end;
        Cursor memory active = _activeTimeframe();
        Outcome memory o;
        if (inst.leaseEnd < timeframeEnd) {
            o.reason = DenialReason.LeaseExpired;
        } else if (TimeframeId.unwrap(active.id) != TimeframeId.unwrap(inst.timeframe) + 1 || active.start != timeframeEnd)
        {
            // Only a timeframe that starts where this one ended continues it.
            o.reason = TimeframeId.unwrap(active.id) == 0 ? DenialReason.NoActiveTimeframe : DenialReason.LeaseExpired;
        } else {
            // It ran to the end of its timeframe: continuing is a new decision under the rules in force now,
            // billed from the new timeframe's start so that no second goes unbilled.
            o = _decide(agent, inst.customer, inst.instanceType, active, leaseSeconds, true);
        }
        if (o.reason != DenialReason.None) {
            emit LeaseRenewalDenied(instanceId, inst.customer, inst.instanceType, active.id, o.reason);
            return (Decision(false, o.reason), 0);
        }
        _instances[agent][seatIndex] = StoredInstance(
            inst.customer, o.leaseEnd, active.id, inst.instanceType, generation, o.seat, _state(InstanceStatus.Open, DenialReason.None)
        );
        emit LeaseContinued(instanceId, inst.customer, inst.instanceType, active.id, active.start, o.leaseEnd, o.overage);
        return (Decision(true, DenialReason.None), o.leaseEnd);
    }

    /// @inheritdoc IMeter
    function deactivate(bytes32 instanceId) external {
        (address agent, uint56 seatIndex, uint8 generation) = _split(instanceId);
        if (msg.sender != agent) revert MeteringNotInstanceHolder(instanceId, msg.sender);
        StoredInstance memory inst = _openInstance(instanceId, agent, seatIndex, generation);
        if (block.timestamp >= inst.leaseEnd) {
            _closeExpired(instanceId, agent, seatIndex, inst);
            return;
        }
        uint40 now_ = _stop(agent, seatIndex, inst);
        emit InstanceDeactivated(instanceId, inst.customer, inst.instanceType, inst.timeframe, now_);
    }

    /// @inheritdoc IMeter
    function expireLeases(bytes32[] calldata instanceIds) external returns (uint256 closed) {
        uint256 n = instanceIds.length;
        if (n > MAX_BATCH) revert MeteringBatchTooLarge(n, MAX_BATCH);
        for (uint256 i; i < n; ++i) {
            bytes32 id = instanceIds[i];
            (address agent, uint56 seatIndex, uint8 generation) = _split(id);
            StoredInstance memory inst = _instances[agent][seatIndex];
            if (
                inst.generation == generation && _status(inst.state) == InstanceStatus.Open
                    && block.timestamp >= inst.leaseEnd && _wellFormed(id)
            ) {
                _closeExpired(id, agent, seatIndex, inst);
                ++closed;
            }
        }
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IMeter
    function timeframeCount() external view returns (uint256) {
        return _cursor.count;
    }

    /// @inheritdoc IMeter
    function timeframe(TimeframeId id) external view returns (Timeframe memory) {
        return _existingTimeframe(id);
    }

    /// @inheritdoc IMeter
    function activeTimeframe() external view returns (TimeframeId id) {
        (Cursor memory c,) = _findActive();
        if (block.timestamp >= c.start && block.timestamp < c.end) id = c.id;
    }

    /// @inheritdoc IMeter
    function rules(TimeframeId timeframe_, InstanceType instanceType)
        public
        view
        returns (Rules memory r, bool configured)
    {
        StoredRules storage s = _rules[timeframe_][instanceType];
        r = Rules({
            pricePerActivation: s.pricePerActivation,
            pricePerContinuation: _continuationPrice[timeframe_][instanceType],
            pricePerTimeUnit: s.pricePerTimeUnit,
            timeUnitSeconds: s.timeUnitSeconds,
            includedActivations: s.includedActivations,
            includedSeconds: s.includedSeconds,
            maxConcurrent: s.maxConcurrent,
            maxActivations: s.maxActivations,
            mode: s.mode
        });
        configured = s.configured;
    }

    /// @inheritdoc IMeter
    function rulesHash(TimeframeId timeframe_, InstanceType instanceType) external view returns (bytes32) {
        (Rules memory r, bool configured) = rules(timeframe_, instanceType);
        return configured ? keccak256(abi.encode(timeframe_, instanceType, r)) : bytes32(0);
    }

    /// @inheritdoc IMeter
    function customerStatus(address customer) external view returns (CustomerStatus) {
        return _customers[customer].status;
    }

    /// @inheritdoc IMeter
    function customerAccount(address customer) external view returns (CustomerAccount memory) {
        return _customers[customer];
    }

    /// @inheritdoc IMeter
    function spent(address customer, TimeframeId timeframe_) external view returns (uint256) {
        CustomerAccount storage account = _customers[customer];
        return account.spentTimeframe == timeframe_ ? account.spent : 0;
    }

    /// @inheritdoc IMeter
    function agentApproved(address customer, address agent) external view returns (bool) {
        return _approved[customer][agent];
    }

    /// @inheritdoc IMeter
    function mayBill(address customer, address agent) external view returns (bool) {
        CustomerAccount storage account = _customers[customer];
        return account.status == CustomerStatus.Enrolled && hasRole(AGENT_ROLE, agent)
            && (!account.restricted || _approved[customer][agent]);
    }

    /// @inheritdoc IMeter
    function usage(address customer, TimeframeId timeframe_, InstanceType instanceType)
        external
        view
        returns (Usage memory u)
    {
        StoredUsage memory s = _usage[customer][timeframe_][instanceType];
        u.activations = s.activations;
        u.overageActivations = s.overageActivations;
        u.leasedSeconds = s.leasedSeconds;
        uint16 seats = _rules[timeframe_][instanceType].maxConcurrent;
        for (uint256 k; k < seats; ++k) {
            if (_seatEnd(s, customer, timeframe_, instanceType, k) > block.timestamp) ++u.running;
        }
    }

    /// @inheritdoc IMeter
    function instance(bytes32 instanceId) external view returns (Instance memory) {
        (address agent, uint56 seatIndex, uint8 generation) = _split(instanceId);
        StoredInstance memory s = _instances[agent][seatIndex];
        if (s.generation != generation || generation == 0 || !_wellFormed(instanceId)) return Instance(address(0), 0, TimeframeId.wrap(0), InstanceType.wrap(0), InstanceStatus.Unknown, DenialReason.None, 0);
        return Instance(s.customer, s.leaseEnd, s.timeframe, s.instanceType, _status(s.state), _reason(s.state), s.seat);
    }

    /// @inheritdoc IMeter
    function seat(address agent, uint56 seatIndex)
        external
        view
        returns (uint8 generation, InstanceStatus status, uint40 leaseEnd)
    {
        StoredInstance storage s = _instances[agent][seatIndex];
        return (s.generation, _status(s.state), s.leaseEnd);
    }

    /// @inheritdoc IMeter
    function instanceIdOf(address agent, uint64 requestId) public pure returns (bytes32) {
        return bytes32((uint256(uint160(agent)) << 96) | requestId);
    }

    /// @inheritdoc IMeter
    function invoiceAnchor(address customer, TimeframeId timeframe_) external view returns (InvoiceAnchor memory) {
        return _invoices[customer][timeframe_];
    }

    // ------------------------------------------------------------------ internals: decisions

    /// @dev Decides one activation request of `msg.sender` and records the decision. The only place new requests
    /// are granted or denied.
    function _activate(
        address customer,
        InstanceType instanceType,
        uint64 requestId,
        uint32 leaseSeconds,
        Cursor memory active
    ) private returns (Decision memory) {
        bytes32 id = instanceIdOf(msg.sender, requestId);
        if (customer == address(0)) revert MeteringInvalidCustomer(customer);
        if (leaseSeconds == 0) revert MeteringZeroLease(id);
        // Cannot truncate: a uint64 shifted right by 8 fits in 56 bits; the generation is the low byte.
        uint56 seatIndex = uint56(requestId >> 8);
        uint8 generation = uint8(requestId);
        StoredInstance storage record = _instances[msg.sender][seatIndex];
        StoredInstance memory previous = record;

        if (generation != 0 && generation == previous.generation) {
            if (
                previous.customer != customer
                    || InstanceType.unwrap(previous.instanceType) != InstanceType.unwrap(instanceType)
            ) {
                revert MeteringRequestMismatch(id, previous.customer, previous.instanceType);
            }
            InstanceStatus status = _status(previous.state);
            DenialReason first = _reason(previous.state);
            emit ActivationReplayed(id, customer, status, first);
            return Decision(status != InstanceStatus.Denied, first);
        }
        if (uint256(generation) != uint256(previous.generation) + 1) {
            revert MeteringUnexpectedGeneration(id, previous.generation);
        }
        if (_status(previous.state) == InstanceStatus.Open) {
            bytes32 occupant = instanceIdOf(msg.sender, (uint64(seatIndex) << 8) | previous.generation);
            if (block.timestamp < previous.leaseEnd) revert MeteringSeatBusy(occupant, previous.leaseEnd);
            // Its billing stopped at its lease end; the seat moves on to the next generation.
            emit LeaseExpired(occupant, previous.customer, previous.instanceType, previous.timeframe, previous.leaseEnd);
        }

        Outcome memory o;
        if (TimeframeId.unwrap(active.id) == 0) {
            o.reason = DenialReason.NoActiveTimeframe;
        } else {
            o = _decide(msg.sender, customer, instanceType, active, leaseSeconds, false);
        }
        if (o.reason != DenialReason.None) {
            _instances[msg.sender][seatIndex] = StoredInstance(
                customer, 0, active.id, instanceType, generation, NO_SEAT, _state(InstanceStatus.Denied, o.reason)
            );
            emit ActivationDenied(id, customer, instanceType, active.id, o.reason);
            return Decision(false, o.reason);
        }
        _instances[msg.sender][seatIndex] = StoredInstance(
            customer, o.leaseEnd, active.id, instanceType, generation, o.seat, _state(InstanceStatus.Open, DenialReason.None)
        );
        emit ActivationGranted(id, customer, instanceType, active.id, uint40(block.timestamp), o.leaseEnd, o.overage);
        return Decision(true, DenialReason.None);
    }

    /// @dev Decides a new activation or a continuation for `customer` by `agent` in the active timeframe and, when
    /// granted, commits it to the usage counters, the seats and the customer's spending. Requires an active
    /// timeframe.
    function _decide(
        address agent,
        address customer,
        InstanceType instanceType,
        Cursor memory active,
        uint32 leaseSeconds,
        bool continuation
    ) private returns (Outcome memory o) {
        o.seat = NO_SEAT;
        StoredRules memory r = _rules[active.id][instanceType];
        if (!r.configured) {
            o.reason = DenialReason.NoRulesForType;
            return o;
        }
        CustomerAccount memory account = _customers[customer];
        if (account.status != CustomerStatus.Enrolled) {
            o.reason =
                account.status == CustomerStatus.None ? DenialReason.CustomerNotEnrolled : DenialReason.CustomerSuspended;
            return o;
        }
        if (account.restricted && !_approved[customer][agent]) {
            o.reason = DenialReason.AgentNotApproved;
            return o;
        }
        StoredUsage memory u = _usage[customer][active.id][instanceType];
        uint40 now_ = uint40(block.timestamp);
        if (r.maxConcurrent != 0) o.seat = _freeSeat(u, customer, active.id, instanceType, r.maxConcurrent, now_);
        (o.reason, o.overage) =
            ActivationPolicy.decide(r.maxConcurrent != 0 && o.seat == NO_SEAT, r.maxActivations, r.mode, u.activations, continuation);
        if (o.reason != DenialReason.None) return o;

        o.leaseEnd = Leases.expiry(now_, leaseSeconds, active.end, 0);
        // Cannot underflow: the lease ends after now, and now is at or after the timeframe's start.
        uint64 leased = u.leasedSeconds + (o.leaseEnd - (continuation ? active.start : now_));
        uint256 cost = uint256(
            Pricing.timeDelta(u.leasedSeconds, leased, r.includedSeconds, r.pricePerTimeUnit, r.timeUnitSeconds)
        );
        if (continuation) {
            cost += _continuationPrice[active.id][instanceType];
        } else if (u.activations >= r.includedActivations) {
            cost += r.pricePerActivation;
        }
        uint256 committed = (TimeframeId.unwrap(account.spentTimeframe) == TimeframeId.unwrap(active.id) ? account.spent : 0) + cost;
        if (account.spendingCap != 0 && committed > uint256(account.spendingCap) * PRICE_SCALE) {
            o.reason = DenialReason.SpendingCapReached;
            o.overage = false;
            o.seat = NO_SEAT;
            return o;
        }

        if (!continuation) {
            u.activations += 1;
            if (o.overage) u.overageActivations += 1;
        }
        u.leasedSeconds = leased;
        if (o.seat != NO_SEAT) _setSeat(u, customer, active.id, instanceType, o.seat, o.leaseEnd);
        _usage[customer][active.id][instanceType] = u;
        account.spentTimeframe = active.id;
        account.spent = uint96(committed);
        _customers[customer] = account;
    }

    /// @dev Extends an open, unexpired lease, or records why not.
    function _renew(bytes32 instanceId, address agent, uint56 seatIndex, StoredInstance memory inst, uint32 leaseSeconds)
        private
        returns (Decision memory, uint40)
    {
        CustomerAccount memory account = _customers[inst.customer];
        DenialReason reason;
        if (account.status != CustomerStatus.Enrolled) {
            reason = DenialReason.CustomerSuspended;
        } else if (account.restricted && !_approved[inst.customer][agent]) {
            reason = DenialReason.AgentNotApproved;
        }
        uint40 leaseEnd;
        if (reason == DenialReason.None) {
            StoredRules memory r = _rules[inst.timeframe][inst.instanceType];
            leaseEnd = Leases.expiry(uint40(block.timestamp), leaseSeconds, _timeframes[inst.timeframe].end, inst.leaseEnd);
            StoredUsage memory u = _usage[inst.customer][inst.timeframe][inst.instanceType];
            // Cannot underflow: Leases.expiry never returns less than the current lease end.
            uint64 leased = u.leasedSeconds + (leaseEnd - inst.leaseEnd);
            // Cannot be negative: more seconds never cost less.
            uint256 committed = uint256(account.spent)
                + uint256(Pricing.timeDelta(u.leasedSeconds, leased, r.includedSeconds, r.pricePerTimeUnit, r.timeUnitSeconds));
            if (account.spendingCap != 0 && committed > uint256(account.spendingCap) * PRICE_SCALE) {
                reason = DenialReason.SpendingCapReached;
            } else {
                u.leasedSeconds = leased;
                if (inst.seat != NO_SEAT) _setSeat(u, inst.customer, inst.timeframe, inst.instanceType, inst.seat, leaseEnd);
                _usage[inst.customer][inst.timeframe][inst.instanceType] = u;
                // The account's spending is this timeframe's: every grant in it wrote it, and it is still running.
                _customers[inst.customer].spent = uint96(committed);
                _instances[agent][seatIndex].leaseEnd = leaseEnd;
                emit LeaseRenewed(instanceId, inst.customer, inst.instanceType, inst.timeframe, leaseEnd);
                return (Decision(true, DenialReason.None), leaseEnd);
            }
        }
        emit LeaseRenewalDenied(instanceId, inst.customer, inst.instanceType, inst.timeframe, reason);
        return (Decision(false, reason), 0);
    }

    /// @dev Stops an open, unexpired instance now: gives back the unexpired remainder of its lease (seconds and
    /// what they committed) and frees its seat. Returns the second billing stopped.
    function _stop(address agent, uint56 seatIndex, StoredInstance memory inst) private returns (uint40 now_) {
        now_ = uint40(block.timestamp);
        StoredUsage memory u = _usage[inst.customer][inst.timeframe][inst.instanceType];
        StoredRules memory r = _rules[inst.timeframe][inst.instanceType];
        // Cannot underflow: the unexpired remainder was added when the lease was granted or renewed.
        uint64 leased = u.leasedSeconds - (inst.leaseEnd - now_);
        int256 refund =
            Pricing.timeDelta(leased, u.leasedSeconds, r.includedSeconds, r.pricePerTimeUnit, r.timeUnitSeconds);
        u.leasedSeconds = leased;
        // A freed seat holds a time that has come (never 0), so its page stays a non-zero slot.
        if (inst.seat != NO_SEAT) _setSeat(u, inst.customer, inst.timeframe, inst.instanceType, inst.seat, now_);
        _usage[inst.customer][inst.timeframe][inst.instanceType] = u;
        if (refund != 0) {
            CustomerAccount storage account = _customers[inst.customer];
            // Cannot underflow: the refund was committed by this timeframe's grants and renewals.
            account.spent -= uint96(uint256(refund));
        }
        StoredInstance storage stored = _instances[agent][seatIndex];
        stored.leaseEnd = now_;
        stored.state = _state(InstanceStatus.Closed, DenialReason.None);
    }

    /// @dev Closes an open instance whose lease has run out. Its seconds were counted up to the lease end already,
    /// and its seat freed itself at that second: only the record changes.
    function _closeExpired(bytes32 instanceId, address agent, uint56 seatIndex, StoredInstance memory inst) private {
        _instances[agent][seatIndex].state = _state(InstanceStatus.Closed, DenialReason.None);
        emit LeaseExpired(instanceId, inst.customer, inst.instanceType, inst.timeframe, inst.leaseEnd);
    }

    // ------------------------------------------------------------------ internals: seats

    /// @dev The first seat (below `maxConcurrent`) whose lease has ended, or `NO_SEAT`.
    function _freeSeat(
        StoredUsage memory u,
        address customer,
        TimeframeId timeframe_,
        InstanceType instanceType,
        uint16 maxConcurrent,
        uint40 now_
    ) private view returns (uint8) {
        if (u.seat0 <= now_) return 0;
        if (maxConcurrent > 1 && u.seat1 <= now_) return 1;
        if (maxConcurrent > 2 && u.seat2 <= now_) return 2;
        for (uint256 k = INLINE_SEATS; k < maxConcurrent; ++k) {
            (uint40[6] storage page, uint256 i) = _page(customer, timeframe_, instanceType, k);
            // Cannot truncate: k < MAX_CONCURRENT < NO_SEAT.
            if (page[i] <= now_) return uint8(k);
        }
        return NO_SEAT;
    }

    /// @dev The lease end held by seat `k`.
    function _seatEnd(StoredUsage memory u, address customer, TimeframeId timeframe_, InstanceType instanceType, uint256 k)
        private
        view
        returns (uint40)
    {
        if (k == 0) return u.seat0;
        if (k == 1) return u.seat1;
        if (k == 2) return u.seat2;
        (uint40[6] storage page, uint256 i) = _page(customer, timeframe_, instanceType, k);
        return page[i];
    }

    /// @dev The page that holds seat `k` (at least `INLINE_SEATS`), and the seat's place in it.
    function _page(address customer, TimeframeId timeframe_, InstanceType instanceType, uint256 k)
        private
        view
        returns (uint40[6] storage page, uint256 i)
    {
        // Cannot underflow: k >= INLINE_SEATS.
        unchecked {
            k -= INLINE_SEATS;
        }
        return (_seatPages[customer][timeframe_][instanceType][k / PAGE_SEATS], k % PAGE_SEATS);
    }

    /// @dev Sets seat `k` to `leaseEnd`: in `u` (written by the caller) for the first three, in its page otherwise.
    function _setSeat(
        StoredUsage memory u,
        address customer,
        TimeframeId timeframe_,
        InstanceType instanceType,
        uint8 k,
        uint40 leaseEnd
    ) private {
        if (k == 0) u.seat0 = leaseEnd;
        else if (k == 1) u.seat1 = leaseEnd;
        else if (k == 2) u.seat2 = leaseEnd;
        else {
            (uint40[6] storage page, uint256 i) = _page(customer, timeframe_, instanceType, k);
            page[i] = leaseEnd;
        }
    }

    // ------------------------------------------------------------------ internals: records

    function _openInstance(bytes32 instanceId, address agent, uint56 seatIndex, uint8 generation)
        private
        view
        returns (StoredInstance memory inst)
    {
        inst = _instances[agent][seatIndex];
        if (inst.generation != generation || generation == 0 || !_wellFormed(instanceId)) {
            revert MeteringInstanceNotOpen(instanceId, InstanceStatus.Unknown);
        }
        InstanceStatus status = _status(inst.state);
        if (status != InstanceStatus.Open) revert MeteringInstanceNotOpen(instanceId, status);
    }

    function _callerAccount() private view returns (CustomerAccount storage account) {
        account = _customers[msg.sender];
        if (account.status == CustomerStatus.None) revert MeteringNotCustomer(msg.sender);
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

    function _state(InstanceStatus status, DenialReason reason) private pure returns (uint8) {
        return uint8(status) | (uint8(reason) << 2);
    }

    function _status(uint8 state) private pure returns (InstanceStatus) {
        return InstanceStatus(state & 3);
    }

    function _reason(uint8 state) private pure returns (DenialReason) {
        return DenialReason(state >> 2);
    }

    function _existingTimeframe(TimeframeId id) private view returns (Timeframe storage tf) {
        if (TimeframeId.unwrap(id) == 0 || TimeframeId.unwrap(id) > _cursor.count) {
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

    /// @dev The cursor, moved forward and stored when needed; its `id` is active only if `start <= now < end`, and
    /// is replaced by 0 here otherwise.
    function _activeTimeframe() private returns (Cursor memory c) {
        bool moved;
        (c, moved) = _findActive();
        if (moved) _cursor = c;
        if (block.timestamp < c.start || block.timestamp >= c.end) {
            c.id = TimeframeId.wrap(0);
        }
    }

    /// @dev The first timeframe that has not ended yet. Timeframes are created in order and never overlap, so their
    /// ends increase with their ids: the ones not looked at yet (after `walked`) are searched by bisection, in
    /// O(log n) reads however many ended since the last call. `walked` remembers how far the search got, so a
    /// timeframe found ended is never looked at again, also when every timeframe has ended.
    function _findActive() private view returns (Cursor memory c, bool moved) {
        c = _cursor;
        if (block.timestamp < c.end) return (c, false);
        uint16 count = c.count;
        if (c.walked == count) return (c, false);
        // The first id in (walked, count] whose end is after now, or count + 1 when all have ended.
        uint256 low = uint256(c.walked) + 1;
        uint256 high = uint256(count) + 1;
        while (low < high) {
            uint256 mid = (low + high) / 2;
            // Cannot truncate: mid <= count, a uint16.
            if (block.timestamp < _timeframes[TimeframeId.wrap(uint16(mid))].end) high = mid;
            else low = mid + 1;
        }
        moved = true;
        if (low > count) {
            c.walked = count;
            return (c, moved);
        }
        // Cannot truncate: low <= count, a uint16.
        TimeframeId id = TimeframeId.wrap(uint16(low));
        Timeframe storage tf = _timeframes[id];
        c = Cursor(count, uint16(low), id, tf.start, tf.end);
    }
}
