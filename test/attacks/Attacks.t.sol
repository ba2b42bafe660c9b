// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IMeter} from "../../contracts/interfaces/IMeter.sol";
import {IMeteringTypes} from "../../contracts/interfaces/IMeteringTypes.sol";
import {TimeframeId, InstanceType} from "../../contracts/types/Ids.sol";
import {Console} from "../utils/Console.sol";
import {AttackBase} from "../utils/AttackBase.sol";
import {MeterFixture} from "../utils/MeterFixture.sol";
import {vm} from "../utils/Vm.sol";

/// @title The attacks of issue 8, one test per finding: each is now refused or harmless.
/// @dev Agents `a` and `b` both hold AGENT_ROLE; `a` is the honest one. Two adjacent one-day timeframes. Type 1 costs
/// 0.0004 EUR per activation and 0.12 EUR per hour with a hard limit of one concurrent instance; type 2 has no
/// limits; type 3 has no rules.
contract AttacksTest is AttackBase {
    using MeterFixture for *;

    uint32 internal constant DAY = 1 days;
    InstanceType internal constant LIMITED = InstanceType.wrap(1);
    InstanceType internal constant FREE = InstanceType.wrap(2);
    InstanceType internal constant UNCONFIGURED = InstanceType.wrap(3);

    address internal customer2 = address(0xC2);

    function setUp() public {
        _twoTimeframes(DAY);
        for (uint16 t = 1; t <= 2; ++t) {
            TimeframeId id = MeterFixture.tf(t);
            meter.setRules(id, LIMITED, MeterFixture.rules(40_000, 12_000_000, 3600, 1));
            meter.setRules(id, FREE, MeterFixture.rules(0, 0, 1, 0));
        }
        meter.enrollCustomer(customer);
        meter.enrollCustomer(customer2);
        vm.stopPrank();
        vm.warp(start1);
    }

    // ------------------------------------------------------------------ agents are bound to what they started

    /// @dev The review's run: a 60 s lease whose agent died, renewed 10 times by a second agent, billed 1,100 s.
    /// Now every renewal by the other agent reverts and the customer pays the 60 s its agent leased.
    function test_deadAgentsLease_renewedTenTimesByAnotherAgent_revertsAndBills60Seconds() public {
        bytes32 id = _activate(a, customer, FREE, 0, 1, 60);
        for (uint256 i; i < 10; ++i) {
            vm.warp(block.timestamp + 50);
            vm.expectRevert(abi.encodeWithSelector(IMeter.MeteringNotInstanceHolder.selector, id, b));
            vm.prank(b);
            meter.renewLease(id, 60);
        }
        vm.warp(start1 + DAY);
        vm.assertEq(meter.usage(customer, tf1, FREE).leasedSeconds, 60, "billed seconds");
    }

    function test_deactivateByAnotherAgent_reverts_andTheInstanceRunsOn() public {
        bytes32 id = _activate(a, customer, FREE, 0, 1, 600);
        vm.expectRevert(abi.encodeWithSelector(IMeter.MeteringNotInstanceHolder.selector, id, b));
        vm.prank(b);
        meter.deactivate(id);
        vm.assertTrue(meter.instance(id).status == IMeteringTypes.InstanceStatus.Open, "still open");
    }

    /// @dev The takeover of a dead agent's instance is the provider's, explicit and evented.
    function test_providerClosesADeadAgentsInstance_billingStopsNow() public {
        bytes32 id = _activate(a, customer, FREE, 0, 1, 600);
        vm.warp(block.timestamp + 100);
        vm.prank(provider);
        meter.closeInstance(id);
        vm.assertTrue(meter.instance(id).status == IMeteringTypes.InstanceStatus.Closed, "closed");
        vm.assertEq(meter.usage(customer, tf1, FREE).leasedSeconds, 100, "billed up to the close");
    }

    function test_unapprovedAgent_activatingForARestrictedCustomer_isDeniedAndRecorded() public {
        vm.prank(customer);
        meter.approveAgent(a);
        IMeteringTypes.Decision memory d = _request(b, customer, FREE, 0, 1, 600);
        vm.assertTrue(!d.granted && d.reason == IMeteringTypes.DenialReason.AgentNotApproved, "denied");
        bytes32 id = MeterFixture.instanceId(b, MeterFixture.requestId(0, 1));
        vm.assertTrue(meter.instance(id).status == IMeteringTypes.InstanceStatus.Denied, "recorded");
        vm.assertEq(meter.usage(customer, tf1, FREE).activations, 0, "nothing counted");
        vm.assertTrue(_request(a, customer, FREE, 0, 1, 600).granted, "the approved agent bills");
    }

    /// @dev The default: a customer that approved no agent accepts every agent of the provider.
    function test_customerWithoutApprovals_acceptsEveryProviderAgent() public {
        vm.assertTrue(_request(b, customer, FREE, 0, 1, 600).granted, "granted");
    }

    // ------------------------------------------------------------------ request-id squatting

    /// @dev Whoever submits an id first owned it, even with an unenrolled customer, and the owner's request reverted
    /// forever. Now the squatter's request names an instance of its own namespace.
    function test_requestIdTakenFirstByAnotherAgent_withAnUnenrolledCustomer_doesNotBlockTheOwner() public {
        IMeteringTypes.Decision memory squat = _request(b, address(0xDEAD), FREE, 0, 1, 600);
        vm.assertTrue(squat.reason == IMeteringTypes.DenialReason.CustomerNotEnrolled, "squatter denied in its namespace");
        IMeteringTypes.Decision memory mine = _request(a, customer, FREE, 0, 1, 600);
        vm.assertTrue(mine.granted, "the owner's request is decided on its own");
        vm.assertTrue(
            MeterFixture.instanceId(a, MeterFixture.requestId(0, 1)) != MeterFixture.instanceId(b, MeterFixture.requestId(0, 1)),
            "two ids"
        );
    }

    /// @dev One taken id reverted a whole batch (200 requests, 0 counted). Now another agent's use of the same 200
    /// request ids first leaves all 200 of mine counted.
    function test_batchOf200_whoseIdsAnotherAgentUsedFirst_countsAll200() public {
        IMeteringTypes.ActivationRequest[] memory batch = new IMeteringTypes.ActivationRequest[](200);
        for (uint56 i; i < 200; ++i) {
            batch[i] = IMeteringTypes.ActivationRequest(customer, FREE, MeterFixture.requestId(i, 1), 600);
        }
        vm.prank(b);
        meter.requestActivations(batch);
        vm.prank(a);
        IMeteringTypes.Decision[] memory decisions = meter.requestActivations(batch);
        for (uint256 i; i < 200; ++i) {
            vm.assertTrue(decisions[i].granted, "granted");
        }
        vm.assertEq(meter.usage(customer, tf1, FREE).activations, 400, "200 of b's and 200 of mine");
    }

    /// @dev Taking an id with an unconfigured type forced a recorded denial that the real request then replayed.
    function test_requestIdTakenWithAnUnconfiguredType_doesNotForceADenialOnTheOwner() public {
        IMeteringTypes.Decision memory squat = _request(b, customer, UNCONFIGURED, 0, 1, 600);
        vm.assertTrue(squat.reason == IMeteringTypes.DenialReason.NoRulesForType, "squatter denied");
        vm.assertTrue(_request(a, customer, FREE, 0, 1, 600).granted, "the owner is granted");
    }

    /// @dev `successorOf(id)` could be taken so a lease could not continue. A continuation now keeps the same
    /// instance id, in its holder's namespace: no one else can take, renew or continue it.
    function test_continuationId_cannotBeTakenByAnotherAgent() public {
        bytes32 id = _activate(a, customer, FREE, 0, 1, DAY); // runs to the end of timeframe 1
        vm.warp(start1 + DAY + 10);
        // b squats the same request id (its own namespace) and tries to continue a's instance.
        _request(b, customer, FREE, 0, 1, 600);
        vm.expectRevert(abi.encodeWithSelector(IMeter.MeteringNotInstanceHolder.selector, id, b));
        vm.prank(b);
        meter.renewLease(id, 600);
        vm.prank(a);
        (IMeteringTypes.Decision memory d, uint40 leaseEnd) = meter.renewLease(id, 600);
        vm.assertTrue(d.granted, "continued");
        vm.assertEq(leaseEnd, block.timestamp + 600, "lease end in the future");
        vm.assertEq(TimeframeId.unwrap(meter.instance(id).timeframe), TimeframeId.unwrap(tf2), "in timeframe 2");
        vm.assertEq(meter.usage(customer, tf2, FREE).leasedSeconds, 610 + 600, "b's 600 s and a's from the boundary");
    }

    // ------------------------------------------------------------------ replays check the whole request

    function test_replayWithAnotherType_revertsRequestMismatch() public {
        bytes32 id = _activate(a, customer, FREE, 0, 1, 600);
        vm.expectRevert(abi.encodeWithSelector(IMeter.MeteringRequestMismatch.selector, id, customer, FREE));
        vm.prank(a);
        meter.requestActivation(customer, LIMITED, MeterFixture.requestId(0, 1), 600);
    }

    function test_replayWithAnotherCustomer_revertsRequestMismatch() public {
        bytes32 id = _activate(a, customer, FREE, 0, 1, 600);
        vm.expectRevert(abi.encodeWithSelector(IMeter.MeteringRequestMismatch.selector, id, customer, FREE));
        vm.prank(a);
        meter.requestActivation(customer2, FREE, MeterFixture.requestId(0, 1), 600);
    }

    /// @dev The review's case: a replay for a type at its hard limit answered "granted". Now the same request
    /// replays its first decision and counts nothing, and a changed one reverts (above).
    function test_replayOfTheSameRequest_repeatsTheDecisionAndCountsNothing() public {
        _activate(a, customer, LIMITED, 0, 1, 600);
        IMeteringTypes.Decision memory again = _request(a, customer, LIMITED, 0, 1, 600);
        vm.assertTrue(again.granted, "first decision stands");
        vm.assertEq(meter.usage(customer, tf1, LIMITED).activations, 1, "counted once");
        IMeteringTypes.Decision memory other = _request(a, customer, LIMITED, 1, 1, 600);
        vm.assertTrue(other.reason == IMeteringTypes.DenialReason.ConcurrencyLimitReached, "limit holds");
    }

    // ------------------------------------------------------------------ the cursor

    /// @dev The cursor re-walked every ended timeframe on each call (58,786 gas with 1, 197,011 with 60). Now an
    /// activation attempt costs the same with 500 ended timeframes as with 1, both when all have ended and when a
    /// timeframe is active after them.
    function test_activationGas_isFlat_with500EndedTimeframes() public {
        (uint256 denied1, uint256 granted1) = _attemptGas(1);
        (uint256 denied500, uint256 granted500) = _attemptGas(500);
        Console.log("denied, 1 ended timeframe", denied1);
        Console.log("denied, 500 ended timeframes", denied500);
        Console.log("granted, 1 ended timeframe", granted1);
        Console.log("granted, 500 ended timeframes", granted500);
        vm.assertLe(_diff(denied1, denied500), 200, "denial gas grows with ended timeframes");
        vm.assertLe(_diff(granted1, granted500), 200, "grant gas grows with ended timeframes");
        vm.assertLt(denied500, 60_000, "denial gas");
    }

    // ------------------------------------------------------------------ the billing gap at the boundary

    /// @dev A lease that ran to its timeframe's end and is renewed 100 s into the next one is billed from the next
    /// timeframe's start: the 100 s are not lost.
    function test_continuedLease_isBilledFromTheNextTimeframesStart() public {
        bytes32 id = _activate(a, customer, FREE, 0, 1, DAY);
        vm.assertEq(meter.instance(id).leaseEnd, start1 + DAY, "ran to the end");
        vm.warp(start1 + DAY + 100);
        vm.prank(a);
        (, uint40 leaseEnd) = meter.renewLease(id, 3600);
        vm.assertEq(meter.usage(customer, tf1, FREE).leasedSeconds, DAY, "timeframe 1 whole");
        vm.assertEq(meter.usage(customer, tf2, FREE).leasedSeconds, leaseEnd - (start1 + DAY), "from tf2.start");
        vm.assertEq(meter.usage(customer, tf2, FREE).leasedSeconds, 3700, "3600 s plus the 100 s gap");
    }

    // ------------------------------------------------------------------ prices at the precision users write them

    /// @dev 0.12 EUR per hour: 3600 s commit exactly 12 cents, so a 12-cent cap allows one hour and not a second more.
    function test_twelveCentsPerHour_oneHourCommitsExactly12Cents() public {
        vm.prank(provider);
        TimeframeId tf3 = meter.createTimeframe(start1 + 3 * DAY, start1 + 4 * DAY, MeterFixture.EUR);
        IMeteringTypes.Rules memory r = MeterFixture.rules(0, 12_000_000, 3600, 0);
        vm.prank(provider);
        meter.setRules(tf3, FREE, r);
        vm.warp(start1 + 3 * DAY);
        vm.prank(customer);
        meter.setSpendingCap(12, MeterFixture.EUR);
        _activate(a, customer, FREE, 0, 1, 3600);
        vm.assertEq(meter.spent(customer, tf3), 12 * MeterFixture.PRICE_SCALE, "12 cents exactly");
        IMeteringTypes.Decision memory more = _request(a, customer, FREE, 1, 1, 1);
        vm.assertTrue(more.reason == IMeteringTypes.DenialReason.SpendingCapReached, "one more second crosses the cap");
    }

    /// @dev 0.0004 EUR per activation (40,000 micro-units) is committed exactly.
    function test_fractionalCentActivationFee_isCommittedExactly() public {
        _activate(a, customer, LIMITED, 0, 1, 1);
        // 40,000 for the activation, ceil(1 s * 12e6 / 3600) = 3,334 for the second.
        vm.assertEq(meter.spent(customer, tf1), 40_000 + 3_334, "micro-units");
    }

    // ------------------------------------------------------------------ unclosed leases do not lower the limits

    function test_expiredUnclosedLease_doesNotCountAgainstTheHardLimit() public {
        _activate(a, customer, LIMITED, 0, 1, 60);
        vm.assertTrue(_request(b, customer, LIMITED, 0, 1, 60).reason == IMeteringTypes.DenialReason.ConcurrencyLimitReached, "full");
        vm.warp(block.timestamp + 60); // expired; nobody calls expireLeases
        vm.assertEq(meter.usage(customer, tf1, LIMITED).running, 0, "not running");
        vm.assertTrue(_request(b, customer, LIMITED, 1, 1, 60).granted, "the seat is free");
        vm.assertEq(meter.usage(customer, tf1, LIMITED).running, 1, "one running");
    }

    // ------------------------------------------------------------------ helpers


    /// @dev On a fresh meter with `ended` ended timeframes: the gas of a denied attempt with none active, and of a
    /// grant in a timeframe that follows them; each measured after a first call has moved the cursor.
    function _attemptGas(uint256 ended) internal returns (uint256 denied, uint256 granted) {
        address[] memory agents = new address[](1);
        agents[0] = a;
        IMeter m = MeterFixture.deploy(provider, agents);
        uint40 t0 = uint40(block.timestamp + 10);
        vm.startPrank(provider);
        for (uint256 i; i < ended; ++i) {
            m.createTimeframe(t0 + uint40(i) * 10, t0 + uint40(i) * 10 + 10, MeterFixture.EUR);
        }
        uint40 after_ = t0 + uint40(ended) * 10 + 100;
        TimeframeId last = m.createTimeframe(after_, after_ + DAY, MeterFixture.EUR);
        m.setRules(last, FREE, MeterFixture.rules(0, 0, 1, 0));
        m.enrollCustomer(customer);
        vm.stopPrank();

        vm.warp(after_ - 50); // every timeframe before `last` has ended; none is active
        vm.startPrank(a);
        m.requestActivation(customer, FREE, MeterFixture.requestId(0, 1), 60); // walks once
        uint256 g = gasleft();
        m.requestActivation(customer, FREE, MeterFixture.requestId(1, 1), 60);
        denied = g - gasleft();
        vm.warp(after_);
        m.requestActivation(customer, FREE, MeterFixture.requestId(2, 1), 60); // moves the cursor to `last`
        g = gasleft();
        m.requestActivation(customer, FREE, MeterFixture.requestId(3, 1), 60);
        granted = g - gasleft();
        vm.stopPrank();
    }

    function _diff(uint256 x, uint256 y) internal pure returns (uint256) {
        return x > y ? x - y : y - x;
    }
}
