// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IMeter} from "../../contracts/interfaces/IMeter.sol";
import {IMeteringTypes} from "../../contracts/interfaces/IMeteringTypes.sol";
import {TimeframeId} from "../../contracts/types/Ids.sol";
import {Console} from "../utils/Console.sol";
import {InvoiceMath} from "../utils/InvoiceMath.sol";
import {MeterFixture} from "../utils/MeterFixture.sol";
import {InvariantBase} from "../utils/InvariantBase.sol";
import {vm} from "../utils/Vm.sol";
import {GhostStore} from "./stores/GhostStore.sol";
import {RandomRules} from "./RandomRules.sol";
import {AgentHandler} from "./handlers/AgentHandler.sol";
import {CustomerHandler} from "./handlers/CustomerHandler.sol";
import {ProviderHandler} from "./handlers/ProviderHandler.sol";
import {ThirdPartyHandler} from "./handlers/ThirdPartyHandler.sol";

/// @title The meter's invariants over random sequences of agents, customers, the provider and third parties.
/// @dev Numbered as in test/README.md. Each step checks the active and the previous timeframe (older ones are
/// frozen: the store flags any lease outside the active timeframe); `afterInvariant` sweeps them all at the end of
/// each run.
contract MeterInvariants is InvariantBase {
    using InvoiceMath for InvoiceMath.Quantities;

    uint16 internal constant TYPES = 3; // types with rules; type 4 never has any
    /// @dev The first customer's cap for the whole run: 5 EUR (in cents).
    uint64 internal constant FIXED_CAP = 500;

    IMeter internal meter;
    GhostStore internal store;
    address internal provider = address(0xB0B);

    function setUp() public {
        address[] memory agents = _actors("agent", 3);
        address[] memory customers = _actors("customer", 5); // customer 4 is never enrolled
        address[] memory outsiders = _actors("outsider", 2);
        vm.label(provider, "provider");
        vm.warp(1_000_000);
        meter = MeterFixture.deploy(provider, agents);
        store = new GhostStore(meter, provider, agents, customers, outsiders);

        vm.startPrank(provider);
        for (uint256 i; i < 4; ++i) {
            meter.enrollCustomer(customers[i]);
        }
        // Three adjacent timeframes, so leases continue from one into the next, with rules drawn from seeds.
        ProviderHandler provider_ = new ProviderHandler(store);
        uint40 start = uint40(block.timestamp + 1 hours);
        for (uint16 t = 1; t <= 3; ++t) {
            TimeframeId id = meter.createTimeframe(start, start + 8 hours, MeterFixture.EUR);
            for (uint16 k = 1; k <= TYPES; ++k) {
                meter.setRules(id, MeterFixture.itype(k), RandomRules.draw(t * 10 + k));
            }
            start += 8 hours;
        }
        vm.stopPrank();
        vm.prank(customers[0]);
        meter.setSpendingCap(FIXED_CAP, MeterFixture.EUR);
        // The store models the customers' choices from their events: it sees this approval too.
        vm.recordLogs();
        vm.prank(customers[1]);
        meter.approveAgent(agents[0]);
        store.applyLogs(vm.getRecordedLogs(), customers[1]);

        AgentHandler agent_ = new AgentHandler(store);
        CustomerHandler customer_ = new CustomerHandler(store);
        ThirdPartyHandler third_ = new ThirdPartyHandler(store);

        bytes4[] memory s = new bytes4[](7);
        s[0] = AgentHandler.requestActivation.selector;
        s[1] = AgentHandler.replay.selector;
        s[2] = AgentHandler.requestActivations.selector;
        s[3] = AgentHandler.renewLease.selector;
        s[4] = AgentHandler.renewAfterEnd.selector;
        s[5] = AgentHandler.deactivate.selector;
        s[6] = AgentHandler.continueAtBoundary.selector;
        _target(address(agent_), s);
        s = new bytes4[](5);
        s[0] = CustomerHandler.approveAgent.selector;
        s[1] = CustomerHandler.revokeAgent.selector;
        s[2] = CustomerHandler.setAgentRestriction.selector;
        s[3] = CustomerHandler.setSpendingCap.selector;
        s[4] = CustomerHandler.stopInstance.selector;
        _target(address(customer_), s);
        s = new bytes4[](5);
        s[0] = ProviderHandler.enrollCustomer.selector;
        s[1] = ProviderHandler.suspendCustomer.selector;
        s[2] = ProviderHandler.closeInstance.selector;
        s[3] = ProviderHandler.createTimeframe.selector;
        s[4] = ProviderHandler.setRules.selector;
        _target(address(provider_), s);
        s = new bytes4[](5);
        s[0] = ThirdPartyHandler.renewForeign.selector;
        s[1] = ThirdPartyHandler.deactivateForeign.selector;
        s[2] = ThirdPartyHandler.squat.selector;
        s[3] = ThirdPartyHandler.activateWithoutRole.selector;
        s[4] = ThirdPartyHandler.expireLeases.selector;
        _target(address(third_), s);
    }

    // ------------------------------------------------------------------ invariants (numbered as in test/README.md)

    /// @dev After every call, the five invariants on what that call changed; `afterInvariant` sweeps everything at
    /// the end of each run. One function, not five: forge runs a whole campaign per invariant function, so five would
    /// cost five times the CI time for the same sequences. A failure names its invariant ("I3: ...").
    function invariant_meter() public {
        _syncClock();
        GhostStore.Key[] memory keys = store.dirty();
        for (uint256 i; i < keys.length; ++i) {
            (address c, uint16 tf, uint16 k) = (keys[i].customer, keys[i].timeframe, keys[i].instanceType);
            _checkCounters(c, tf, k); // I1
            _checkSpending(c); // I1, I3
            _checkConcurrency(c, tf, k); // I2
            _checkFixedCap(c, tf); // I3
            _checkBilledWithinLeased(c, tf, k); // I5
        }
        _checkNoViolation(); // I4, I6, I7 and the handlers' per-call checks
    }

    /// @dev At the end of each run: every key of every timeframe, and every customer.
    function afterInvariant() public {
        _syncClock();
        address[] memory customers = store.customers();
        uint16 count = uint16(meter.timeframeCount());
        for (uint256 i; i < customers.length; ++i) {
            _checkSpending(customers[i]);
            for (uint16 tf = 1; tf <= count; ++tf) {
                _checkFixedCap(customers[i], tf);
                for (uint16 k = 1; k <= TYPES + 1; ++k) {
                    _checkCounters(customers[i], tf, k);
                    _checkConcurrency(customers[i], tf, k);
                    _checkBilledWithinLeased(customers[i], tf, k);
                }
            }
        }
        _checkNoViolation();
        _summary();
    }

    // ------------------------------------------------------------------ checks

    /// @dev I1: the usage counters equal the sums of the events' effects.
    function _checkCounters(address c, uint16 tf, uint16 k) internal view {
        IMeteringTypes.Usage memory u = meter.usage(c, MeterFixture.tf(tf), MeterFixture.itype(k));
        GhostStore.Sums memory s = store.sums(c, tf, k);
        vm.assertEq(u.activations, s.activations, "I1: activations != granted events");
        vm.assertEq(u.overageActivations, s.overage, "I1: overage != overage grants");
        vm.assertEq(u.leasedSeconds, s.leasedSeconds, "I1: leasedSeconds != sum of the events' lease spans");
    }

    /// @dev I1: what the cap counts equals the fees and time of the events; I3: an invoice computed from the events
    /// never exceeds it (and the store checked, after each call, that it only grew within the cap).
    function _checkSpending(address c) internal view {
        IMeteringTypes.CustomerAccount memory a = meter.customerAccount(c);
        uint16 tf = TimeframeId.unwrap(a.spentTimeframe);
        if (tf == 0) return;
        uint256 expected;
        for (uint16 k = 1; k <= TYPES; ++k) {
            (InvoiceMath.Quantities memory q, IMeteringTypes.Rules memory r) = _quantities(c, tf, k);
            expected += q.committedMicro(r);
        }
        vm.assertEq(a.spent, expected, "I1: spent != fees and time of the events");
        vm.assertLe(_invoice(c, tf) * MeterFixture.PRICE_SCALE, a.spent, "I3: invoice above what the cap counted");
    }

    /// @dev I2: running leases never exceed the hard concurrency limit, and expired ones (closed or not) never count.
    function _checkConcurrency(address c, uint16 tf, uint16 k) internal view {
        (IMeteringTypes.Rules memory r,) = meter.rules(MeterFixture.tf(tf), MeterFixture.itype(k));
        (uint256 seated, uint256 live) = store.liveSeated(c, tf, k);
        uint256 running = meter.usage(c, MeterFixture.tf(tf), MeterFixture.itype(k)).running;
        vm.assertEq(running, seated, "I2: running != live leases holding a seat");
        if (r.maxConcurrent == 0) return;
        vm.assertLe(running, r.maxConcurrent, "I2: running above maxConcurrent");
        if (r.mode == IMeteringTypes.LimitMode.Hard) {
            vm.assertLe(live, r.maxConcurrent, "I2: live leases above the hard limit");
        }
    }

    /// @dev I3: the fixed-cap customer's invoice of a timeframe never exceeds its cap.
    function _checkFixedCap(address c, uint16 tf) internal view {
        if (c != store.customer(0)) return;
        vm.assertLe(_invoice(c, tf), FIXED_CAP, "I3: invoice above the customer's cap");
    }

    /// @dev I4: no agent touched another agent's instance, and nothing the protocol forbids went through.
    function _checkNoViolation() internal view {
        vm.assertEq(store.violations(), 0, string.concat("I4: ", store.firstViolation()));
    }

    /// @dev I5: the total billed never exceeds leased time times price (plus the fees), and under a hard limit the
    /// billed seconds never exceed the seat-time the limit holds in the timeframe (no loosened form: a continuation
    /// is billed from its seat's freeing, never over another lease's seat-time).
    function _checkBilledWithinLeased(address c, uint16 tf, uint16 k) internal view {
        (InvoiceMath.Quantities memory q, IMeteringTypes.Rules memory r) = _quantities(c, tf, k);
        uint256 leased = meter.usage(c, MeterFixture.tf(tf), MeterFixture.itype(k)).leasedSeconds;
        uint256 ceiling = q.billableActivations(r) * r.pricePerActivation + q.continuations * r.pricePerContinuation
            + leased * r.pricePerTimeUnit / r.timeUnitSeconds;
        vm.assertLe(q.invoiceMinor(r) * MeterFixture.PRICE_SCALE, ceiling, "I5: billed above leased time x price");
        if (r.maxConcurrent != 0 && r.mode == IMeteringTypes.LimitMode.Hard) {
            IMeteringTypes.Timeframe memory t = meter.timeframe(MeterFixture.tf(tf));
            uint256 seatSeconds = uint256(r.maxConcurrent) * (t.end - t.start);
            vm.assertLe(leased, seatSeconds, "I5: more billed seconds than the seats hold");
        }
    }

    /// @dev What the run reached (printed with -vv): a suite whose handlers never continue a lease or hit a cap
    /// would prove little.
    function _summary() internal view {
        Console.log("timeframes", meter.timeframeCount());
        Console.log("ActivationGranted", store.eventCount(IMeter.ActivationGranted.selector));
        Console.log("ActivationDenied", store.eventCount(IMeter.ActivationDenied.selector));
        Console.log("ActivationReplayed", store.eventCount(IMeter.ActivationReplayed.selector));
        Console.log("LeaseContinued", store.eventCount(IMeter.LeaseContinued.selector));
        Console.log("LeaseRenewed", store.eventCount(IMeter.LeaseRenewed.selector));
        Console.log("LeaseRenewalDenied", store.eventCount(IMeter.LeaseRenewalDenied.selector));
        Console.log("InstanceDeactivated", store.eventCount(IMeter.InstanceDeactivated.selector));
        Console.log("InstanceClosedByProvider", store.eventCount(IMeter.InstanceClosedByProvider.selector));
        Console.log("InstanceStoppedByCustomer", store.eventCount(IMeter.InstanceStoppedByCustomer.selector));
        Console.log("AgentRevoked", store.eventCount(IMeter.AgentRevoked.selector));
        Console.log("LeaseExpired", store.eventCount(IMeter.LeaseExpired.selector));
        for (uint8 reason = 1; reason <= uint8(type(IMeteringTypes.DenialReason).max); ++reason) {
            string memory code = reason < 10 ? _digit(reason) : string.concat("1", _digit(reason - 10));
            Console.log(string.concat("denied for reason ", code), store.denials(reason));
        }
    }

    // ------------------------------------------------------------------ helpers

    function _quantities(address c, uint16 tf, uint16 k)
        internal
        view
        returns (InvoiceMath.Quantities memory q, IMeteringTypes.Rules memory r)
    {
        bool configured;
        (r, configured) = meter.rules(MeterFixture.tf(tf), MeterFixture.itype(k));
        if (!configured) r.timeUnitSeconds = 1; // no rules, all prices 0: nothing is billed (and nothing granted)
        GhostStore.Sums memory s = store.sums(c, tf, k);
        q = InvoiceMath.Quantities(s.activations, s.continuations, s.leasedSeconds);
    }

    /// @dev The invoice of (c, tf) computed from the events: per type, three lines rounded down.
    function _invoice(address c, uint16 tf) internal view returns (uint256 total) {
        for (uint16 k = 1; k <= TYPES; ++k) {
            (InvoiceMath.Quantities memory q, IMeteringTypes.Rules memory r) = _quantities(c, tf, k);
            total += q.invoiceMinor(r);
        }
    }

    function _syncClock() internal {
        vm.warp(store.time());
    }
}
