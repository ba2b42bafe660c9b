// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title Test tokens for the settlement suites: OpenZeppelin's ERC20 at any decimals, and the misbehaving kinds.

/// @dev A plain stablecoin-like token (6 or 18 decimals in the tests); anyone may mint.
contract TestToken is ERC20 {
    uint8 private immutable _decimals;

    constructor(string memory symbol_, uint8 decimals_) ERC20(symbol_, symbol_) {
        _decimals = decimals_;
    }

    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}

/// @dev Takes 1% of every transfer (burned): the receiver gets less than was sent.
contract FeeOnTransferToken is TestToken {
    constructor() TestToken("FEE", 6) {}

    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0) && to != address(0)) {
            uint256 fee = value / 100;
            super._update(from, address(0), fee);
            value -= fee;
        }
        super._update(from, to, value);
    }
}

/// @dev Calls `target` with `payload` from inside every transfer while armed, and records whether the call went
/// through (a reentrancy the target must refuse).
contract ReentrantToken is TestToken {
    address public target;
    bytes public payload;
    bool public reentered;
    bool public attempted;

    constructor() TestToken("RE", 6) {}

    function arm(address target_, bytes calldata payload_) external {
        target = target_;
        payload = payload_;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (target != address(0) && from != address(0) && to != address(0)) {
            address t = target;
            target = address(0);
            attempted = true;
            (bool ok,) = t.call(payload);
            reentered = ok;
        }
    }
}

/// @dev USDT-style: `transfer`, `transferFrom` and `approve` return nothing.
contract NoBoolToken {
    string public constant symbol = "NOBOOL";
    uint8 public constant decimals = 6;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
        totalSupply += amount;
    }

    function approve(address spender, uint256 amount) external {
        allowance[msg.sender][spender] = amount;
    }

    function transfer(address to, uint256 amount) external {
        balanceOf[msg.sender] -= amount;
        balanceOf[to] += amount;
    }

    function transferFrom(address from, address to, uint256 amount) external {
        allowance[from][msg.sender] -= amount;
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
    }
}
