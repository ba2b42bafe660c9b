// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IMeter} from "../../contracts/interfaces/IMeter.sol";
import {IMeteringTypes} from "../../contracts/interfaces/IMeteringTypes.sol";
import {TimeframeId, InstanceType} from "../../contracts/types/Ids.sol";
import {vm} from "./Vm.sol";

/// @title What every Foundry test of the meter starts from, through its ABI only.
/// @dev The meter is deployed from forge's own build of `contracts/Meter.sol` (same settings as the shipped
/// artifact: via IR, 2000 runs, cancun; tests/test_foundry_settings.py checks it) with `vm.deployCode`, so the tests import no implementation: they keep
/// passing while the contract's internals change, and they test what `./run compile` ships.
library MeterFixture {
    bytes8 internal constant EUR = "EUR";
    uint256 internal constant PRICE_SCALE = 1e6;

    /// @dev Deploys a meter administered by `provider`, which also manages rules, and gives `agents` the agent role.
    function deploy(address provider, address[] memory agents) internal returns (IMeter meter) {
        meter = IMeter(vm.deployCode("Meter.sol:Meter", abi.encode(provider, uint48(0))));
        vm.startPrank(provider);
        IAccessControl(address(meter)).grantRole(meter.RULES_MANAGER_ROLE(), provider);
        for (uint256 i; i < agents.length; ++i) {
            IAccessControl(address(meter)).grantRole(meter.AGENT_ROLE(), agents[i]);
        }
        vm.stopPrank();
    }

    function rules(uint48 pricePerActivation, uint48 pricePerTimeUnit, uint24 timeUnitSeconds, uint16 maxConcurrent)
        internal
        pure
        returns (IMeteringTypes.Rules memory r)
    {
        r.pricePerActivation = pricePerActivation;
        r.pricePerTimeUnit = pricePerTimeUnit;
        r.timeUnitSeconds = timeUnitSeconds;
        r.maxConcurrent = maxConcurrent;
    }

    function instanceId(address agent, uint64 requestId_) internal pure returns (bytes32) {
        return bytes32((uint256(uint160(agent)) << 96) | requestId_);
    }

    function requestId(uint56 seatIndex, uint8 generation) internal pure returns (uint64) {
        return (uint64(seatIndex) << 8) | generation;
    }

    function agentOf(bytes32 id) internal pure returns (address) {
        return address(uint160(uint256(id) >> 96));
    }

    function tf(uint16 id) internal pure returns (TimeframeId) {
        return TimeframeId.wrap(id);
    }

    function itype(uint16 id) internal pure returns (InstanceType) {
        return InstanceType.wrap(id);
    }
}
