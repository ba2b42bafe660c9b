// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IMeter} from "../../contracts/interfaces/IMeter.sol";
import {IMeteringTypes} from "../../contracts/interfaces/IMeteringTypes.sol";
import {ISettlement} from "../../contracts/interfaces/ISettlement.sol";
import {TimeframeId, InstanceType} from "../../contracts/types/Ids.sol";
import {MeterFixture} from "../utils/MeterFixture.sol";
import {Vm, vm} from "../utils/Vm.sol";
import {SettlementGhost} from "./SettlementGhost.sol";

/// @dev What every settlement handler shares: the ghost, the contracts, and a settle step anyone may take.
abstract contract SettlementHandlerBase {
    SettlementGhost internal immutable ghost;
    IMeter internal immutable meter;
    ISettlement internal immutable settlement;

    constructor(SettlementGhost ghost_) {
        ghost = ghost_;
        meter = ghost_.meter();
        settlement = ghost_.settlement();
    }

    /// @dev `who` settles one (customer, timeframe) when it is due; a refusal of a due settlement is a violation,
    /// and a premature or repeated one must be refused.
    function _settle(address who, uint256 customerSeed, uint256 tfSeed) internal {
        address c = ghost.customer(customerSeed);
        uint16 tf = uint16(1 + tfSeed % ghost.timeframes());
        IMeteringTypes.Timeframe memory t = meter.timeframe(TimeframeId.wrap(tf));
        ISettlement.EscrowView memory e = settlement.escrow(c);
        bool due = block.timestamp >= t.end && e.currency != bytes8(0) && t.end > e.since && !ghost.settled(c, tf);
        vm.prank(who);
        try settlement.settle(c, TimeframeId.wrap(tf)) returns (uint256 amount) {
            if (!due) ghost.fail("a settlement that was not due went through");
            else ghost.onSettled(c, tf, amount);
        } catch {
            if (due) ghost.fail("a due settlement reverted");
        }
    }

    /// @dev `who` settles every customer of a timeframe in one batch (each one listed twice).
    function _settleMany(address who, uint256 tfSeed) internal {
        uint16 tf = uint16(1 + tfSeed % ghost.timeframes());
        IMeteringTypes.Timeframe memory t = meter.timeframe(TimeframeId.wrap(tf));
        if (block.timestamp < t.end) return;
        uint256 n = ghost.customerCount();
        address[] memory batch = new address[](2 * n);
        bool[] memory before = new bool[](n);
        for (uint256 i; i < n; ++i) {
            batch[i] = batch[n + i] = ghost.customer(i);
            before[i] = ghost.settled(batch[i], tf);
        }
        vm.prank(who);
        try settlement.settleMany(batch, TimeframeId.wrap(tf)) returns (uint256, uint256 tokens) {
            uint256 paid;
            for (uint256 i; i < n; ++i) {
                (bool done, uint256 amount) = settlement.settlement(batch[i], TimeframeId.wrap(tf));
                if (done && !before[i]) {
                    ghost.onSettled(batch[i], tf, amount);
                    if (settlement.escrow(batch[i]).currency == t.currency) paid += amount * ghost.upm();
                }
            }
            if (paid != tokens) ghost.fail("a batch paid another sum than its settlements");
        } catch {
            ghost.fail("a batch settlement reverted");
        }
    }
}

/// @dev Customers deposit and withdraw (customers 0 and 1; customer 2 stays postpaid).
contract CustomerHandler is SettlementHandlerBase {
    constructor(SettlementGhost ghost_) SettlementHandlerBase(ghost_) {}

    function deposit(uint256 customerSeed, uint256 amountSeed) external {
        address c = ghost.customer(customerSeed % 2);
        uint256 amount = 1 + amountSeed % 3_000_000; // up to 3 EUR in 6-decimal units, not whole cents
        ghost.token().mint(c, amount);
        vm.startPrank(c);
        ghost.token().approve(address(settlement), amount);
        try settlement.deposit(MeterFixture.EUR, amount) {
            ghost.onDeposit(amount);
        } catch {
            ghost.fail("a deposit reverted");
        }
        vm.stopPrank();
    }

    function withdraw(uint256 customerSeed, uint256 amountSeed) external {
        address c = ghost.customer(customerSeed % 2);
        uint256 available = settlement.escrow(c).available;
        // Sometimes more than is free: it must be refused.
        uint256 amount = 1 + amountSeed % (available + available / 4 + 1);
        vm.prank(c);
        try settlement.withdraw(amount) {
            if (amount > available) ghost.fail("withdrew more than was free");
            ghost.onWithdraw(amount);
        } catch {
            if (amount <= available) ghost.fail("a free withdrawal reverted");
        }
    }

    /// @dev The customer settles itself (anyone may).
    function settle(uint256 customerSeed, uint256 tfSeed) external {
        _settle(ghost.customer(customerSeed), customerSeed, tfSeed);
    }
}

