// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IMeter} from "../../../contracts/interfaces/IMeter.sol";
import {IMeteringTypes} from "../../../contracts/interfaces/IMeteringTypes.sol";
import {TimeframeId, InstanceType} from "../../../contracts/types/Ids.sol";
import {MeterFixture} from "../../utils/MeterFixture.sol";
import {Vm, vm} from "../../utils/Vm.sol";

/// @title The invariant suite's memory: the actors, and what the meter's events said happened.
/// @dev Handlers run every call with `vm.recordLogs()` and hand the logs here, with the caller. The ghost state is
/// rebuilt from the events alone (never from the meter's views), so comparing it with the views checks that the
/// counters equal the sums of the events' effects. Anything that should never happen (an instance touched by an
/// agent that does not hold it, a call a non-holder should not get through, a cap crossed, a continuation with a
/// billing gap) is counted in a `violations` counter, with the first message kept: a handler cannot fail the run
/// by reverting (forge ignores reverting calls), so the invariants assert these counters are zero.
contract GhostStore {
    using MeterFixture for *;

    struct Ghost {
        address holder; // the agent whose call created it
        address customer;
        uint16 timeframe;
        uint16 instanceType;
        IMeteringTypes.InstanceStatus status;
        bool seated; // granted within the concurrency limit of a type that has one (holds a seat)
        uint40 startedAt; // billing start of its current timeframe's lease (grant time or timeframe start)
        uint40 leaseEnd; // current lease end; the second billing stopped once closed
    }

    /// @dev Sums per (customer, timeframe, type), built from events.
    struct Sums {
        uint64 activations;
        uint64 overage;
        uint64 continuations;
        uint64 leasedSeconds;
    }

    /// @dev A (customer, timeframe, type) whose counters an event changed.
    struct Key {
        address customer;
        uint16 timeframe;
        uint16 instanceType;
    }

    IMeter public immutable meter;
    address public immutable provider;
    address[] internal _agents;
    address[] internal _customers; // the last one is never enrolled
    address[] internal _outsiders;

    uint256 public time;
    mapping(bytes32 => Ghost) internal _ghosts;
    bytes32[] internal _ids; // every id the meter decided
    mapping(address => bytes32[]) internal _idsOf; // per holding agent
    mapping(bytes32 key => Sums) internal _sums;
    mapping(bytes32 key => bytes32[]) internal _leasesIn; // ids granted or continued into (customer, timeframe, type)
    mapping(address customer => mapping(uint16 timeframe => uint256)) internal _lastSpent;
    /// @dev The customers' choices, from their events: 1 approved, 2 revoked (0 neither), and the restriction.
    mapping(address customer => mapping(address agent => uint8)) internal _stance;
    mapping(address customer => bool) internal _restricted;

    /// @dev The meter's continuation grace (IMeter.CONTINUATION_GRACE_SECONDS).
    uint40 internal constant GRACE = 15 minutes;

    Key[] internal _dirty; // keys changed by the current handler call

    uint256 public violations;
    string public firstViolation;
    mapping(string => uint256) public calls;
    /// @dev How often each event was seen, and each denial reason (both grants and renewals): what the run reached.
    mapping(bytes32 eventSelector => uint256) public eventCount;
    mapping(uint8 reason => uint256) public denials;

    constructor(IMeter meter_, address provider_, address[] memory agents_, address[] memory customers_, address[] memory outsiders_) {
        meter = meter_;
        provider = provider_;
        _agents = agents_;
        _customers = customers_;
        _outsiders = outsiders_;
        time = block.timestamp;
    }

    // ------------------------------------------------------------------ actors

    function agent(uint256 seed) external view returns (address) {
        return _agents[seed % _agents.length];
    }

    function customer(uint256 seed) external view returns (address) {
        return _customers[seed % _customers.length];
    }

    function outsider(uint256 seed) external view returns (address) {
        return _outsiders[seed % _outsiders.length];
    }

    /// @dev The customer an agent bills: one of the enrollable ones, or (1 time in 16) the never enrolled one.
    function billedCustomer(uint256 seed) external view returns (address) {
        uint256 n = _customers.length;
        return seed % 16 == 0 ? _customers[n - 1] : _customers[(seed >> 4) % (n - 1)];
    }

    /// @dev The customer the provider never enrolls.
    function unenrolled() external view returns (address) {
        return _customers[_customers.length - 1];
    }

    function agents() external view returns (address[] memory) {
        return _agents;
    }

    function customers() external view returns (address[] memory) {
        return _customers;
    }

    /// @dev Any actor but `not`: another agent, an outsider, a customer or the provider.
    function anyoneBut(uint256 seed, address except) external view returns (address who) {
        uint256 n = _agents.length + _outsiders.length + _customers.length + 1;
        for (uint256 k; k < n; ++k) {
            uint256 i = (seed % n + k) % n;
            if (i < _agents.length) who = _agents[i];
            else if ((i -= _agents.length) < _outsiders.length) who = _outsiders[i];
            else if ((i -= _outsiders.length) < _customers.length) who = _customers[i];
            else who = provider;
            if (who != except) return who;
        }
    }

    // ------------------------------------------------------------------ time and bookkeeping

    /// @dev The lease length each request id was submitted with (a replay must repeat it).
    mapping(bytes32 id => uint32) public requestedLease;

    function noteLease(bytes32 id, uint32 leaseSeconds) external {
        requestedLease[id] = leaseSeconds;
    }

    function setTime(uint256 t) external {
        time = t;
    }

    /// @dev Called as each handler call starts: the invariants that follow check what this call changed.
    function beginStep() external {
        delete _dirty;
    }

    function dirty() external view returns (Key[] memory) {
        return _dirty;
    }

    function countCall(string calldata name) external {
        calls[name] += 1;
    }

    function flag(string memory why) public {
        if (violations == 0) firstViolation = why;
        violations += 1;
    }

    // ------------------------------------------------------------------ ghost instances

    function idCount() external view returns (uint256) {
        return _ids.length;
    }

    function idAt(uint256 seed) external view returns (bytes32) {
        return _ids.length == 0 ? bytes32(0) : _ids[seed % _ids.length];
    }

    function idsOfCount(address holder) external view returns (uint256) {
        return _idsOf[holder].length;
    }

    function idOf(address holder, uint256 seed) external view returns (bytes32) {
        bytes32[] storage ids = _idsOf[holder];
        return ids.length == 0 ? bytes32(0) : ids[seed % ids.length];
    }

    /// @dev A recent id of `holder` (any holder when zero) whose ghost is open (its lease may have expired): the
    /// newest open one after skipping a seeded few, so renewals and closes reach live and just-ended leases; any id
    /// of it when none is open.
    function openIdOf(address holder, uint256 seed) external view returns (bytes32) {
        bytes32[] storage ids = holder == address(0) ? _ids : _idsOf[holder];
        uint256 n = ids.length;
        if (n == 0) return bytes32(0);
        uint256 skip = seed % 3;
        for (uint256 k = n; k > 0; --k) {
            bytes32 id = ids[k - 1];
            if (_ghosts[id].status != IMeteringTypes.InstanceStatus.Open) continue;
            if (skip == 0) return id;
            --skip;
        }
        return ids[seed % n];
    }

    /// @dev The newest id of `holder` still open whose lease has run out (to its timeframe's end, ideally): what an
    /// agent renews when it comes back late, which continues the lease into the next timeframe.
    function endedIdOf(address holder, uint256 seed) external view returns (bytes32) {
        bytes32[] storage ids = _idsOf[holder];
        uint256 skip = seed % 2;
        for (uint256 k = ids.length; k > 0; --k) {
            Ghost storage g = _ghosts[ids[k - 1]];
            if (g.status != IMeteringTypes.InstanceStatus.Open || g.leaseEnd > block.timestamp) continue;
            if (skip == 0) return ids[k - 1];
            --skip;
        }
        return bytes32(0);
    }

    /// @dev The newest open lease of `holder` that runs (or ran) to its timeframe's end and is still within its
    /// grace: what a keeper continues at the boundary, and what a third party would like to close first.
    function boundaryIdOf(address holder, uint256 seed) external view returns (bytes32) {
        bytes32[] storage ids = _idsOf[holder];
        uint256 skip = seed % 2;
        for (uint256 k = ids.length; k > 0; --k) {
            Ghost storage g = _ghosts[ids[k - 1]];
            if (g.status != IMeteringTypes.InstanceStatus.Open) continue;
            if (g.leaseEnd != meter.timeframe(MeterFixture.tf(g.timeframe)).end) continue;
            if (block.timestamp >= g.leaseEnd + GRACE) continue;
            if (skip == 0) return ids[k - 1];
            --skip;
        }
        return bytes32(0);
    }

    function ghost(bytes32 id) external view returns (Ghost memory) {
        return _ghosts[id];
    }

    function sums(address c, uint16 timeframe, uint16 instanceType) external view returns (Sums memory) {
        return _sums[_key(c, timeframe, instanceType)];
    }

    /// @dev Leases of (c, timeframe, type) that hold a seat now: open, seated and not expired.
    function liveSeated(address c, uint16 timeframe, uint16 instanceType)
        external
        view
        returns (uint256 seated, uint256 live)
    {
        return _liveSeated(c, timeframe, instanceType);
    }

    function _liveSeated(address c, uint16 timeframe, uint16 instanceType)
        internal
        view
        returns (uint256 seated, uint256 live)
    {
        bytes32[] storage ids = _leasesIn[_key(c, timeframe, instanceType)];
        for (uint256 i; i < ids.length; ++i) {
            Ghost storage g = _ghosts[ids[i]];
            if (
                g.status == IMeteringTypes.InstanceStatus.Open && g.timeframe == timeframe
                    && g.leaseEnd > block.timestamp
            ) {
                ++live;
                if (g.seated) ++seated;
            }
        }
    }

    // ------------------------------------------------------------------ events -> ghost state

    /// @dev Applies the effects of the meter's events emitted by one call of `caller`.
    function applyLogs(Vm.Log[] calldata logs, address caller) external {
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(meter)) continue;
            _applyOne(logs[i], caller);
        }
    }

    function _applyOne(Vm.Log calldata entry, address caller) internal {
        bytes32 sig = entry.topics[0];
        eventCount[sig] += 1;
        if (sig == IMeter.ActivationGranted.selector) {
            (uint16 tf, uint40 startedAt, uint40 leaseEnd, bool overage) =
                abi.decode(entry.data, (uint16, uint40, uint40, bool));
            _granted(entry.topics[1], _addr(entry.topics[2]), uint16(uint256(entry.topics[3])), tf, startedAt, leaseEnd, overage, caller);
        } else if (sig == IMeter.ActivationDenied.selector) {
            (uint16 tf, uint8 reason) = abi.decode(entry.data, (uint16, uint8));
            denials[reason] += 1;
            bytes32 id = entry.topics[1];
            _requireOwnId(id, caller, "denial recorded under another agent's id");
            _record(id, caller);
            _ghosts[id] = Ghost(caller, _addr(entry.topics[2]), tf, uint16(uint256(entry.topics[3])), IMeteringTypes.InstanceStatus.Denied, false, 0, 0);
        } else if (sig == IMeter.ActivationReplayed.selector) {
            bytes32 id = entry.topics[1];
            _requireOwnId(id, caller, "replay of another agent's id");
            if (_ghosts[id].customer != _addr(entry.topics[2])) flag("replay answered for another customer");
        } else if (sig == IMeter.LeaseContinued.selector) {
            (uint16 tf, uint40 startedAt, uint40 leaseEnd, bool overage) =
                abi.decode(entry.data, (uint16, uint40, uint40, bool));
            _continued(entry.topics[1], tf, startedAt, leaseEnd, overage, caller);
        } else if (sig == IMeter.LeaseRenewed.selector) {
            (uint16 tf, uint40 leaseEnd) = abi.decode(entry.data, (uint16, uint40));
            _renewed(entry.topics[1], tf, leaseEnd, caller);
        } else if (sig == IMeter.LeaseRenewalDenied.selector) {
            (uint16 tf, uint8 reason) = abi.decode(entry.data, (uint16, uint8));
            denials[reason] += 1;
            _requireHolder(entry.topics[1], caller, "renewal decided for a non-holder");
            Ghost storage g = _ghosts[entry.topics[1]];
            if (
                reason == uint8(IMeteringTypes.DenialReason.LeaseExpired) && tf == g.timeframe + 1 && _continuable(g)
                    && meter.timeframe(MeterFixture.tf(tf)).start == g.leaseEnd
            ) {
                flag("I7: a continuable boundary lease was denied as expired");
            }
        } else if (sig == IMeter.InstanceDeactivated.selector) {
            (, uint40 stoppedAt) = abi.decode(entry.data, (uint16, uint40));
            _requireHolder(entry.topics[1], caller, "deactivated by a non-holder");
            _stopped(entry.topics[1], stoppedAt);
        } else if (sig == IMeter.InstanceClosedByProvider.selector) {
            (, uint40 stoppedAt, address operator) = abi.decode(entry.data, (uint16, uint40, address));
            if (caller != provider || operator != provider) flag("closed by provider, but not by the provider");
            _stopped(entry.topics[1], stoppedAt);
        } else if (sig == IMeter.InstanceStoppedByCustomer.selector) {
            (, uint40 stoppedAt) = abi.decode(entry.data, (uint16, uint40));
            if (caller != _addr(entry.topics[2]) || _ghosts[entry.topics[1]].customer != caller) {
                flag("stopped by someone else than its customer");
            }
            _stopped(entry.topics[1], stoppedAt);
        } else if (sig == IMeter.LeaseExpired.selector) {
            (, uint40 leaseEnd) = abi.decode(entry.data, (uint16, uint40));
            Ghost storage g = _ghosts[entry.topics[1]];
            if (g.status != IMeteringTypes.InstanceStatus.Open) flag("expired an instance that was not open");
            if (g.leaseEnd != leaseEnd || block.timestamp < leaseEnd) flag("expired a lease before its end");
            if (caller != g.holder && caller != provider && caller != g.customer && _continuable(g)) {
                flag("I7: a third party closed a continuable boundary lease");
            }
            g.status = IMeteringTypes.InstanceStatus.Closed;
        } else if (sig == IMeter.AgentApproved.selector) {
            _stance[_addr(entry.topics[1])][_addr(entry.topics[2])] = 1;
        } else if (sig == IMeter.AgentRevoked.selector) {
            _stance[_addr(entry.topics[1])][_addr(entry.topics[2])] = 2;
        } else if (sig == IMeter.AgentRestrictionSet.selector) {
            _restricted[_addr(entry.topics[1])] = abi.decode(entry.data, (bool));
        }
    }

    function _granted(
        bytes32 id,
        address c,
        uint16 instanceType,
        uint16 tf,
        uint40 startedAt,
        uint40 leaseEnd,
        bool overage,
        address caller
    ) internal {
        _requireOwnId(id, caller, "granted under another agent's id");
        _checkLease(tf, startedAt, leaseEnd);
        _checkBillable(c, caller);
        _checkLeaseBound(tf, instanceType, leaseEnd);
        if (startedAt != block.timestamp) flag("grant not billed from now");
        bool seated = _takesSeat(c, tf, instanceType, overage);
        _record(id, caller);
        _ghosts[id] = Ghost(caller, c, tf, instanceType, IMeteringTypes.InstanceStatus.Open, seated, startedAt, leaseEnd);
        bytes32 key = _touch(c, tf, instanceType);
        Sums storage s = _sums[key];
        s.activations += 1;
        if (overage) s.overage += 1;
        s.leasedSeconds += leaseEnd - startedAt;
        _leasesIn[key].push(id);
    }

    function _continued(bytes32 id, uint16 tf, uint40 startedAt, uint40 leaseEnd, bool overage, address caller)
        internal
    {
        _requireHolder(id, caller, "continued by a non-holder");
        Ghost storage g = _ghosts[id];
        IMeteringTypes.Timeframe memory previous = meter.timeframe(MeterFixture.tf(g.timeframe));
        IMeteringTypes.Timeframe memory next = meter.timeframe(MeterFixture.tf(tf));
        // The lease ran to its timeframe's end, the next timeframe starts right there, and the renewal came within
        // the grace. It is billed from the next timeframe's start (no billing gap) unless a lease of the customer
        // held a seat since: then from a second between that start and now (the seat's freeing; I5 bounds the sum).
        if (tf != g.timeframe + 1 || g.leaseEnd != previous.end || next.start != previous.end) {
            flag("continuation of a lease that did not reach a boundary");
        }
        if (block.timestamp >= previous.end + GRACE) flag("continuation after the grace");
        bytes32 key = _key(g.customer, tf, g.instanceType);
        if (startedAt < next.start || startedAt > block.timestamp) flag("continuation billed outside the grace");
        if (startedAt != next.start && !_anySeated(key)) flag("continuation with a billing gap");
        _checkLease(tf, startedAt, leaseEnd);
        _checkBillable(g.customer, caller);
        _checkLeaseBound(tf, g.instanceType, leaseEnd);
        g.seated = _takesSeat(g.customer, tf, g.instanceType, overage); // before it counts in the new timeframe
        g.timeframe = tf;
        g.status = IMeteringTypes.InstanceStatus.Open;
        g.startedAt = startedAt;
        g.leaseEnd = leaseEnd;
        _touch(g.customer, tf, g.instanceType);
        Sums storage s = _sums[key];
        s.continuations += 1;
        s.leasedSeconds += leaseEnd - startedAt;
        _leasesIn[key].push(id);
    }

    function _renewed(bytes32 id, uint16 tf, uint40 leaseEnd, address caller) internal {
        _requireHolder(id, caller, "renewed by a non-holder");
        Ghost storage g = _ghosts[id];
        if (g.status != IMeteringTypes.InstanceStatus.Open || tf != g.timeframe) flag("renewed a closed instance");
        if (leaseEnd < g.leaseEnd || g.leaseEnd <= block.timestamp) flag("renewal shortened or revived a lease");
        _checkLease(tf, g.startedAt, leaseEnd);
        _checkBillable(g.customer, caller);
        if (leaseEnd > g.leaseEnd) _checkLeaseBound(tf, g.instanceType, leaseEnd);
        _sums[_touch(g.customer, tf, g.instanceType)].leasedSeconds += leaseEnd - g.leaseEnd;
        g.leaseEnd = leaseEnd;
    }

    function _stopped(bytes32 id, uint40 stoppedAt) internal {
        Ghost storage g = _ghosts[id];
        if (g.status != IMeteringTypes.InstanceStatus.Open) flag("stopped an instance that was not open");
        if (stoppedAt != block.timestamp || stoppedAt >= g.leaseEnd) flag("stopped at another time than now");
        _sums[_touch(g.customer, g.timeframe, g.instanceType)].leasedSeconds -= g.leaseEnd - stoppedAt;
        g.leaseEnd = stoppedAt;
        g.status = IMeteringTypes.InstanceStatus.Closed;
    }

    /// @dev Whether a lease granted now takes a concurrency seat: when the type has a limit and a seat is free (its
    /// lease ended, closed or not). With every seat live, a grant must be a soft-mode overage that holds none; a
    /// soft overage for the activation quota still takes a free seat.
    function _takesSeat(address c, uint16 tf, uint16 instanceType, bool overage) internal returns (bool) {
        (IMeteringTypes.Rules memory r,) = meter.rules(MeterFixture.tf(tf), MeterFixture.itype(instanceType));
        if (r.maxConcurrent == 0) return false;
        (uint256 seated,) = _liveSeated(c, tf, instanceType);
        if (seated < r.maxConcurrent) return true;
        if (r.mode == IMeteringTypes.LimitMode.Hard) flag("granted beyond a hard concurrency limit");
        if (!overage) flag("granted beyond the seats without overage");
        return false;
    }

    /// @dev I6: the customer accepts `agent` (the events' view): approved if it restricted itself, never revoked
    /// since its last approval otherwise. A revoke takes effect from its own call on.
    function _checkBillable(address c, address agent_) internal {
        uint8 stance = _stance[c][agent_];
        if (_restricted[c] ? stance != 1 : stance == 2) flag("I6: an unapproved or revoked agent billed a customer");
    }

    /// @dev A lease granted, renewed or continued now ends at most `maxLeaseSeconds` from now.
    function _checkLeaseBound(uint16 tf, uint16 instanceType, uint40 leaseEnd) internal {
        (IMeteringTypes.Rules memory r,) = meter.rules(MeterFixture.tf(tf), MeterFixture.itype(instanceType));
        if (r.maxLeaseSeconds != 0 && leaseEnd > block.timestamp + r.maxLeaseSeconds) {
            flag("a lease longer than maxLeaseSeconds");
        }
    }

    /// @dev Whether an open lease is still continuable: it ran to its timeframe's end, and the grace has not passed.
    function _continuable(Ghost storage g) internal view returns (bool) {
        if (g.status != IMeteringTypes.InstanceStatus.Open || g.timeframe == 0) return false;
        return g.leaseEnd == meter.timeframe(MeterFixture.tf(g.timeframe)).end && block.timestamp < g.leaseEnd + GRACE;
    }

    /// @dev Whether any lease of the key held a seat (the continuation may then start at that seat's freeing).
    function _anySeated(bytes32 key) internal view returns (bool) {
        bytes32[] storage ids = _leasesIn[key];
        for (uint256 i; i < ids.length; ++i) {
            if (_ghosts[ids[i]].seated) return true;
        }
        return false;
    }

    /// @dev A lease lies in its timeframe, which is the active one.
    function _checkLease(uint16 tf, uint40 startedAt, uint40 leaseEnd) internal {
        IMeteringTypes.Timeframe memory t = meter.timeframe(MeterFixture.tf(tf));
        if (startedAt < t.start || leaseEnd > t.end || leaseEnd <= startedAt) flag("lease outside its timeframe");
        if (block.timestamp < t.start || block.timestamp >= t.end) flag("lease in a timeframe that is not active");
    }

    function _record(bytes32 id, address holder) internal {
        if (_ghosts[id].holder == address(0)) {
            _ids.push(id);
            _idsOf[holder].push(id);
        }
    }

    function _requireOwnId(bytes32 id, address caller, string memory why) internal {
        if (MeterFixture.agentOf(id) != caller) flag(why);
    }

    function _requireHolder(bytes32 id, address caller, string memory why) internal {
        if (MeterFixture.agentOf(id) != caller || _ghosts[id].holder != caller) flag(why);
    }

    // ------------------------------------------------------------------ spending caps

    /// @dev After every call: a customer's committed spending may only have grown within its cap.
    function checkSpending() external {
        for (uint256 i; i < _customers.length; ++i) {
            address c = _customers[i];
            IMeteringTypes.CustomerAccount memory a = meter.customerAccount(c);
            uint16 tf = TimeframeId.unwrap(a.spentTimeframe);
            if (tf == 0) continue;
            if (a.spent > _lastSpent[c][tf] && a.spendingCap != 0 && a.spent > uint256(a.spendingCap) * MeterFixture.PRICE_SCALE) {
                flag("spending grew past the cap");
            }
            _lastSpent[c][tf] = a.spent;
        }
    }

    // ------------------------------------------------------------------ helpers

    function _touch(address c, uint16 timeframe, uint16 instanceType) internal returns (bytes32) {
        _dirty.push(Key(c, timeframe, instanceType));
        return _key(c, timeframe, instanceType);
    }

    function _key(address c, uint16 timeframe, uint16 instanceType) internal pure returns (bytes32) {
        return keccak256(abi.encode(c, timeframe, instanceType));
    }

    function _addr(bytes32 topic) internal pure returns (address) {
        return address(uint160(uint256(topic)));
    }
}
