// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IMeter} from "../../contracts/interfaces/IMeter.sol";
import {ISettlement} from "../../contracts/interfaces/ISettlement.sol";
import {vm} from "./Vm.sol";

/// @title Deploys the settlement contract beside a meter (through its ABI, like {MeterFixture}).
library SettlementFixture {
    /// @dev A settlement contract owned by `provider` (the meter's admin), paying `payee`, holding the meter's
    /// settlement role.
    function deploy(IMeter meter, address provider, address payee) internal returns (ISettlement settlement) {
        settlement = ISettlement(vm.deployCode("Settlement.sol:Settlement", abi.encode(meter, provider, payee)));
        vm.prank(provider);
        IAccessControl(address(meter)).grantRole(keccak256("SETTLEMENT_ROLE"), address(settlement));
    }
}
