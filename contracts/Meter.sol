// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {TimeframeId, InstanceType} from "./types/Ids.sol";
import {IMeter} from "./interfaces/IMeter.sol";
import {ActivationPolicy} from "./libraries/ActivationPolicy.sol";
import {Leases} from "./libraries/Leases.sol";

/// @title Usage metering contract. See {IMeter} for the behaviour of every function.
/// @dev Storage is private and laid out for the hot path: a granted activation reads the agent's role, the cached
/// active timeframe, the rules' limits, the customer's status and usage (one slot each) and writes one new
/// instance slot plus the usage slot. No function loops over users' data: every loop is bounded by calldata, except
/// the walk over ended timeframes when the active one changes, which passes each timeframe once in the contract's life.
contract Meter is IMeter, AccessControlDefaultAdminRules {
    /// @inheritdoc IMeter
    uint256 public constant MAX_BATCH = 256;
    /// @inheritdoc IMeter
    bytes32 public constant RULES_MANAGER_ROLE = keccak256("RULES_MANAGER_ROLE");
    /// @inheritdoc IMeter
    bytes32 public constant AGENT_ROLE = keccak256("AGENT_ROLE");

    /// @dev Rules as stored: the caller's {Rules} plus a flag, packed so that the limits, the mode and the flag
    /// share the second slot (the only one an activation reads).
    struct StoredRules {
        uint128 pricePerActivation;
        uint128 pricePerSecond;
        uint64 includedActivations;
        uint64 includedSeconds;
        uint32 maxConcurrent;
        uint32 maxActivations;
        LimitMode mode;
        bool configured;
    }

    /// @dev The first timeframe that had not ended when last looked at, cached with its bounds in one slot.
    struct Cursor {
        TimeframeId id;
        uint40 start;
        uint40 end;
    }

    uint16 private _timeframeCount;
    Cursor private _cursor;
    mapping(TimeframeId => Timeframe) private _timeframes;
    mapping(TimeframeId => mapping(InstanceType => StoredRules)) private _rules;
    mapping(address => CustomerStatus) private _customers;
    mapping(address => mapping(TimeframeId => mapping(InstanceType => Usage))) private _usage;
    mapping(bytes32 => Instance) private _instances;
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
        uint16 count = _timeframeCount;
        if (count == type(uint16).max) revert MeteringTimeframeIdsExhausted();
        if (count != 0) {
            uint40 previousEnd = _timeframes[TimeframeId.wrap(count)].end;
            if (start < previousEnd) revert MeteringTimeframeOverlap(start, previousEnd);
        }
        // Cannot overflow: checked against type(uint16).max above.
        unchecked {
            count += 1;
        }
        _timeframeCount = count;
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
        _rules[timeframe_][instanceType] = StoredRules({
            pricePerActivation: r.pricePerActivation,
            pricePerSecond: r.pricePerSecond,
            includedActivations: r.includedActivations,
            includedSeconds: r.includedSeconds,
            maxConcurrent: r.maxConcurrent,
            maxActivations: r.maxActivations,
            mode: r.mode,
            configured: true
        });
        hash = keccak256(abi.encode(timeframe_, instanceType, r));
        emit RulesSet(
            timeframe_,
            instanceType,
            hash,
            r.pricePerActivation,
            r.pricePerSecond,
            r.includedActivations,
            r.includedSeconds,
            r.maxConcurrent,
            r.maxActivations,
            r.mode
        );
    }

    /// @inheritdoc IMeter
    function enrollCustomer(address customer) external onlyRole(RULES_MANAGER_ROLE) {
        if (customer == address(0)) revert MeteringInvalidCustomer(customer);
        if (_customers[customer] == CustomerStatus.Enrolled) return;
        _customers[customer] = CustomerStatus.Enrolled;
        emit CustomerEnrolled(customer);
    }

    /// @inheritdoc IMeter
    function suspendCustomer(address customer) external onlyRole(RULES_MANAGER_ROLE) {
        CustomerStatus status = _customers[customer];
        if (status == CustomerStatus.None) revert MeteringInvalidCustomer(customer);
        if (status == CustomerStatus.Suspended) return;
        _customers[customer] = CustomerStatus.Suspended;
        emit CustomerSuspended(customer);
    }

    /// @inheritdoc IMeter
    function anchorInvoice(address customer, TimeframeId timeframe_, bytes32 invoiceHash, uint256 total)
        external
        onlyRole(RULES_MANAGER_ROLE)
    {
        if (invoiceHash == bytes32(0)) revert MeteringZeroInvoiceHash();
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

    // ------------------------------------------------------------------ agents

    /// @inheritdoc IMeter
    function requestActivation(address customer, InstanceType instanceType, bytes32 requestId, uint32 leaseSeconds)
        external
        onlyRole(AGENT_ROLE)
        returns (Decision memory)
    {
        (TimeframeId active, uint40 end) = _activeTimeframe();
        return _activate(customer, instanceType, requestId, leaseSeconds, active, end);
    }

    /// @inheritdoc IMeter
    function requestActivations(ActivationRequest[] calldata requests)
        external
        onlyRole(AGENT_ROLE)
        returns (Decision[] memory decisions)
    {
        uint256 n = requests.length;
        if (n > MAX_BATCH) revert MeteringBatchTooLarge(n, MAX_BATCH);
        (TimeframeId active, uint40 end) = _activeTimeframe();
        decisions = new Decision[](n);
        for (uint256 i; i < n; ++i) {
            ActivationRequest calldata q = requests[i];
            decisions[i] = _activate(q.customer, q.instanceType, q.requestId, q.leaseSeconds, active, end);
        }
    }

    /// @inheritdoc IMeter
    function renewLease(bytes32 instanceId, uint32 leaseSeconds)
        external
        onlyRole(AGENT_ROLE)
        returns (Decision memory decision, bytes32 runningId, uint40 leaseEnd)
    {
        if (leaseSeconds == 0) revert MeteringZeroLease(instanceId);
        Instance memory inst = _openInstance(instanceId);
        uint40 now_ = uint40(block.timestamp);

        if (now_ < inst.leaseEnd) {
            if (_customers[inst.customer] != CustomerStatus.Enrolled) {
                emit LeaseRenewalDenied(
                    instanceId, inst.customer, inst.instanceType, inst.timeframe, DenialReason.CustomerSuspended
                );
                return (Decision(false, DenialReason.CustomerSuspended), instanceId, 0);
            }
            leaseEnd = Leases.expiry(now_, leaseSeconds, _timeframes[inst.timeframe].end, inst.leaseEnd);
            Usage storage u = _usage[inst.customer][inst.timeframe][inst.instanceType];
            // Cannot underflow: Leases.expiry never returns less than the current lease end.
            unchecked {
                u.leasedSeconds += leaseEnd - inst.leaseEnd;
            }
            _instances[instanceId].leaseEnd = leaseEnd;
            emit LeaseRenewed(instanceId, inst.customer, inst.instanceType, inst.timeframe, leaseEnd);
            return (Decision(true, DenialReason.None), instanceId, leaseEnd);
        }

        // The lease has run out: billing stopped at its end.
        _closeExpired(instanceId, inst);
        if (inst.leaseEnd < _timeframes[inst.timeframe].end) {
            emit LeaseRenewalDenied(
                instanceId, inst.customer, inst.instanceType, inst.timeframe, DenialReason.LeaseExpired
            );
            return (Decision(false, DenialReason.LeaseExpired), instanceId, 0);
        }
        // It ran to the end of its timeframe: continuing is a new authorization under the rules in force now.
        runningId = successorOf(instanceId);
        (TimeframeId active, uint40 end) = _activeTimeframe();
        decision = _activate(inst.customer, inst.instanceType, runningId, leaseSeconds, active, end);
        if (decision.granted) leaseEnd = _instances[runningId].leaseEnd;
    }

    /// @inheritdoc IMeter
    function deactivate(bytes32 instanceId) external onlyRole(AGENT_ROLE) {
        Instance memory inst = _openInstance(instanceId);
        uint40 now_ = uint40(block.timestamp);
        if (now_ >= inst.leaseEnd) {
            _closeExpired(instanceId, inst);
            return;
        }
        Usage storage u = _usage[inst.customer][inst.timeframe][inst.instanceType];
        // Cannot underflow: an open instance is counted in `active`, and its unexpired remainder
        // `leaseEnd - now` was added to `leasedSeconds` when the lease was granted or renewed.
        unchecked {
            u.active -= 1;
            u.leasedSeconds -= inst.leaseEnd - now_;
        }
        Instance storage stored = _instances[instanceId];
        stored.status = InstanceStatus.Closed;
        stored.leaseEnd = now_;
        emit InstanceDeactivated(instanceId, inst.customer, inst.instanceType, inst.timeframe, now_);
    }

    /// @inheritdoc IMeter
    function expireLeases(bytes32[] calldata instanceIds) external returns (uint256 closed) {
        uint256 n = instanceIds.length;
        if (n > MAX_BATCH) revert MeteringBatchTooLarge(n, MAX_BATCH);
        for (uint256 i; i < n; ++i) {
            bytes32 id = instanceIds[i];
            Instance memory inst = _instances[id];
            if (inst.status == InstanceStatus.Open && block.timestamp >= inst.leaseEnd) {
                _closeExpired(id, inst);
                ++closed;
            }
        }
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IMeter
    function timeframeCount() external view returns (uint256) {
        return _timeframeCount;
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
        r = Rules(
            s.pricePerActivation,
            s.pricePerSecond,
            s.includedActivations,
            s.includedSeconds,
            s.maxConcurrent,
            s.maxActivations,
            s.mode
        );
        configured = s.configured;
    }

    /// @inheritdoc IMeter
    function rulesHash(TimeframeId timeframe_, InstanceType instanceType) external view returns (bytes32) {
        (Rules memory r, bool configured) = rules(timeframe_, instanceType);
        return configured ? keccak256(abi.encode(timeframe_, instanceType, r)) : bytes32(0);
    }

    /// @inheritdoc IMeter
    function customerStatus(address customer) external view returns (CustomerStatus) {
        return _customers[customer];
    }

    /// @inheritdoc IMeter
    function usage(address customer, TimeframeId timeframe_, InstanceType instanceType)
        external
        view
        returns (Usage memory)
    {
        return _usage[customer][timeframe_][instanceType];
    }

    /// @inheritdoc IMeter
    function instance(bytes32 instanceId) external view returns (Instance memory) {
        return _instances[instanceId];
    }

    /// @inheritdoc IMeter
    function successorOf(bytes32 instanceId) public pure returns (bytes32) {
        return keccak256(abi.encode(instanceId));
    }

    /// @inheritdoc IMeter
    function invoiceAnchor(address customer, TimeframeId timeframe_) external view returns (InvoiceAnchor memory) {
        return _invoices[customer][timeframe_];
    }

    // ------------------------------------------------------------------ internals

    /// @dev Decides one activation request and records the decision. The only place grants and denials happen.
    function _activate(
        address customer,
        InstanceType instanceType,
        bytes32 requestId,
        uint32 leaseSeconds,
        TimeframeId active,
        uint40 timeframeEnd
    ) private returns (Decision memory) {
        if (customer == address(0)) revert MeteringInvalidCustomer(customer);
        if (leaseSeconds == 0) revert MeteringZeroLease(requestId);

        Instance storage record = _instances[requestId];
        InstanceStatus status = record.status;
        if (status != InstanceStatus.Unknown) {
            address recorded = record.customer;
            if (recorded != customer) revert MeteringRequestIdConflict(requestId, recorded);
            DenialReason previous = record.reason;
            emit ActivationReplayed(requestId, customer, status, previous);
            return Decision(status != InstanceStatus.Denied, previous);
        }

        DenialReason reason;
        bool overage;
        if (TimeframeId.unwrap(active) == 0) {
            reason = DenialReason.NoActiveTimeframe;
        } else {
            StoredRules storage r = _rules[active][instanceType];
            CustomerStatus cs = _customers[customer];
            if (!r.configured) {
                reason = DenialReason.NoRulesForType;
            } else if (cs != CustomerStatus.Enrolled) {
                reason = cs == CustomerStatus.None ? DenialReason.CustomerNotEnrolled : DenialReason.CustomerSuspended;
            } else {
                Usage memory u = _usage[customer][active][instanceType];
                (reason, overage) = ActivationPolicy.decide(r.maxConcurrent, r.maxActivations, r.mode, u.active, u.activations);
                if (reason == DenialReason.None) {
                    return _grant(customer, instanceType, requestId, leaseSeconds, active, timeframeEnd, u, overage);
                }
            }
        }
        _instances[requestId] = Instance(customer, 0, active, instanceType, InstanceStatus.Denied, reason);
        emit ActivationDenied(requestId, customer, instanceType, active, reason);
        return Decision(false, reason);
    }

    function _grant(
        address customer,
        InstanceType instanceType,
        bytes32 requestId,
        uint32 leaseSeconds,
        TimeframeId active,
        uint40 timeframeEnd,
        Usage memory u,
        bool overage
    ) private returns (Decision memory) {
        uint40 now_ = uint40(block.timestamp);
        uint40 leaseEnd = Leases.expiry(now_, leaseSeconds, timeframeEnd, 0);
        u.active += 1;
        u.activations += 1;
        if (overage) u.overageActivations += 1;
        u.leasedSeconds += leaseEnd - now_;
        _usage[customer][active][instanceType] = u;
        _instances[requestId] = Instance(customer, leaseEnd, active, instanceType, InstanceStatus.Open, DenialReason.None);
        emit ActivationGranted(requestId, customer, instanceType, active, now_, leaseEnd, overage);
        return Decision(true, DenialReason.None);
    }

    /// @dev Closes an open instance whose lease has run out. Its seconds were counted up to the lease end already.
    function _closeExpired(bytes32 instanceId, Instance memory inst) private {
        // Cannot underflow: an open instance is counted in `active`.
        unchecked {
            _usage[inst.customer][inst.timeframe][inst.instanceType].active -= 1;
        }
        _instances[instanceId].status = InstanceStatus.Closed;
        emit LeaseExpired(instanceId, inst.customer, inst.instanceType, inst.timeframe, inst.leaseEnd);
    }

    function _openInstance(bytes32 instanceId) private view returns (Instance memory inst) {
        inst = _instances[instanceId];
        if (inst.status != InstanceStatus.Open) revert MeteringInstanceNotOpen(instanceId, inst.status);
    }

    function _existingTimeframe(TimeframeId id) private view returns (Timeframe storage tf) {
        if (TimeframeId.unwrap(id) == 0 || TimeframeId.unwrap(id) > _timeframeCount) {
            revert MeteringUnknownTimeframe(id);
        }
        return _timeframes[id];
    }

    /// @dev The active timeframe and its end (0, 0 when none), moving the cached cursor forward when needed.
    function _activeTimeframe() private returns (TimeframeId, uint40) {
        (Cursor memory c, bool moved) = _findActive();
        if (moved) _cursor = c;
        if (block.timestamp >= c.start && block.timestamp < c.end) return (c.id, c.end);
        return (TimeframeId.wrap(0), 0);
    }

    /// @dev The first timeframe that has not ended yet (the cursor), walking past the ones that ended since the
    /// cursor was last moved. Each timeframe is walked past once in the contract's life, so this is O(1) amortised.
    function _findActive() private view returns (Cursor memory c, bool moved) {
        c = _cursor;
        if (block.timestamp < c.end) return (c, false);
        uint16 count = _timeframeCount;
        for (uint256 next = uint256(TimeframeId.unwrap(c.id)) + 1; next <= count; ++next) {
            // Cannot truncate: next <= count, a uint16.
            TimeframeId id = TimeframeId.wrap(uint16(next));
            Timeframe storage tf = _timeframes[id];
            if (block.timestamp < tf.end) return (Cursor(id, tf.start, tf.end), true);
        }
        return (c, false);
    }
}
