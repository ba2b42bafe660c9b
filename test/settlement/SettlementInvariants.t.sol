// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IMeter} from "../../contracts/interfaces/IMeter.sol";
import {ISettlement} from "../../contracts/interfaces/ISettlement.sol";
import {TimeframeId} from "../../contracts/types/Ids.sol";
import {Console} from "../utils/Console.sol";
import {InvariantBase} from "../utils/InvariantBase.sol";
import {MeterFixture} from "../utils/MeterFixture.sol";
import {SettlementFixture} from "../utils/SettlementFixture.sol";
import {TestToken} from "../utils/TestTokens.sol";
import {vm} from "../utils/Vm.sol";
import {RandomRules} from "../invariant/RandomRules.sol";
import {SettlementGhost} from "./SettlementGhost.sol";
import {CustomerHandler, AgentHandler, ProviderHandler, ThirdPartyHandler} from "./SettlementHandlers.sol";

/// @title Settlement invariants (issue 16) over random sequences of customers, agents, the provider and third
/// parties: the escrow's books balance, every settlement is the final invoice (computed from the ghost, not the
/// meter), the payee receives all of it, and nothing granted is uncovered.
/// @dev Ten adjacent one-hour EUR timeframes with two types of random rules; a 6-decimal token (10,000 units per
/// cent). Customers 0 and 1 are prepaid from the start; customer 2 is postpaid and is never settled.
contract SettlementInvariants is InvariantBase {
    uint16 internal constant TIMEFRAMES = 10;
    uint16 internal constant TYPES = 2;
    uint256 internal constant UPM = 1e4;

    IMeter internal meter;
    ISettlement internal settlement;
    TestToken internal token;
    SettlementGhost internal ghost;
    address internal provider = address(0xB0B);
    address internal payee = address(0xFEE);

    function setUp() public {
        address[] memory agents = _actors("agent", 2);
        address[] memory customers = _actors("customer", 3);
        vm.warp(1_000_000);
        meter = MeterFixture.deploy(provider, agents);
        settlement = SettlementFixture.deploy(meter, provider, payee);
        token = new TestToken("EURC", 6);
        vm.startPrank(provider);
        settlement.setCurrencyToken(MeterFixture.EUR, IERC20(address(token)), uint96(UPM));
        uint40 start = uint40(block.timestamp + 1);
        for (uint16 t = 1; t <= TIMEFRAMES; ++t) {
            TimeframeId id = meter.createTimeframe(start, start + 1 hours, MeterFixture.EUR);
            for (uint16 k = 1; k <= TYPES; ++k) {
                meter.setRules(id, MeterFixture.itype(k), RandomRules.draw(t * 10 + k));
            }
            start += 1 hours;
        }
        for (uint256 i; i < customers.length; ++i) {
            meter.enrollCustomer(customers[i]);
        }
        vm.stopPrank();
        ghost = new SettlementGhost(meter, settlement, token, UPM, customers, agents, TIMEFRAMES, TYPES);
        // Customers 0 and 1 prepay from the start.
        for (uint256 i; i < 2; ++i) {
            token.mint(customers[i], 2_000_000);
            vm.startPrank(customers[i]);
            token.approve(address(settlement), 2_000_000);
            settlement.deposit(MeterFixture.EUR, 2_000_000);
            vm.stopPrank();
            ghost.onDeposit(2_000_000);
        }

        CustomerHandler c = new CustomerHandler(ghost);
        bytes4[] memory s = new bytes4[](3);
        (s[0], s[1], s[2]) = (c.deposit.selector, c.withdraw.selector, c.settle.selector);
        _target(address(c), s);
        AgentHandler a = new AgentHandler(ghost);
        s = new bytes4[](5);
        (s[0], s[1], s[2], s[3], s[4]) =
            (a.activate.selector, a.activate.selector, a.renew.selector, a.deactivate.selector, a.wait.selector);
        _target(address(a), s);
        ProviderHandler p = new ProviderHandler(ghost, provider);
        s = new bytes4[](2);
        (s[0], s[1]) = (p.closeInstance.selector, p.settle.selector);
        _target(address(p), s);
        ThirdPartyHandler x = new ThirdPartyHandler(ghost);
        s = new bytes4[](3);
        (s[0], s[1], s[2]) = (x.settle.selector, x.settleMany.selector, x.expire.selector);
        _target(address(x), s);
    }

    /// @dev One entry point for forge, so a campaign runs once for all four (as the meter's suite does).
    function invariant_settlement() public view {
        _noViolation();
        _tokenBalanceIsDepositsMinusPayoutsMinusWithdrawals();
        _settledIsTheFinalInvoice_andPaidInFull();
        _nothingGrantedIsUncovered();
    }

    /// @dev The token held equals deposits - payouts - withdrawals, and what the contract accounts for.
    function _tokenBalanceIsDepositsMinusPayoutsMinusWithdrawals() internal view {
        uint256 expected = ghost.deposits() - ghost.payouts() - ghost.withdrawals();
        vm.assertEq(token.balanceOf(address(settlement)), expected, "balance");
        vm.assertEq(settlement.held(IERC20(address(token))), expected, "held");
    }

    /// @dev Every settlement is exactly the final invoice (so no customer pays more), and the payee got them all.
    function _settledIsTheFinalInvoice_andPaidInFull() internal view {
        uint256 paid;
        for (uint256 i; i < 2; ++i) {
            address c = ghost.customer(i);
            for (uint16 tf = 1; tf <= TIMEFRAMES; ++tf) {
                if (!ghost.settled(c, tf)) continue;
                vm.assertEq(ghost.settledAmount(c, tf), ghost.invoice(c, tf), "settled == final invoice");
                paid += ghost.settledAmount(c, tf) * UPM;
            }
        }
        vm.assertEq(token.balanceOf(payee), paid, "the payee received every settled invoice");
        (bool postpaidSettled,) = settlement.settlement(ghost.customer(2), TimeframeId.wrap(1));
        vm.assertTrue(!postpaidSettled, "a postpaid customer is never settled");
    }

    /// @dev What the meter holds committed is exactly what unsettled timeframes committed, and the escrow covers it.
    function _nothingGrantedIsUncovered() internal view {
        for (uint256 i; i < 2; ++i) {
            address c = ghost.customer(i);
            uint256 committed;
            uint256 owed;
            for (uint16 tf = 1; tf <= TIMEFRAMES; ++tf) {
                if (ghost.settled(c, tf)) continue;
                committed += ghost.committed(c, tf);
                owed += ghost.invoice(c, tf);
            }
            vm.assertEq(meter.customerAccount(c).spent, committed, "spent == unsettled commitments");
            ISettlement.EscrowView memory e = settlement.escrow(c);
            vm.assertGe(e.balance, (committed + 1e6 - 1) / 1e6 * UPM, "the escrow covers every commitment");
            vm.assertGe(e.balance, owed * UPM, "and every unsettled invoice");
            vm.assertEq(e.balance - e.available, e.committed, "committed + available == balance");
        }
    }

    function _noViolation() internal view {
        vm.assertEq(ghost.violations(), 0, ghost.firstViolation());
    }

    function afterInvariant() public view {
        Console.log("grants", ghost.grants());
        Console.log("deposit denials", ghost.depositDenials());
        Console.log("settlements", ghost.settledCount());
    }
}
