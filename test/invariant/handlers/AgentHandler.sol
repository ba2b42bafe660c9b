// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IMeter} from "../../../contracts/interfaces/IMeter.sol";
import {IMeteringTypes} from "../../../contracts/interfaces/IMeteringTypes.sol";
import {InstanceType} from "../../../contracts/types/Ids.sol";
import {MeterFixture} from "../../utils/MeterFixture.sol";
import {GhostStore} from "../stores/GhostStore.sol";
import {BaseHandler} from "./BaseHandler.sol";

/// @title Platform agents: activate (one by one and in batches), replay, renew and deactivate their own instances.
/// @dev Request ids follow the seat protocol (the next generation of a seat whose lease has ended, or the current
/// one to replay), read from the meter's `seat` view as a real agent would. Calls the protocol forbids (a busy
/// seat, a replay that changes the request) are made too, and counted as violations if they go through.
contract AgentHandler is BaseHandler {
    uint56 internal constant SEATS = 6;
    uint32 internal constant MAX_LEASE = 12 hours;
    /// @dev Types 1-3 have rules in most timeframes; type 4 never has (drawn 1 time in 16).
    uint16 internal constant TYPES = 3;

    constructor(GhostStore store_) BaseHandler(store_) {}

    function requestActivation(uint256 agentSeed, uint256 customerSeed, uint256 seatSeed, uint256 leaseSeed, uint256 timeSeed)
        external
        adjustTimestamp(timeSeed)
        instrument("agent.requestActivation")
    {
        _request(agentSeed, customerSeed, seatSeed, leaseSeed);
    }

    function _request(uint256 agentSeed, uint256 customerSeed, uint256 seatSeed, uint256 leaseSeed) internal {
        address agent = store.agent(agentSeed);
        uint56 seatIndex = uint56(seatSeed % SEATS);
        (uint8 generation, IMeteringTypes.InstanceStatus status, uint40 leaseEnd) = meter.seat(agent, seatIndex);
        if (generation == type(uint8).max) return;
        bool busy = status == IMeteringTypes.InstanceStatus.Open && block.timestamp < leaseEnd;
        uint64 requestId = MeterFixture.requestId(seatIndex, generation + 1);
        if (!busy) store.noteLease(MeterFixture.instanceId(agent, requestId), _lease(leaseSeed));
        bytes memory data = abi.encodeCall(
            IMeter.requestActivation,
            (store.billedCustomer(customerSeed), _type(seatSeed >> 8), requestId, _lease(leaseSeed))
        );
        (bool ok,) = _call(agent, data);
        if (busy && ok) store.flag("a new request took a busy seat");
        if (!busy && !ok) store.flag("a valid request reverted");
    }

    /// @dev Replays a decided request: as it was (the first decision stands, nothing counted), or changed (reverts:
    /// another customer or type, or, for a granted one, a lease length whose 5-bit tag differs).
    function replay(uint256 agentSeed, uint256 idSeed, uint256 changeSeed, uint256 timeSeed)
        external
        adjustTimestamp(timeSeed)
        instrument("agent.replay")
    {
        _replay(agentSeed, idSeed, changeSeed);
    }

    function _replay(uint256 agentSeed, uint256 idSeed, uint256 changeSeed) internal {
        address agent = store.agent(agentSeed);
        bytes32 id = store.idOf(agent, idSeed);
        if (id == bytes32(0)) return;
        GhostStore.Ghost memory g = store.ghost(id);
        (uint8 generation,,) = meter.seat(agent, uint56(uint64(uint256(id)) >> 8));
        if (generation != uint8(uint256(id))) return; // superseded by a later generation of its seat
        address c = g.customer;
        uint16 t = g.instanceType;
        uint32 lease = store.requestedLease(id);
        uint256 change = changeSeed % 4;
        if (change == 1) c = store.billedCustomer(changeSeed >> 8);
        if (change == 2) t = InstanceType.unwrap(_type(changeSeed >> 8));
        if (change == 3) lease = _lease(changeSeed >> 8);
        bool same = c == g.customer && t == g.instanceType
            && (g.status == IMeteringTypes.InstanceStatus.Denied || _tag(lease) == _tag(store.requestedLease(id)));
        IMeteringTypes.Usage memory before = meter.usage(g.customer, MeterFixture.tf(g.timeframe), MeterFixture.itype(g.instanceType));
        (bool ok, bytes memory ret) = _call(
            agent,
            abi.encodeCall(IMeter.requestActivation, (c, MeterFixture.itype(t), uint64(uint256(id)), lease))
        );
        if (ok != same) store.flag(same ? "a replay reverted" : "a replay with another request went through");
        if (ok) _checkReplay(g, ret, before);
    }

    function _checkReplay(GhostStore.Ghost memory g, bytes memory ret, IMeteringTypes.Usage memory before) internal {
        IMeteringTypes.Decision memory d = abi.decode(ret, (IMeteringTypes.Decision));
        if (d.granted == (g.status == IMeteringTypes.InstanceStatus.Denied)) store.flag("a replay changed the decision");
        IMeteringTypes.Usage memory afterwards =
            meter.usage(g.customer, MeterFixture.tf(g.timeframe), MeterFixture.itype(g.instanceType));
        if (afterwards.activations != before.activations || afterwards.leasedSeconds != before.leasedSeconds) {
            store.flag("a replay counted");
        }
    }

    /// @dev Up to 6 requests in one batch, on the agent's free seats.
    function requestActivations(uint256 agentSeed, uint256 customerSeed, uint256 sizeSeed, uint256 leaseSeed, uint256 timeSeed)
        external
        adjustTimestamp(timeSeed)
        instrument("agent.requestActivations")
    {
        _batch(agentSeed, customerSeed, sizeSeed, leaseSeed);
    }

    function _batch(uint256 agentSeed, uint256 customerSeed, uint256 sizeSeed, uint256 leaseSeed) internal {
        address agent = store.agent(agentSeed);
        IMeteringTypes.ActivationRequest[] memory batch = new IMeteringTypes.ActivationRequest[](1 + sizeSeed % SEATS);
        uint256 n;
        for (uint56 s; s < SEATS && n < batch.length; ++s) {
            (uint8 generation, IMeteringTypes.InstanceStatus status, uint40 leaseEnd) = meter.seat(agent, s);
            if (generation == type(uint8).max) continue;
            if (status == IMeteringTypes.InstanceStatus.Open && block.timestamp < leaseEnd) continue;
            uint256 seed = uint256(keccak256(abi.encode(customerSeed, s)));
            batch[n++] = IMeteringTypes.ActivationRequest(
                store.billedCustomer(seed), _type(seed >> 8), MeterFixture.requestId(s, generation + 1), _lease(leaseSeed >> s)
            );
            store.noteLease(MeterFixture.instanceId(agent, batch[n - 1].requestId), batch[n - 1].leaseSeconds);
        }
        if (n == 0) return;
        assembly ("memory-safe") {
            mstore(batch, n)
        }
        (bool ok,) = _call(agent, abi.encodeCall(IMeter.requestActivations, (batch)));
        if (!ok) store.flag("a valid batch reverted");
    }

    function renewLease(uint256 agentSeed, uint256 idSeed, uint256 leaseSeed, uint256 timeSeed)
        external
        adjustTimestamp(timeSeed)
        instrument("agent.renewLease")
    {
        address agent = store.agent(agentSeed);
        bytes32 id = store.openIdOf(agent, idSeed);
        if (id == bytes32(0)) return;
        bool open = meter.instance(id).status == IMeteringTypes.InstanceStatus.Open;
        (bool ok,) = _call(agent, abi.encodeCall(IMeter.renewLease, (id, _lease(leaseSeed))));
        if (ok != open) store.flag(open ? "the holder could not renew its open instance" : "renewed an instance that is not open");
    }

    /// @dev The holder comes back after its lease ran out: a lease that ran to its timeframe's end continues into
    /// the next timeframe (billed from its start); one that ended earlier is closed and the renewal denied.
    function renewAfterEnd(uint256 agentSeed, uint256 idSeed, uint256 leaseSeed, uint256 timeSeed)
        external
        adjustTimestampWithin(timeSeed, timeSeed % 4 == 0 ? 30 minutes : 5 minutes)
        instrument("agent.renewAfterEnd")
    {
        address agent = store.agent(agentSeed);
        bytes32 id = store.endedIdOf(agent, idSeed);
        if (id == bytes32(0)) return;
        (bool ok,) = _call(agent, abi.encodeCall(IMeter.renewLease, (id, _lease(leaseSeed))));
        if (!ok) store.flag("the holder could not renew its ended lease");
    }

    /// @dev A lease that runs to its timeframe's end, met at the boundary: time moves to up to 20 minutes after its
    /// end (so sometimes past the 15-minute grace), a third party tries to close it first, then its holder renews.
    /// Within the grace the third party's call closes nothing (the store flags it otherwise) and the renewal
    /// continues the lease or is denied for a reason of the new timeframe, never `LeaseExpired` (I7).
    function continueAtBoundary(uint256 agentSeed, uint256 idSeed, uint256 leaseSeed, uint256 timeSeed)
        external
        instrument("agent.continueAtBoundary")
    {
        store.beginStep();
        address agent = store.agent(agentSeed);
        bytes32 id = store.boundaryIdOf(agent, idSeed);
        if (id == bytes32(0)) {
            _warp(timeSeed);
            return;
        }
        uint256 leaseEnd = store.ghost(id).leaseEnd;
        uint256 target = leaseEnd + (timeSeed >> 8) % 20 minutes;
        if (target > store.time()) _warpTo(target, timeSeed);
        bool afterGrace = store.time() >= leaseEnd + 15 minutes;
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = id;
        (bool expired,) = _call(store.outsider(timeSeed), abi.encodeCall(IMeter.expireLeases, (ids)));
        if (!expired) store.flag("expireLeases reverted");
        (bool ok,) = _call(agent, abi.encodeCall(IMeter.renewLease, (id, _lease(leaseSeed))));
        if (!ok && !afterGrace) store.flag("the holder could not renew its boundary lease within the grace");
    }

    function deactivate(uint256 agentSeed, uint256 idSeed, uint256 timeSeed)
        external
        adjustTimestamp(timeSeed)
        instrument("agent.deactivate")
    {
        address agent = store.agent(agentSeed);
        bytes32 id = store.openIdOf(agent, idSeed);
        if (id == bytes32(0)) return;
        bool open = meter.instance(id).status == IMeteringTypes.InstanceStatus.Open;
        (bool ok,) = _call(agent, abi.encodeCall(IMeter.deactivate, (id)));
        if (ok != open) store.flag(open ? "the holder could not deactivate its open instance" : "deactivated an instance that is not open");
    }

    function _type(uint256 seed) internal pure returns (InstanceType) {
        return MeterFixture.itype(seed % 16 == 0 ? 4 : uint16(1 + (seed >> 4) % TYPES));
    }

    /// @dev Leases from a minute to 12 hours, or (1 time in 4) two days: to the end of the timeframe.
    /// @dev The meter's lease tag (InstanceSlot.leaseTag), written again here.
    function _tag(uint32 leaseSeconds) internal pure returns (uint256) {
        return (uint256(leaseSeconds) * 2654435761 >> 27) & 31;
    }

    function _lease(uint256 seed) internal pure returns (uint32) {
        return seed % 4 == 0 ? 2 days : uint32(60 + (seed >> 2) % MAX_LEASE);
    }
}
