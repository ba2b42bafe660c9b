// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IMeter} from "../../contracts/interfaces/IMeter.sol";
import {IMeteringTypes} from "../../contracts/interfaces/IMeteringTypes.sol";
import {TimeframeId, InstanceType} from "../../contracts/types/Ids.sol";
import {AttackBase} from "../utils/AttackBase.sol";
import {MeterFixture} from "../utils/MeterFixture.sol";
import {vm} from "../utils/Vm.sol";

/// @title The attacks of issue 15 on the contract, one test (or a few) per finding: each failed on v2 and is
/// refused or bounded on v3.
/// @dev Agents `a` (honest) and `b` hold AGENT_ROLE; `third` holds no role. Two adjacent timeframes of 10,000 s.
/// ONE_SEAT: 0.01 cent per second (10,000 micro-units), a hard limit of one instance. FREE: no price, no limit. QUOTA: one activation per
/// timeframe (hard), no concurrency limit. BOUNDED: no price, leases of at most 600 s.
contract AttacksV3Test is AttackBase {
    uint40 internal constant LENGTH = 10_000;
    uint40 internal constant GRACE = 15 minutes;
    InstanceType internal constant ONE_SEAT = InstanceType.wrap(1);
    InstanceType internal constant FREE = InstanceType.wrap(2);
    InstanceType internal constant QUOTA = InstanceType.wrap(3);
    InstanceType internal constant BOUNDED = InstanceType.wrap(4);
    bytes8 internal constant USD = "USD";

    address internal third = address(0x3D);

    function setUp() public {
        _twoTimeframes(LENGTH);
        for (uint16 t = 1; t <= 2; ++t) {
            TimeframeId id = MeterFixture.tf(t);
            meter.setRules(id, ONE_SEAT, MeterFixture.rules(0, 10_000, 1, 1));
            meter.setRules(id, FREE, MeterFixture.rules(0, 0, 1, 0));
            IMeteringTypes.Rules memory quota = MeterFixture.rules(5_000_000, 0, 1, 0);
            quota.maxActivations = 1;
            meter.setRules(id, QUOTA, quota);
            IMeteringTypes.Rules memory bounded = MeterFixture.rules(0, 0, 1, 0);
            bounded.maxLeaseSeconds = 600;
            meter.setRules(id, BOUNDED, bounded);
        }
        meter.enrollCustomer(customer);
        vm.stopPrank();
        vm.warp(start1);
    }

    // ------------------------------------------------------------------ a revoke that does nothing (Medium)

    /// @dev v2: a customer that never approved anyone revoked `b`, `mayBill` stayed true and `b` was granted.
    function test_revokeWithoutApprovals_stopsTheAgentsActivations() public {
        vm.prank(customer);
        meter.revokeAgent(b);
        vm.assertTrue(!meter.mayBill(customer, b), "mayBill false after the revoke");
        vm.assertTrue(meter.agentRevoked(customer, b), "revoked");
        IMeteringTypes.Decision memory d = _request(b, customer, FREE, 0, 1, 600);
        vm.assertTrue(!d.granted && d.reason == IMeteringTypes.DenialReason.AgentNotApproved, "denied");
        vm.assertTrue(meter.mayBill(customer, a), "other agents still bill the open customer");
        vm.assertTrue(_request(a, customer, FREE, 0, 1, 600).granted, "a is granted");
    }

    /// @dev The revoked agent's renewals are denied too, and lifting the restriction does not lift the revoke.
    function test_revokedAgent_cannotRenew_evenWhenTheCustomerLiftsItsRestriction() public {
        bytes32 id = _activate(b, customer, FREE, 0, 1, 600);
        vm.startPrank(customer);
        meter.revokeAgent(b);
        meter.setAgentRestriction(false);
        vm.stopPrank();
        vm.prank(b);
        (IMeteringTypes.Decision memory d,) = meter.renewLease(id, 600);
        vm.assertTrue(d.reason == IMeteringTypes.DenialReason.AgentNotApproved, "renewal denied");
        vm.prank(customer);
        meter.approveAgent(b);
        vm.prank(b);
        (d,) = meter.renewLease(id, 600);
        vm.assertTrue(d.granted, "approving it again lifts the revoke");
    }

    // ------------------------------------------------------------------ anyone can block a continuation (Medium)

    /// @dev v2: anyone's `expireLeases([id])` in the first block of the next timeframe closed the boundary lease and
    /// its holder's renewal reverted `MeteringInstanceNotOpen`. Under `maxActivations` the restart was denied.
    function test_thirdPartyExpire_atTheBoundary_cannotBlockTheContinuation() public {
        bytes32 id = _activate(a, customer, QUOTA, 0, 1, uint32(LENGTH)); // runs to the end of timeframe 1
        vm.warp(start1 + LENGTH);
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = id;
        vm.prank(third);
        vm.assertEq(meter.expireLeases(ids), 0, "skipped: still continuable");
        vm.assertTrue(meter.instance(id).status == IMeteringTypes.InstanceStatus.Open, "still open");
        _activate(b, customer, QUOTA, 0, 1, 60); // the type's one activation of timeframe 2 is used
        vm.warp(start1 + LENGTH + 30);
        vm.prank(a);
        (IMeteringTypes.Decision memory d,) = meter.renewLease(id, 600);
        vm.assertTrue(d.granted, "continued, not restarted: no activation, no activation fee");
        vm.assertEq(meter.usage(customer, tf2, QUOTA).activations, 1, "only b's activation");
        vm.assertEq(meter.spent(customer, tf2), 5_000_000, "b's fee only");
    }

    /// @dev After the grace, the boundary lease is an ordinary expired lease: anyone closes it, and a late
    /// renewal is denied.
    function test_afterTheGrace_expireCloses_andTheRenewalIsDenied() public {
        bytes32 id = _activate(a, customer, FREE, 0, 1, uint32(LENGTH));
        vm.warp(start1 + LENGTH + GRACE);
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = id;
        vm.assertEq(meter.expireLeases(ids), 1, "closed after the grace");
        bytes32 id2 = _activate(a, customer, FREE, 1, 1, uint32(LENGTH));
        vm.warp(start1 + 2 * LENGTH + GRACE);
        vm.prank(a);
        (IMeteringTypes.Decision memory d,) = meter.renewLease(id2, 600);
        vm.assertTrue(d.reason == IMeteringTypes.DenialReason.LeaseExpired, "late continuation denied");
    }

    // ------------------------------------------------------------------ a late continuation billed without bound

    /// @dev v2: with 1 seat and a 10,000 s timeframe, 19,990 s were billed (another lease held the seat, then the
    /// late continuation was billed from the start). Now it is billed from when the seat became free.
    function test_lateContinuation_onASeatHeldMeanwhile_isBilledFromWhenTheSeatFreed() public {
        bytes32 id = _activate(a, customer, ONE_SEAT, 0, 1, uint32(LENGTH));
        vm.warp(start1 + LENGTH);
        _activate(b, customer, ONE_SEAT, 0, 1, 500); // holds the only seat for [start2, start2 + 500)
        vm.warp(start1 + LENGTH + 600);
        vm.recordLogs();
        vm.prank(a);
        (IMeteringTypes.Decision memory d, uint40 leaseEnd) = meter.renewLease(id, 1_000);
        vm.assertTrue(d.granted, "continued");
        uint256 leased = meter.usage(customer, tf2, ONE_SEAT).leasedSeconds;
        vm.assertEq(leased, 500 + (leaseEnd - (start1 + LENGTH + 500)), "b's 500 s, then a's from the freed second");
        vm.assertLe(leased, LENGTH, "never above one seat x the timeframe");
    }

    /// @dev v2: renewing 9,999 s late billed 10,000 s for an instance that held a lease for 1 s of that timeframe.
    function test_continuationAfterTheGrace_billsNothing() public {
        bytes32 id = _activate(a, customer, ONE_SEAT, 0, 1, uint32(LENGTH));
        vm.warp(start1 + LENGTH + 9_999);
        vm.prank(a);
        (IMeteringTypes.Decision memory d,) = meter.renewLease(id, 1);
        vm.assertTrue(d.reason == IMeteringTypes.DenialReason.LeaseExpired, "denied");
        vm.assertEq(meter.usage(customer, tf2, ONE_SEAT).leasedSeconds, 0, "nothing billed");
    }

    /// @dev Within the grace on a seat nobody used, billing starts at the boundary (no second unbilled), and the
    /// unleased part is at most the grace.
    function test_continuationWithinTheGrace_onAnUnusedSeat_isBilledFromTheBoundary() public {
        bytes32 id = _activate(a, customer, ONE_SEAT, 0, 1, uint32(LENGTH));
        vm.warp(start1 + LENGTH + GRACE - 1);
        vm.prank(a);
        (, uint40 leaseEnd) = meter.renewLease(id, 60);
        vm.assertEq(meter.usage(customer, tf2, ONE_SEAT).leasedSeconds, leaseEnd - (start1 + LENGTH), "from start");
    }

    // ------------------------------------------------------------------ a revoke does not stop billing (Low)

    /// @dev v2: a lease of 2^32 - 1 s reached the timeframe's end and ran on after the revoke. Now the rules bound
    /// every lease, and the customer stops the instance itself.
    function test_maxLeaseSeconds_boundsGrantAndRenewal() public {
        bytes32 id = _activate(b, customer, BOUNDED, 0, 1, type(uint32).max);
        vm.assertEq(meter.instance(id).leaseEnd, block.timestamp + 600, "grant bounded");
        vm.warp(block.timestamp + 100);
        vm.prank(b);
        (, uint40 leaseEnd) = meter.renewLease(id, type(uint32).max);
        vm.assertEq(leaseEnd, block.timestamp + 600, "renewal bounded");
    }

    function test_customerStopsTheInstanceOfARevokedAgent_billingStopsNow() public {
        bytes32 id = _activate(b, customer, ONE_SEAT, 0, 1, uint32(LENGTH));
        vm.warp(start1 + 4);
        vm.startPrank(customer);
        meter.revokeAgent(b);
        meter.stopInstance(id);
        vm.stopPrank();
        vm.assertTrue(meter.instance(id).status == IMeteringTypes.InstanceStatus.Closed, "closed");
        vm.assertEq(meter.usage(customer, tf1, ONE_SEAT).leasedSeconds, 4, "4 s billed, not 10,000");
        vm.assertEq(meter.spent(customer, tf1), 40_000, "0.04 cent committed, not 100 cents");
    }

    function test_stopInstance_byAnyoneButItsCustomer_reverts() public {
        bytes32 id = _activate(b, customer, FREE, 0, 1, 600);
        vm.expectRevert(abi.encodeWithSelector(IMeter.MeteringNotInstanceCustomer.selector, id, third));
        vm.prank(third);
        meter.stopInstance(id);
    }

    // ------------------------------------------------------------------ an unchecked cast (Low)

    /// @dev v2: with extreme but valid rules `spent()` wrapped from 7.92e28 to 1.21e24 and a later `deactivate`
    /// reverted on the refund's underflow. Now spending stops below 2^96 (the next grant is denied), and every stop
    /// still works. Each lease commits at most 2^32 s x 2^48 micro-units = 2^80, so 2^16 leases reach 2^96: they go
    /// in batches of 256, with gas metering paused.
    function test_extremePrices_spendingNeverWraps_andStopsStillWork() public {
        vm.prank(provider);
        TimeframeId tf3 = meter.createTimeframe(start1 + 3 * LENGTH, start1 + 3 * LENGTH + 2 ** 33, MeterFixture.EUR);
        vm.prank(provider);
        meter.setRules(tf3, FREE, MeterFixture.rules(type(uint48).max, type(uint48).max, 1, 0));
        vm.warp(start1 + 3 * LENGTH);
        vm.pauseGasMetering();
        uint56 seat;
        bool denied;
        IMeteringTypes.ActivationRequest[] memory batch = new IMeteringTypes.ActivationRequest[](256);
        while (!denied) {
            for (uint256 i; i < 256; ++i) {
                batch[i] = IMeteringTypes.ActivationRequest(
                    customer, FREE, MeterFixture.requestId(seat++, 1), type(uint32).max
                );
            }
            vm.prank(a);
            IMeteringTypes.Decision[] memory ds = meter.requestActivations(batch);
            for (uint256 i; i < 256; ++i) {
                if (!ds[i].granted) {
                    vm.assertEq(uint256(ds[i].reason), uint256(IMeteringTypes.DenialReason.SpendingCapReached), "bound");
                    denied = true;
                }
            }
            vm.assertLe(meter.spent(customer, tf3), type(uint96).max, "spending within 96 bits");
        }
        vm.resumeGasMetering();
        uint256 before = meter.spent(customer, tf3);
        vm.assertGe(before, uint256(type(uint96).max) - 2 ** 81, "up against the bound, not wrapped");
        vm.warp(block.timestamp + 10);
        vm.prank(a);
        meter.deactivate(MeterFixture.instanceId(a, MeterFixture.requestId(0, 1)));
        vm.assertLt(meter.spent(customer, tf3), before, "the refund is given back, no underflow");
    }

    // ------------------------------------------------------------------ smaller points

    function test_capInAnotherCurrency_isRefusedNamingBoth() public {
        vm.expectRevert(abi.encodeWithSelector(IMeter.MeteringCapCurrencyMismatch.selector, USD, MeterFixture.EUR));
        vm.prank(customer);
        meter.setSpendingCap(50, USD);
    }

    /// @dev A cap set in EUR cannot bound a USD timeframe: its decisions are denied until the customer sets a cap
    /// in USD (or none).
    function test_capOfAnotherCurrency_deniesDecisionsOfALaterTimeframe() public {
        vm.prank(customer);
        meter.setSpendingCap(5_000, MeterFixture.EUR);
        vm.prank(provider);
        TimeframeId tf3 = meter.createTimeframe(start1 + 3 * LENGTH, start1 + 4 * LENGTH, USD);
        vm.prank(provider);
        meter.setRules(tf3, FREE, MeterFixture.rules(0, 0, 1, 0));
        vm.warp(start1 + 3 * LENGTH);
        IMeteringTypes.Decision memory d = _request(a, customer, FREE, 0, 1, 60);
        vm.assertTrue(d.reason == IMeteringTypes.DenialReason.CapCurrencyMismatch, "denied");
        vm.prank(customer);
        meter.setSpendingCap(5_000, USD);
        vm.assertTrue(_request(a, customer, FREE, 1, 1, 60).granted, "granted under a USD cap");
    }

    function test_replayWithAnotherLeaseLength_revertsNamedError() public {
        _activate(a, customer, FREE, 0, 1, 3600);
        bytes32 id = MeterFixture.instanceId(a, MeterFixture.requestId(0, 1));
        vm.expectRevert(abi.encodeWithSelector(IMeter.MeteringReplayLeaseMismatch.selector, id, uint32(60)));
        vm.prank(a);
        meter.requestActivation(customer, FREE, MeterFixture.requestId(0, 1), 60);
        vm.assertTrue(_request(a, customer, FREE, 0, 1, 3600).granted, "the same request replays");
    }

    /// @dev A leaked agent key billed every passive customer without limit. A provider's default cap bounds it.
    function test_passiveCustomer_startsWithTheProvidersDefaultCap() public {
        address passive = address(0xC9);
        vm.startPrank(provider);
        meter.setDefaultCustomerCap(1, MeterFixture.EUR); // 1 cent: 100 s of ONE_SEAT
        meter.enrollCustomer(passive);
        vm.stopPrank();
        IMeteringTypes.CustomerAccount memory acct = meter.customerAccount(passive);
        vm.assertEq(acct.spendingCap, 1, "default cap");
        vm.assertEq(bytes32(acct.capCurrency), bytes32(MeterFixture.EUR), "in EUR");
        vm.assertTrue(_request(b, passive, ONE_SEAT, 0, 1, 100).granted, "1 cent of time");
        vm.assertTrue(
            _request(b, passive, FREE, 1, 1, 60).granted && _request(b, passive, ONE_SEAT, 2, 1, 1).reason
                == IMeteringTypes.DenialReason.ConcurrencyLimitReached,
            "free still granted"
        );
        vm.warp(block.timestamp + 100);
        IMeteringTypes.Decision memory over = _request(b, passive, ONE_SEAT, 3, 1, 1);
        vm.assertEq(uint256(over.reason), uint256(IMeteringTypes.DenialReason.SpendingCapReached), "capped");
    }
}
