// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IMeter} from "../../contracts/interfaces/IMeter.sol";
import {IMeteringTypes} from "../../contracts/interfaces/IMeteringTypes.sol";
import {TimeframeId, InstanceType} from "../../contracts/types/Ids.sol";
import {MeterFixture} from "./MeterFixture.sol";
import {vm} from "./Vm.sol";

/// @title What the attack suites share: a meter with two agents, two adjacent timeframes, and the agent's calls.
/// @dev Agents `a` (the honest one) and `b` both hold AGENT_ROLE; `provider` administers the meter and manages its
/// rules. Each suite's `setUp` calls `_twoTimeframes` with its own length, sets its own rules between
/// `vm.startPrank(provider)` and `vm.stopPrank()`, enrolls its customers and warps to `start1`.
abstract contract AttackBase {
    IMeter internal meter;
    address internal provider = address(0xB0B);
    address internal a = address(0xA1);
    address internal b = address(0xB2);
    address internal customer = address(0xC1);
    TimeframeId internal tf1;
    TimeframeId internal tf2;
    uint40 internal start1;

    /// @dev Deploys the meter and creates two adjacent EUR timeframes of `length` seconds, the first starting 100 s
    /// from now; leaves the provider's prank on, so the caller goes on with its rules.
    function _twoTimeframes(uint40 length) internal {
        vm.warp(1_000_000);
        address[] memory agents = new address[](2);
        agents[0] = a;
        agents[1] = b;
        meter = MeterFixture.deploy(provider, agents);
        start1 = uint40(block.timestamp + 100);
        vm.startPrank(provider);
        tf1 = meter.createTimeframe(start1, start1 + length, MeterFixture.EUR);
        tf2 = meter.createTimeframe(start1 + length, start1 + 2 * length, MeterFixture.EUR);
    }

    /// @dev `agent` asks for seat (`seatIndex`, `generation`) of customer `c`, type `t`, for `lease` seconds.
    function _request(address agent, address c, InstanceType t, uint56 seatIndex, uint8 generation, uint32 lease)
        internal
        returns (IMeteringTypes.Decision memory)
    {
        vm.prank(agent);
        return meter.requestActivation(c, t, MeterFixture.requestId(seatIndex, generation), lease);
    }

    /// @dev As `_request`, asserting the grant; returns the instance id.
    function _activate(address agent, address c, InstanceType t, uint56 seatIndex, uint8 generation, uint32 lease)
        internal
        returns (bytes32)
    {
        vm.assertTrue(_request(agent, c, t, seatIndex, generation, lease).granted, "granted");
        return MeterFixture.instanceId(agent, MeterFixture.requestId(seatIndex, generation));
    }
}
