// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IMeter} from "../../../contracts/interfaces/IMeter.sol";
import {IMeteringTypes} from "../../../contracts/interfaces/IMeteringTypes.sol";
import {MeterFixture} from "../../utils/MeterFixture.sol";
import {GhostStore} from "../stores/GhostStore.sol";
import {BaseHandler} from "./BaseHandler.sol";

/// @title Everyone else, and agents acting on what is not theirs.
/// @dev Other agents, outsiders, customers and the provider try to renew or deactivate instances they do not hold,
/// and outsiders try to activate; all of it must revert. Anyone may close expired leases; and another agent may
/// reuse the same request ids, which name its own instances, never the holder's.
contract ThirdPartyHandler is BaseHandler {
    constructor(GhostStore store_) BaseHandler(store_) {}

    function renewForeign(uint256 idSeed, uint256 actorSeed, uint32 leaseSeconds, uint256 timeSeed)
        external
        adjustTimestamp(timeSeed)
        instrument("third.renewForeign")
    {
        bytes32 id = store.openIdOf(address(0), idSeed);
        if (id == bytes32(0)) return;
        address actor = store.anyoneBut(actorSeed, MeterFixture.agentOf(id));
        (bool ok,) = _call(actor, abi.encodeCall(IMeter.renewLease, (id, 1 + leaseSeconds % 1 days)));
        if (ok) store.flag("a non-holder renewed an instance");
    }

    function deactivateForeign(uint256 idSeed, uint256 actorSeed, uint256 timeSeed)
        external
        adjustTimestamp(timeSeed)
        instrument("third.deactivateForeign")
    {
        bytes32 id = store.openIdOf(address(0), idSeed);
        if (id == bytes32(0)) return;
        address actor = store.anyoneBut(actorSeed, MeterFixture.agentOf(id));
        (bool ok,) = _call(actor, abi.encodeCall(IMeter.deactivate, (id)));
        if (ok) store.flag("a non-holder deactivated an instance");
    }

    /// @dev Another agent submits the holder's request id (for the same customer and type): it gets an id of its
    /// own namespace, so the holder's instance is untouched (the store flags any event on it by this caller).
    function squat(uint256 idSeed, uint256 actorSeed, uint256 timeSeed)
        external
        adjustTimestamp(timeSeed)
        instrument("third.squat")
    {
        bytes32 id = store.idAt(idSeed);
        if (id == bytes32(0)) return;
        GhostStore.Ghost memory g = store.ghost(id);
        address squatter = store.agent(actorSeed);
        if (squatter == g.holder) return;
        bytes32 mine = MeterFixture.instanceId(squatter, uint64(uint256(id)));
        if (meter.instance(mine).status == IMeteringTypes.InstanceStatus.Unknown) store.noteLease(mine, 1 hours);
        _call(
            squatter,
            abi.encodeCall(IMeter.requestActivation, (g.customer, MeterFixture.itype(g.instanceType), uint64(uint256(id)), 1 hours))
        );
    }

    function activateWithoutRole(uint256 actorSeed, uint256 customerSeed, uint256 timeSeed)
        external
        adjustTimestamp(timeSeed)
        instrument("third.activateWithoutRole")
    {
        (bool ok,) = _call(
            store.outsider(actorSeed),
            abi.encodeCall(IMeter.requestActivation, (store.customer(customerSeed), MeterFixture.itype(1), 1, 1 hours))
        );
        if (ok) store.flag("an outsider activated");
    }

    /// @dev Anyone may close expired leases; unexpired or closed ones are skipped, and so are boundary leases within
    /// their grace (the store flags closing one). The first id is an ended lease of some agent, often a boundary one.
    function expireLeases(uint256 idSeed, uint256 actorSeed, uint256 timeSeed)
        external
        adjustTimestamp(timeSeed)
        instrument("third.expireLeases")
    {
        bytes32[] memory ids = new bytes32[](4);
        for (uint256 i; i < ids.length; ++i) {
            ids[i] = store.idAt(uint256(keccak256(abi.encode(idSeed, i))));
        }
        ids[0] = store.endedIdOf(store.agent(idSeed), idSeed >> 8);
        (bool ok,) = _call(store.outsider(actorSeed), abi.encodeCall(IMeter.expireLeases, (ids)));
        if (!ok) store.flag("expireLeases reverted");
    }
}
