// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IMeter} from "../../contracts/interfaces/IMeter.sol";
import {IMeteringTypes} from "../../contracts/interfaces/IMeteringTypes.sol";
import {ISettlement} from "../../contracts/interfaces/ISettlement.sol";
import {TimeframeId, InstanceType} from "../../contracts/types/Ids.sol";
import {InvoiceMath} from "../utils/InvoiceMath.sol";
import {TestToken} from "../utils/TestTokens.sol";

/// @title What the settlement handlers saw, kept independently of both contracts.
/// @dev Token flows (deposits, withdrawals, payouts) and, per (customer, timeframe, type), the quantities an invoice
/// prices, from the handlers' own knowledge of each lease (granted span, renewals, stops), never from the meter's
/// counters. Anything that should not have happened is a counted violation with its first message kept.
contract SettlementGhost {
    struct Lease {
        address customer;
        uint16 timeframe;
        uint16 instanceType;
        uint40 end;
        bool open;
    }

    IMeter public immutable meter;
    ISettlement public immutable settlement;
    TestToken public immutable token;
    uint256 public immutable upm;
    address[] public customers;
    address[] public agents;
    uint16 public immutable timeframes;
    uint16 public immutable types;

    uint256 public deposits;
    uint256 public withdrawals;
    uint256 public payouts;
    uint256 public violations;
    string public firstViolation;
    uint256 public settledCount;
    uint256 public depositDenials;
    uint256 public grants;

    bytes32[] public instances;
    mapping(bytes32 => Lease) public leases;
    mapping(address => mapping(uint16 => mapping(uint16 => InvoiceMath.Quantities))) internal _q;
    mapping(address => mapping(uint16 => bool)) public settled;
    mapping(address => mapping(uint16 => uint256)) public settledAmount;

    constructor(
        IMeter meter_,
        ISettlement settlement_,
        TestToken token_,
        uint256 upm_,
        address[] memory customers_,
        address[] memory agents_,
        uint16 timeframes_,
        uint16 types_
    ) {
        meter = meter_;
        settlement = settlement_;
        token = token_;
        upm = upm_;
        customers = customers_;
        agents = agents_;
        timeframes = timeframes_;
        types = types_;
    }

    function customer(uint256 seed) external view returns (address) {
        return customers[seed % customers.length];
    }

    function customerCount() external view returns (uint256) {
        return customers.length;
    }

    function agent(uint256 seed) external view returns (address) {
        return agents[seed % agents.length];
    }

    function instanceCount() external view returns (uint256) {
        return instances.length;
    }

    function lease(bytes32 id) external view returns (Lease memory) {
        return leases[id];
    }

    // ---------------------------------------------------------------- records

    function fail(string memory why) public {
        if (violations == 0) firstViolation = why;
        ++violations;
    }

    function onDeposit(uint256 amount) external {
        deposits += amount;
    }

    function onWithdraw(uint256 amount) external {
        withdrawals += amount;
    }

    function onDepositDenial() external {
        ++depositDenials;
    }

    function onGrant(bytes32 id, address c, uint16 tf, uint16 kind, uint40 start, uint40 end, bool continuation)
        external
    {
        leases[id] = Lease(c, tf, kind, end, true);
        if (!continuation) instances.push(id);
        InvoiceMath.Quantities storage q = _q[c][tf][kind];
        if (continuation) ++q.continuations;
        else ++q.activations;
        q.leasedSeconds += end - start;
        ++grants;
    }

    function onRenew(bytes32 id, uint40 end) external {
        Lease storage l = leases[id];
        _q[l.customer][l.timeframe][l.instanceType].leasedSeconds += end - l.end;
        l.end = end;
    }

    function onStop(bytes32 id, uint40 at) external {
        Lease storage l = leases[id];
        _q[l.customer][l.timeframe][l.instanceType].leasedSeconds -= l.end - at;
        l.end = at;
        l.open = false;
    }

    function onClose(bytes32 id) external {
        leases[id].open = false;
    }

    function onSettled(address c, uint16 tf, uint256 amount) external {
        if (settled[c][tf]) fail("settled twice");
        settled[c][tf] = true;
        settledAmount[c][tf] = amount;
        payouts += amount * upm;
        ++settledCount;
    }

    // ---------------------------------------------------------------- independent arithmetic

    /// @dev The final invoice's total (minor units) of (customer, timeframe) from the ghost quantities.
    function invoice(address c, uint16 tf) public view returns (uint256 total) {
        for (uint16 k = 1; k <= types; ++k) {
            (IMeteringTypes.Rules memory r,) = meter.rules(TimeframeId.wrap(tf), InstanceType.wrap(k));
            total += InvoiceMath.invoiceMinor(_q[c][tf][k], r);
        }
    }

    /// @dev What (customer, timeframe) committed (micro-units) from the ghost quantities.
    function committed(address c, uint16 tf) public view returns (uint256 total) {
        for (uint16 k = 1; k <= types; ++k) {
            (IMeteringTypes.Rules memory r,) = meter.rules(TimeframeId.wrap(tf), InstanceType.wrap(k));
            total += InvoiceMath.committedMicro(_q[c][tf][k], r);
        }
    }
}
