// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {vm} from "./Vm.sol";

/// @title The invariant-test configuration forge reads from a test contract (what forge-std's StdInvariant offers).
/// @dev forge calls `targetContracts()` and `targetSelectors()` after `setUp` to learn what to fuzz; declaring them
/// here keeps the suite free of forge-std. Only the handlers are targets, and only their role functions.
abstract contract InvariantBase {
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    address[] private _targetedContracts;
    FuzzSelector[] private _targetedSelectors;

    function targetContracts() public view returns (address[] memory) {
        return _targetedContracts;
    }

    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _targetedSelectors;
    }

    function _target(address handler, bytes4[] memory selectors) internal {
        _targetedContracts.push(handler);
        _targetedSelectors.push(FuzzSelector(handler, selectors));
    }

    /// @dev `n` labelled addresses derived from `name`, the same in every run.
    function _actors(string memory name, uint256 n) internal returns (address[] memory actors) {
        actors = new address[](n);
        for (uint256 i; i < n; ++i) {
            actors[i] = address(uint160(uint256(keccak256(abi.encode(name, i)))));
            vm.label(actors[i], string.concat(name, "-", _digit(i)));
        }
    }

    function _digit(uint256 i) internal pure returns (string memory) {
        return string(abi.encodePacked(bytes1(uint8(48 + i % 10))));
    }
}
