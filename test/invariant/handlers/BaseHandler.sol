// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IMeter} from "../../../contracts/interfaces/IMeter.sol";
import {TimeframeId} from "../../../contracts/types/Ids.sol";
import {MeterFixture} from "../../utils/MeterFixture.sol";
import {GhostStore} from "../stores/GhostStore.sol";
import {RandomRules} from "../RandomRules.sol";
import {vm} from "../../utils/Vm.sol";

/// @title What every role's handler shares: the clock, and calls whose events feed the ghost store.
/// @dev Calls go through `_call`, a low-level call under `vm.prank`, so a handler sees a revert as a result (and can
/// count one that should not have happened) instead of aborting; the events of a call that went through are
/// applied to the store with the caller, and the spending caps checked after it.
abstract contract BaseHandler {
    /// @dev Most calls move the clock by up to 20 minutes; one in 32 jumps up to 12 hours (over timeframe ends).
    uint256 internal constant SMALL_JUMP = 20 minutes;
    uint256 internal constant LARGE_JUMP = 12 hours;

    IMeter public immutable meter;
    GhostStore public immutable store;

    constructor(GhostStore store_) {
        store = store_;
        meter = store_.meter();
    }

    /// @dev Moves time forward by an amount drawn from `seed` (0 included), from the store's clock, so the clock
    /// never depends on whether forge carries a `vm.warp` from one call of a sequence to the next (the invariant
    /// functions warp to it too).
    modifier adjustTimestamp(uint256 seed) {
        store.beginStep();
        _warp(seed);
        _;
    }

    /// @dev As {adjustTimestamp}, by at most `maxJump` seconds: for calls whose point is to come soon after an
    /// event (a continuation within its grace).
    modifier adjustTimestampWithin(uint256 seed, uint256 maxJump) {
        store.beginStep();
        _warp(((seed >> 8) % maxJump) << 8 | 1);
        _;
    }

    modifier instrument(string memory name) {
        store.countCall(name);
        _;
    }

    function _warp(uint256 seed) internal {
        uint256 jump = seed % 32 == 0 ? (seed >> 8) % LARGE_JUMP : (seed >> 8) % SMALL_JUMP;
        uint256 t = store.time() + jump;
        _keepTimeframesAhead(t, seed);
        vm.warp(t);
        store.setTime(t);
    }

    /// @dev Moves time forward to `t` (a later second than the store's clock), keeping timeframes ahead.
    function _warpTo(uint256 t, uint256 seed) internal {
        _keepTimeframesAhead(t, seed);
        vm.warp(t);
        store.setTime(t);
    }

    /// @dev Like a provider's scheduler, creates the next timeframe (adjacent, with rules drawn from `seed`) before
    /// time reaches the end of the last one, so that most of a run has an active timeframe. The provider handler
    /// adds timeframes after gaps, and replaces rules.
    function _keepTimeframesAhead(uint256 t, uint256 seed) internal {
        uint256 count = meter.timeframeCount();
        uint40 lastEnd = meter.timeframe(MeterFixture.tf(uint16(count))).end;
        if (lastEnd > t) return;
        uint40 start = lastEnd > block.timestamp ? lastEnd : uint40(block.timestamp + 1);
        address provider = store.provider();
        (bool ok, bytes memory ret) = _call(
            provider, abi.encodeCall(IMeter.createTimeframe, (start, uint40(t + 2 hours + seed % 1 days), MeterFixture.EUR))
        );
        if (!ok) {
            store.flag("the next timeframe was refused");
            return;
        }
        TimeframeId id = abi.decode(ret, (TimeframeId));
        for (uint16 k = 1; k <= 3; ++k) {
            _call(provider, abi.encodeCall(IMeter.setRules, (id, MeterFixture.itype(k), RandomRules.draw(seed ^ k))));
        }
    }

    function _call(address actor, bytes memory data) internal returns (bool ok, bytes memory ret) {
        vm.recordLogs();
        vm.prank(actor);
        (ok, ret) = address(meter).call(data);
        store.applyLogs(vm.getRecordedLogs(), actor);
        store.checkSpending();
    }
}