/// @dev Agents activate, renew (continuing across a boundary), deactivate; time passes.
contract AgentHandler is SettlementHandlerBase {
    mapping(address => uint56) internal _nextSeat;

    constructor(SettlementGhost ghost_) SettlementHandlerBase(ghost_) {}

    function activate(uint256 agentSeed, uint256 customerSeed, uint256 typeSeed, uint256 leaseSeed) external {
        address a = ghost.agent(agentSeed);
        address c = ghost.customer(customerSeed);
        uint16 kind = uint16(1 + typeSeed % ghost.types());
        uint64 requestId = MeterFixture.requestId(++_nextSeat[a], 1);
        bytes32 id = MeterFixture.instanceId(a, requestId);
        vm.prank(a);
        try meter.requestActivation(c, InstanceType.wrap(kind), requestId, uint32(1 + leaseSeed % 3 hours)) returns (
            IMeteringTypes.Decision memory d
        ) {
            if (d.granted) {
                IMeteringTypes.Instance memory inst = meter.instance(id);
                ghost.onGrant(
                    id, c, TimeframeId.unwrap(inst.timeframe), kind, uint40(block.timestamp), inst.leaseEnd, false
                );
            } else if (d.reason == IMeteringTypes.DenialReason.DepositExhausted) {
                ghost.onDepositDenial();
            }
        } catch {
            ghost.fail("an activation reverted");
        }
    }

    function renew(uint256 instanceSeed, uint256 leaseSeed) external {
        if (ghost.instanceCount() == 0) return;
        bytes32 id = ghost.instances(instanceSeed % ghost.instanceCount());
        SettlementGhost.Lease memory l = ghost.lease(id);
        if (!l.open) return;
        if (meter.instance(id).status != IMeteringTypes.InstanceStatus.Open) {
            ghost.onClose(id); // a third party closed it after it expired
            return;
        }
        bool continuing = block.timestamp >= l.end;
        vm.recordLogs();
        vm.prank(MeterFixture.agentOf(id));
        try meter.renewLease(id, uint32(1 + leaseSeed % 3 hours)) returns (
            IMeteringTypes.Decision memory d, uint40 leaseEnd
        ) {
            if (!continuing) {
                if (d.granted) ghost.onRenew(id, leaseEnd);
                return;
            }
            if (!d.granted) {
                ghost.onClose(id);
                return;
            }
            IMeteringTypes.Instance memory inst = meter.instance(id);
            ghost.onGrant(
                id, l.customer, TimeframeId.unwrap(inst.timeframe), l.instanceType, _continuedFrom(), leaseEnd, true
            );
        } catch {
            ghost.fail("a renewal reverted");
        }
    }

    /// @dev The second a continuation is billed from, as its `LeaseContinued` event says (the invoice reads the
    /// same event): the new timeframe's start, or later when its seat was freed later (v3's grace).
    function _continuedFrom() internal returns (uint40) {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == IMeter.LeaseContinued.selector) {
                (, uint40 startedAt,,) = abi.decode(logs[i].data, (uint16, uint40, uint40, bool));
                return startedAt;
            }
        }
        ghost.fail("a granted continuation without its LeaseContinued event");
        return 0;
    }

    function deactivate(uint256 instanceSeed) external {
        if (ghost.instanceCount() == 0) return;
        bytes32 id = ghost.instances(instanceSeed % ghost.instanceCount());
        SettlementGhost.Lease memory l = ghost.lease(id);
        if (!l.open || meter.instance(id).status != IMeteringTypes.InstanceStatus.Open) return;
        vm.prank(MeterFixture.agentOf(id));
        try meter.deactivate(id) {
            if (block.timestamp < l.end) ghost.onStop(id, uint40(block.timestamp));
            else ghost.onClose(id);
        } catch {
            ghost.fail("a deactivation reverted");
        }
    }

    function wait(uint256 secondsSeed) external {
        vm.warp(block.timestamp + 1 + secondsSeed % 20 minutes);
    }
}

/// @dev The provider closes instances and settles (for the timeframe it likes, when it likes).
contract ProviderHandler is SettlementHandlerBase {
    address internal immutable provider;

    constructor(SettlementGhost ghost_, address provider_) SettlementHandlerBase(ghost_) {
        provider = provider_;
    }

    function closeInstance(uint256 instanceSeed) external {
        if (ghost.instanceCount() == 0) return;
        bytes32 id = ghost.instances(instanceSeed % ghost.instanceCount());
        SettlementGhost.Lease memory l = ghost.lease(id);
        if (!l.open || meter.instance(id).status != IMeteringTypes.InstanceStatus.Open) return;
        vm.prank(provider);
        try meter.closeInstance(id) {
            if (block.timestamp < l.end) ghost.onStop(id, uint40(block.timestamp));
            else ghost.onClose(id);
        } catch {
            ghost.fail("a provider close reverted");
        }
    }

    function settle(uint256 customerSeed, uint256 tfSeed) external {
        _settle(provider, customerSeed, tfSeed);
    }
}

/// @dev Anyone: settles for others, alone or in batches, and closes expired leases.
contract ThirdPartyHandler is SettlementHandlerBase {
    address internal constant STRANGER = address(0x5757);

    constructor(SettlementGhost ghost_) SettlementHandlerBase(ghost_) {}

    function settle(uint256 customerSeed, uint256 tfSeed) external {
        _settle(STRANGER, customerSeed, tfSeed);
    }

    function settleMany(uint256 tfSeed) external {
        _settleMany(STRANGER, tfSeed);
    }

    function expire(uint256 instanceSeed) external {
        if (ghost.instanceCount() == 0) return;
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = ghost.instances(instanceSeed % ghost.instanceCount());
        vm.prank(STRANGER);
        try meter.expireLeases(ids) returns (uint256 closed) {
            if (closed == 1) ghost.onClose(ids[0]);
        } catch {
            ghost.fail("expireLeases reverted");
        }
    }
}
