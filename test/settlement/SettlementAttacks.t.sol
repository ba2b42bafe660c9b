// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IMeter} from "../../contracts/interfaces/IMeter.sol";
import {IMeteringTypes} from "../../contracts/interfaces/IMeteringTypes.sol";
import {IPrepaidMeter} from "../../contracts/interfaces/IPrepaidMeter.sol";
import {ISettlement} from "../../contracts/interfaces/ISettlement.sol";
import {TimeframeId, InstanceType} from "../../contracts/types/Ids.sol";
import {InvoiceMath} from "../utils/InvoiceMath.sol";
import {MeterFixture} from "../utils/MeterFixture.sol";
import {SettlementFixture} from "../utils/SettlementFixture.sol";
import {TestToken, FeeOnTransferToken, ReentrantToken, NoBoolToken} from "../utils/TestTokens.sol";
import {vm} from "../utils/Vm.sol";

/// @title Settlement (issue 16): one test per adversary, and the token edge cases.
/// @dev Two adjacent one-day EUR timeframes. Type 1 costs 0.0004 EUR per activation and 0.12 EUR per hour (so a
/// one-hour lease commits 12.04 cents, rounded up to 13 for the reserve, and bills 12 cents: 0.04 + 12.00 rounded
/// down per line); in timeframe 2 it costs ten times more. EUR is a 6-decimal token: 10,000 units per cent.
contract SettlementAttacksTest {
    uint32 internal constant DAY = 1 days;
    InstanceType internal constant T1 = InstanceType.wrap(1);
    uint256 internal constant UPM = 1e4; // token units per minor unit (6 decimals, 2 for EUR)

    IMeter internal meter;
    ISettlement internal settlement;
    TestToken internal eur;
    address internal provider = address(0xB0B);
    address internal payee = address(0xFEE);
    address internal agent = address(0xA1);
    address internal customer = address(0xC1);
    address internal other = address(0xC2);
    address internal stranger = address(0x5);
    TimeframeId internal tf1 = TimeframeId.wrap(1);
    TimeframeId internal tf2 = TimeframeId.wrap(2);
    uint40 internal start1;
    uint64 internal nextSeat = 1;

    function setUp() public {
        vm.warp(1_000_000);
        address[] memory agents = new address[](1);
        agents[0] = agent;
        meter = MeterFixture.deploy(provider, agents);
        settlement = SettlementFixture.deploy(meter, provider, payee);
        eur = new TestToken("EURC", 6);
        start1 = uint40(block.timestamp + 100);
        vm.startPrank(provider);
        meter.createTimeframe(start1, start1 + DAY, MeterFixture.EUR);
        meter.createTimeframe(start1 + DAY, start1 + 2 * DAY, MeterFixture.EUR);
        meter.setRules(tf1, T1, MeterFixture.rules(40_000, 12_000_000, 3600, 0));
        meter.setRules(tf2, T1, MeterFixture.rules(400_000, 120_000_000, 3600, 0));
        meter.enrollCustomer(customer);
        meter.enrollCustomer(other);
        settlement.setCurrencyToken(MeterFixture.EUR, IERC20(address(eur)), uint96(UPM));
        vm.stopPrank();
        vm.warp(start1);
    }

    // ------------------------------------------------------------------ helpers

    function _deposit(address who, uint256 cents) internal {
        eur.mint(who, cents * UPM);
        vm.startPrank(who);
        eur.approve(address(settlement), cents * UPM);
        settlement.deposit(MeterFixture.EUR, cents * UPM);
        vm.stopPrank();
    }

    function _activate(address who, uint32 leaseSeconds) internal returns (bytes32 id, IMeteringTypes.Decision memory d) {
        uint64 requestId = MeterFixture.requestId(uint56(nextSeat++), 1);
        vm.prank(agent);
        d = meter.requestActivation(who, T1, requestId, leaseSeconds);
        id = MeterFixture.instanceId(agent, requestId);
    }

    // ------------------------------------------------------------------ the cap is the deposit

    function test_grantBeyondTheDeposit_isDeniedDepositExhausted_andRecorded() public {
        _deposit(customer, 12); // 12 cents: a one-hour lease commits 12.04
        (bytes32 id, IMeteringTypes.Decision memory d) = _activate(customer, 3600);
        vm.assertTrue(!d.granted, "denied");
        vm.assertTrue(d.reason == IMeteringTypes.DenialReason.DepositExhausted, "reason DepositExhausted");
        vm.assertTrue(meter.instance(id).reason == IMeteringTypes.DenialReason.DepositExhausted, "recorded");
        _deposit(customer, 1);
        (, d) = _activate(customer, 3600);
        vm.assertTrue(d.granted, "granted once covered");
    }

    function test_zeroDeposit_isNotUnlimited() public {
        _deposit(customer, 1);
        vm.prank(customer);
        settlement.withdraw(UPM);
        (, IMeteringTypes.Decision memory d) = _activate(customer, 60);
        vm.assertTrue(d.reason == IMeteringTypes.DenialReason.DepositExhausted, "cap 0 means nothing when prepaid");
    }

    function test_prepaidCustomer_cannotSetItsOwnCap() public {
        _deposit(customer, 100);
        vm.expectRevert(abi.encodeWithSelector(IPrepaidMeter.MeteringPrepaidCap.selector, customer));
        vm.prank(customer);
        meter.setSpendingCap(1_000_000, MeterFixture.EUR);
    }

    function test_postpaidCustomer_keepsItsCapAndIsNotSettled() public {
        vm.prank(other);
        meter.setSpendingCap(5, MeterFixture.EUR);
        (, IMeteringTypes.Decision memory d) = _activate(other, 3600);
        vm.assertTrue(d.reason == IMeteringTypes.DenialReason.SpendingCapReached, "own cap, own reason");
        vm.warp(start1 + DAY);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.SettlementNotPrepaid.selector, other));
        settlement.settle(other, tf1);
    }

    function test_optIn_refusedWithACommitmentInTheActiveTimeframe() public {
        _activate(customer, 3600);
        eur.mint(customer, 100 * UPM);
        vm.startPrank(customer);
        eur.approve(address(settlement), 100 * UPM);
        vm.expectRevert(
            abi.encodeWithSelector(ISettlement.SettlementCommittedBeforePrepaid.selector, customer, 12_040_000)
        );
        settlement.deposit(MeterFixture.EUR, 100 * UPM);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ adversary: the customer

    function test_customerWithdrawsWhatARunningLeaseCommitted_reverts() public {
        _deposit(customer, 100);
        _activate(customer, 3600); // commits 12.04 cents: 13 reserved
        ISettlement.EscrowView memory e = settlement.escrow(customer);
        vm.assertEq(e.committed, 13 * UPM, "reserved, rounded up to a cent");
        vm.assertEq(e.available, 87 * UPM, "available");
        vm.expectRevert(
            abi.encodeWithSelector(ISettlement.SettlementInsufficientFree.selector, customer, 100 * UPM, 87 * UPM)
        );
        vm.prank(customer);
        settlement.withdraw(100 * UPM);
        vm.prank(customer);
        settlement.withdraw(87 * UPM);
        (, IMeteringTypes.Decision memory d) = _activate(customer, 3600);
        vm.assertTrue(d.reason == IMeteringTypes.DenialReason.DepositExhausted, "nothing left to grant");
    }

    /// @dev Spending resets per timeframe for postpaid customers; a prepaid one's unsettled timeframe still counts.
    function test_unsettledTimeframe_stillCountsInTheNext() public {
        _deposit(customer, 13);
        _activate(customer, 3600); // 12.04 committed in tf1
        vm.warp(start1 + DAY);
        (, IMeteringTypes.Decision memory d) = _activate(customer, 3600); // tf2 alone would be covered
        vm.assertTrue(d.reason == IMeteringTypes.DenialReason.DepositExhausted, "tf1's commitment still reserved");
        vm.prank(customer);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.SettlementInsufficientFree.selector, customer, 1, 0));
        settlement.withdraw(1);
        settlement.settle(customer, tf1); // pays 12, releases 12.04
        vm.assertEq(settlement.escrow(customer).available, 1 * UPM, "one cent left");
    }

    // ------------------------------------------------------------------ adversary: the provider

    function test_providerSettlesBeforeTheEnd_reverts() public {
        _deposit(customer, 100);
        _activate(customer, 3600);
        vm.warp(start1 + DAY - 1);
        vm.expectRevert(
            abi.encodeWithSelector(ISettlement.SettlementTimeframeNotEnded.selector, tf1, start1 + DAY)
        );
        vm.prank(provider);
        settlement.settle(customer, tf1);
    }

    function test_providerSettlesTwice_paysOnce() public {
        _deposit(customer, 100);
        _activate(customer, 3600);
        vm.warp(start1 + DAY);
        vm.prank(provider);
        vm.assertEq(settlement.settle(customer, tf1), 12, "0.04 + 12.00, each line rounded down");
        vm.expectRevert(abi.encodeWithSelector(ISettlement.SettlementAlreadySettled.selector, customer, tf1));
        vm.prank(provider);
        settlement.settle(customer, tf1);
        address[] memory batch = new address[](2);
        batch[0] = customer;
        batch[1] = customer;
        (uint256 n, uint256 tokens) = settlement.settleMany(batch, tf1);
        vm.assertEq(n, 0, "a batch skips what is settled");
        vm.assertEq(tokens, 0, "and pays nothing");
        vm.assertEq(eur.balanceOf(payee), 12 * UPM, "paid once");
        vm.assertEq(settlement.escrow(customer).balance, 88 * UPM, "the rest stays");
        vm.assertEq(settlement.escrow(customer).available, 88 * UPM, "and is free");
    }

    /// @dev tf2's rules cost ten times more; settling tf1 reads tf1's frozen rules whoever asks and whenever.
    function test_providerSettlesUnderAnotherTimeframesRules_cannot() public {
        _deposit(customer, 1000);
        _activate(customer, 3600);
        vm.warp(start1 + DAY);
        _activate(customer, 3600); // tf2: 1.204 EUR committed
        vm.warp(start1 + 2 * DAY);
        vm.prank(provider);
        vm.assertEq(settlement.settle(customer, tf1), 12, "tf1's rules");
        vm.assertEq(settlement.settle(customer, tf2), 120, "tf2's rules: 0.40 cents + 120 cents, rounded down");
        vm.assertEq(eur.balanceOf(payee), 132 * UPM, "both paid");
        vm.assertEq(settlement.escrow(customer).available, 868 * UPM, "the rest is the customer's");
    }

    function test_settlingATimeframeThatEndedBeforeTheDeposit_reverts() public {
        _activate(customer, 3600); // postpaid
        vm.warp(start1 + DAY);
        _deposit(customer, 100);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISettlement.SettlementPostpaidTimeframe.selector, customer, tf1, uint40(start1 + DAY)
            )
        );
        settlement.settle(customer, tf1);
        vm.assertEq(settlement.escrow(customer).available, 100 * UPM, "the postpaid usage reserves nothing");
    }

    // ------------------------------------------------------------------ adversary: a third party

    function test_thirdPartySettlesForSomeoneElse_paysExactlyTheInvoice() public {
        _deposit(customer, 100);
        (bytes32 id,) = _activate(customer, 3600);
        vm.warp(start1 + 600);
        vm.prank(agent);
        meter.deactivate(id); // 600 s: 0.04 + 2.00 cents
        vm.warp(start1 + DAY);
        vm.prank(stranger);
        uint256 amount = settlement.settle(customer, tf1);
        InvoiceMath.Quantities memory q = InvoiceMath.Quantities(1, 0, 600);
        (IMeteringTypes.Rules memory r,) = meter.rules(tf1, T1);
        vm.assertEq(amount, InvoiceMath.invoiceMinor(q, r), "the invoice, independently computed");
        vm.assertEq(amount, 2, "2 cents");
        vm.assertEq(eur.balanceOf(payee), 2 * UPM, "to the payee");
        vm.assertEq(eur.balanceOf(stranger), 0, "the stranger gets nothing");
        vm.assertEq(settlement.escrow(customer).available, 98 * UPM, "the customer keeps the rest");
        vm.assertEq(meter.customerAccount(customer).spent, 0, "nothing committed any more");
    }

    // ------------------------------------------------------------------ priced continuations

    function test_pricedContinuation_isCountedAndSettled() public {
        IMeteringTypes.Rules memory r = MeterFixture.rules(0, 0, 1, 0);
        r.pricePerContinuation = 2_500_000; // 2.5 cents
        vm.warp(1_000_000);
        vm.prank(provider);
        meter.createTimeframe(start1 + 2 * DAY, start1 + 3 * DAY, MeterFixture.EUR);
        vm.prank(provider);
        meter.setRules(TimeframeId.wrap(3), T1, r);
        vm.warp(start1 + 2 * DAY - 100);
        _deposit(customer, 100);
        (bytes32 id,) = _activate(customer, 100); // runs to tf2's end
        vm.warp(start1 + 2 * DAY);
        vm.prank(agent);
        meter.renewLease(id, 600); // continues into tf3
        uint32 continuations = IPrepaidMeter(address(meter)).pricedContinuations(
            (uint256(uint160(customer)) << 32) | (uint256(3) << 16) | InstanceType.unwrap(T1)
        );
        vm.assertEq(continuations, 1, "counted");
        vm.warp(start1 + 3 * DAY);
        vm.assertEq(settlement.settle(customer, TimeframeId.wrap(3)), 2, "2.5 cents, rounded down");
    }

    // ------------------------------------------------------------------ tokens as they really are

    function test_feeOnTransferToken_isRefused() public {
        FeeOnTransferToken fee = new FeeOnTransferToken();
        vm.prank(provider);
        settlement.setCurrencyToken("USD", IERC20(address(fee)), 1e4);
        fee.mint(customer, 1e6);
        vm.startPrank(customer);
        fee.approve(address(settlement), 1e6);
        vm.expectRevert(
            abi.encodeWithSelector(ISettlement.SettlementFeeOnTransfer.selector, address(fee), 1e6, 990_000)
        );
        settlement.deposit("USD", 1e6);
        vm.stopPrank();
    }

    function test_noBoolToken_depositsWithdrawsAndSettles() public {
        NoBoolToken usdt = new NoBoolToken();
        (ISettlement s, TimeframeId tf) = _usdSetup(IERC20(address(usdt)), 1e4);
        usdt.mint(customer, 1e6);
        vm.startPrank(customer);
        usdt.approve(address(s), 1e6);
        s.deposit("USD", 1e6);
        vm.stopPrank();
        _activate(customer, 3600);
        vm.warp(start1 + DAY);
        vm.assertEq(s.settle(customer, tf), 12, "settled");
        vm.prank(customer);
        s.withdraw(88e4);
        vm.assertEq(usdt.balanceOf(payee), 12e4, "payee paid");
        vm.assertEq(usdt.balanceOf(customer), 88e4, "customer refunded");
        vm.assertEq(usdt.balanceOf(address(s)), 0, "nothing strands");
    }

    function test_reentrantToken_cannotReenter() public {
        ReentrantToken re = new ReentrantToken();
        (ISettlement s, TimeframeId tf) = _usdSetup(IERC20(address(re)), 1e4);
        re.mint(customer, 1e6);
        vm.startPrank(customer);
        re.approve(address(s), 1e6);
        s.deposit("USD", 1e6);
        vm.stopPrank();
        _activate(customer, 3600);
        vm.warp(start1 + DAY);
        // The payout's transfer calls back into settle and withdraw: both refused, the settlement goes through once.
        re.arm(address(s), abi.encodeCall(ISettlement.settle, (customer, tf)));
        s.settle(customer, tf);
        vm.assertTrue(re.attempted() && !re.reentered(), "settle re-entry refused");
        re.arm(address(s), abi.encodeCall(ISettlement.withdraw, (1)));
        vm.prank(customer);
        s.withdraw(50e4);
        vm.assertTrue(!re.reentered(), "withdraw re-entry refused");
        vm.assertEq(re.balanceOf(payee), 12e4, "paid once");
        vm.assertEq(re.balanceOf(address(s)), 38e4, "deposits - payouts - withdrawals");
        vm.assertEq(s.held(IERC20(address(re))), 38e4, "accounted");
    }

    function test_18DecimalToken_paysAmountTimesUnits() public {
        TestToken usd18 = new TestToken("USD18", 18);
        (ISettlement s, TimeframeId tf) = _usdSetup(IERC20(address(usd18)), 1e16);
        usd18.mint(customer, 1e18);
        vm.startPrank(customer);
        usd18.approve(address(s), 1e18);
        s.deposit("USD", 1e18); // 1 USD
        vm.stopPrank();
        _activate(customer, 3600);
        vm.warp(start1 + DAY);
        vm.assertEq(s.settle(customer, tf), 12, "12 cents");
        vm.assertEq(usd18.balanceOf(payee), 12e16, "12 cents at 18 decimals");
        vm.assertEq(s.escrow(customer).available, 88e16, "the rest");
    }

    function test_currencyToken_isNamedOnce() public {
        vm.expectRevert(
            abi.encodeWithSelector(ISettlement.SettlementCurrencyConfigured.selector, MeterFixture.EUR, address(eur))
        );
        vm.prank(provider);
        settlement.setCurrencyToken(MeterFixture.EUR, IERC20(address(0x1234)), 1);
    }

    /// @dev A fresh meter and settlement with one USD timeframe (tf 1) under the rules of the EUR tf1, and `token`.
    function _usdSetup(IERC20 token, uint96 upm) internal returns (ISettlement s, TimeframeId tf) {
        address[] memory agents = new address[](1);
        agents[0] = agent;
        vm.warp(1_000_000);
        meter = MeterFixture.deploy(provider, agents);
        s = SettlementFixture.deploy(meter, provider, payee);
        vm.startPrank(provider);
        tf = meter.createTimeframe(start1, start1 + DAY, "USD");
        meter.setRules(tf, T1, MeterFixture.rules(40_000, 12_000_000, 3600, 0));
        meter.enrollCustomer(customer);
        s.setCurrencyToken("USD", token, upm);
        vm.stopPrank();
        vm.warp(start1);
    }

    /// @dev The escrow's currency is the cap's: a prepaid EUR customer is granted nothing in a USD timeframe (the
    /// deposit holds no USD), so no commitment in another currency ever counts against it.
    function test_prepaidCustomer_isDeniedInATimeframeOfAnotherCurrency() public {
        _deposit(customer, 100);
        vm.warp(1_000_000);
        vm.startPrank(provider);
        TimeframeId usd = meter.createTimeframe(start1 + 2 * DAY, start1 + 3 * DAY, "USD");
        meter.setRules(usd, T1, MeterFixture.rules(40_000, 12_000_000, 3600, 0));
        vm.stopPrank();
        vm.warp(start1 + 2 * DAY);
        (, IMeteringTypes.Decision memory d) = _activate(customer, 60);
        vm.assertTrue(d.reason == IMeteringTypes.DenialReason.CapCurrencyMismatch, "another currency: denied");
        vm.warp(start1 + 3 * DAY);
        vm.assertEq(settlement.settle(customer, usd), 0, "nothing to settle");
        vm.assertEq(settlement.escrow(customer).available, 100 * UPM, "the deposit is untouched");
    }
}
