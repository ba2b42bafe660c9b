// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title `console.log(string, uint256)` without forge-std: forge prints calls to this address with `-vv`.
library Console {
    address internal constant CONSOLE = 0x000000000000000000636F6e736F6c652e6c6f67;

    function log(string memory label, uint256 value) internal view {
        // A static call to an address without code succeeds; forge intercepts it and prints the arguments.
        (bool ok,) = CONSOLE.staticcall(abi.encodeWithSignature("log(string,uint256)", label, value));
        ok;
    }
}
