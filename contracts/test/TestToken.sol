// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title A stablecoin-like OpenZeppelin ERC-20 for local chains, the demo and the tests: any decimals, and anyone
/// may mint. Never deploy it where its tokens would be taken for money.
contract TestToken is ERC20 {
    uint8 private immutable _decimals;

    /// @param symbol_ The token's name and symbol.
    /// @param decimals_ Its decimals (6 like USDC and EURC, or 18).
    constructor(string memory symbol_, uint8 decimals_) ERC20(symbol_, symbol_) {
        _decimals = decimals_;
    }

    /// @notice The token's decimals, as given at deployment.
    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /// @notice Mints `amount` units to `to` (anyone may: a test token).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
