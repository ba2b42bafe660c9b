// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IMeter} from "../../../contracts/interfaces/IMeter.sol";
import {IMeteringTypes} from "../../../contracts/interfaces/IMeteringTypes.sol";
import {GhostStore} from "../stores/GhostStore.sol";
import {BaseHandler} from "./BaseHandler.sol";

/// @title Customers, in their own transactions: choose the agents that may bill them, and cap what they commit.
/// @dev The first customer keeps the cap it was given in `setUp` for the whole run, so the invariants can check
/// its invoices against one fixed number; the others change theirs at random (0 = no cap).
contract CustomerHandler is BaseHandler {
    /// @dev Caps up to 20 EUR (in cents), small enough to be reached often.
    uint64 internal constant MAX_CAP = 2_000;

    constructor(GhostStore store_) BaseHandler(store_) {}

    function approveAgent(uint256 customerSeed, uint256 agentSeed, uint256 timeSeed)
        external
        adjustTimestamp(timeSeed)
        instrument("customer.approveAgent")
    {
        _asCustomer(customerSeed, abi.encodeCall(IMeter.approveAgent, (store.agent(agentSeed))));
    }

    /// @dev One call in four revokes: a v3 revoke bars the agent whatever the customer's restriction, and with three
    /// agents and four customers, revoking as often as approving would leave most runs with barred pairs only.
    function revokeAgent(uint256 customerSeed, uint256 agentSeed, uint256 timeSeed)
        external
        adjustTimestamp(timeSeed)
        instrument("customer.revokeAgent")
    {
        if (uint256(keccak256(abi.encode(agentSeed, timeSeed))) % 4 != 0) return;
        _asCustomer(customerSeed, abi.encodeCall(IMeter.revokeAgent, (store.agent(agentSeed))));
    }

    /// @dev Lifting the restriction is drawn three times as often as setting it, so most customers accept most
    /// agents (approving an agent sets it too).
    function setAgentRestriction(uint256 customerSeed, uint256 restrictSeed, uint256 timeSeed)
        external
        adjustTimestamp(timeSeed)
        instrument("customer.setAgentRestriction")
    {
        _asCustomer(customerSeed, abi.encodeCall(IMeter.setAgentRestriction, (restrictSeed % 4 == 0)));
    }

    function setSpendingCap(uint256 customerSeed, uint256 capSeed, uint256 timeSeed)
        external
        adjustTimestamp(timeSeed)
        instrument("customer.setSpendingCap")
    {
        address c = store.customer(customerSeed);
        if (c == store.customer(0)) return; // the fixed-cap customer
        uint64 cap = capSeed % 4 == 0 ? 0 : uint64(1 + (capSeed >> 8) % MAX_CAP);
        _asCustomer(customerSeed, abi.encodeCall(IMeter.setSpendingCap, (cap, bytes8("EUR"))));
    }

    /// @dev A customer stops an instance billed to it (e.g. one of an agent it revoked): it goes through exactly when
    /// the instance is open; a customer stopping another customer's instance reverts.
    function stopInstance(uint256 customerSeed, uint256 idSeed, uint256 timeSeed)
        external
        adjustTimestamp(timeSeed)
        instrument("customer.stopInstance")
    {
        bytes32 id = store.openIdOf(address(0), idSeed);
        if (id == bytes32(0)) return;
        GhostStore.Ghost memory g = store.ghost(id);
        address c = customerSeed % 4 == 0 ? store.customer(customerSeed >> 2) : g.customer;
        bool open = meter.instance(id).status == IMeteringTypes.InstanceStatus.Open;
        (bool ok,) = _call(c, abi.encodeCall(IMeter.stopInstance, (id)));
        if (ok != (open && c == g.customer)) store.flag(ok ? "a customer stopped another's instance" : "a customer could not stop its instance");
    }

    /// @dev Only an enrolled or suspended customer may call its own functions: anyone else reverts.
    function _asCustomer(uint256 customerSeed, bytes memory data) internal {
        address c = store.customer(customerSeed);
        bool known = meter.customerStatus(c) != IMeteringTypes.CustomerStatus.None;
        (bool ok,) = _call(c, data);
        if (ok != known) store.flag(known ? "a customer's own call reverted" : "a non-customer changed its account");
    }
}
