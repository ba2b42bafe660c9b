// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IMeter} from "../../../contracts/interfaces/IMeter.sol";
import {IMeteringTypes} from "../../../contracts/interfaces/IMeteringTypes.sol";
import {TimeframeId} from "../../../contracts/types/Ids.sol";
import {MeterFixture} from "../../utils/MeterFixture.sol";
import {GhostStore} from "../stores/GhostStore.sol";
import {BaseHandler} from "./BaseHandler.sol";
import {RandomRules} from "../RandomRules.sol";

/// @title The provider: enrolls and suspends customers, closes instances of dead agents, creates timeframes ahead
/// and sets their rules before they start.
contract ProviderHandler is BaseHandler {
    /// @dev Keep at most this many timeframes that have not started, so the run never outruns them.
    uint256 internal constant AHEAD = 2;

    constructor(GhostStore store_) BaseHandler(store_) {}

    function enrollCustomer(uint256 customerSeed, uint256 timeSeed)
        external
        adjustTimestamp(timeSeed)
        instrument("provider.enrollCustomer")
    {
        address c = store.customer(customerSeed);
        if (c == store.unenrolled()) return;
        (bool ok,) = _call(store.provider(), abi.encodeCall(IMeter.enrollCustomer, (c)));
        if (!ok) store.flag("enrollment reverted");
    }

    function suspendCustomer(uint256 customerSeed, uint256 timeSeed)
        external
        adjustTimestamp(timeSeed)
        instrument("provider.suspendCustomer")
    {
        if (customerSeed % 8 != 0) return; // suspensions are rarer than enrollments
        address c = store.customer(customerSeed >> 8);
        bool known = meter.customerStatus(c) != IMeteringTypes.CustomerStatus.None;
        (bool ok,) = _call(store.provider(), abi.encodeCall(IMeter.suspendCustomer, (c)));
        if (ok != known) store.flag("suspension of a known customer reverted, or of an unknown one went through");
    }

    /// @dev The provider's explicit, evented takeover of an instance.
    function closeInstance(uint256 idSeed, uint256 timeSeed)
        external
        adjustTimestamp(timeSeed)
        instrument("provider.closeInstance")
    {
        bytes32 id = store.openIdOf(address(0), idSeed);
        if (id == bytes32(0)) return;
        bool open = meter.instance(id).status == IMeteringTypes.InstanceStatus.Open;
        (bool ok,) = _call(store.provider(), abi.encodeCall(IMeter.closeInstance, (id)));
        if (ok != open) store.flag("closeInstance disagreed with the instance's status");
    }

    /// @dev The next timeframe: right after the last one (so leases continue into it), or after a gap.
    function createTimeframe(uint256 lengthSeed, uint256 gapSeed, uint256 rulesSeed, uint256 timeSeed)
        external
        adjustTimestamp(timeSeed)
        instrument("provider.createTimeframe")
    {
        if (_notStarted() >= AHEAD) return;
        (uint40 start, uint40 end) = _nextBounds(lengthSeed, gapSeed);
        (bool ok, bytes memory ret) =
            _call(store.provider(), abi.encodeCall(IMeter.createTimeframe, (start, end, MeterFixture.EUR)));
        if (!ok) {
            store.flag("a valid timeframe was refused");
            return;
        }
        _setRandomRules(abi.decode(ret, (TimeframeId)), rulesSeed);
    }

    function _notStarted() internal view returns (uint256 ahead) {
        for (uint256 i = meter.timeframeCount(); i > 0; --i) {
            if (meter.timeframe(MeterFixture.tf(uint16(i))).start <= block.timestamp) break;
            ++ahead;
        }
    }

    function _nextBounds(uint256 lengthSeed, uint256 gapSeed) internal view returns (uint40 start, uint40 end) {
        uint256 count = meter.timeframeCount();
        uint256 lastEnd = count == 0 ? 0 : meter.timeframe(MeterFixture.tf(uint16(count))).end;
        uint256 s = lastEnd > block.timestamp ? lastEnd : block.timestamp + 1;
        if (gapSeed % 8 == 0) s += 1 + (gapSeed >> 8) % 6 hours;
        start = uint40(s);
        end = uint40(s + 2 hours + lengthSeed % 1 days);
    }

    function _setRandomRules(TimeframeId id, uint256 rulesSeed) internal {
        for (uint16 t = 1; t <= 3; ++t) {
            if (uint256(keccak256(abi.encode(rulesSeed, t))) % 8 == 0) continue; // sometimes a type has no rules
            IMeteringTypes.Rules memory r = RandomRules.draw(rulesSeed ^ t);
            (bool ok,) = _call(store.provider(), abi.encodeCall(IMeter.setRules, (id, MeterFixture.itype(t), r)));
            if (!ok) store.flag("valid rules refused");
        }
    }

    /// @dev Replaces the rules of a type in a timeframe that has not started (and must fail once it has).
    function setRules(uint256 tfSeed, uint256 typeSeed, uint256 rulesSeed, uint256 timeSeed)
        external
        adjustTimestamp(timeSeed)
        instrument("provider.setRules")
    {
        TimeframeId tf = MeterFixture.tf(uint16(1 + tfSeed % meter.timeframeCount()));
        bool started = meter.timeframe(tf).start <= block.timestamp;
        IMeteringTypes.Rules memory r = RandomRules.draw(rulesSeed);
        (bool ok,) =
            _call(store.provider(), abi.encodeCall(IMeter.setRules, (tf, MeterFixture.itype(uint16(1 + typeSeed % 3)), r)));
        if (ok == started) store.flag(started ? "rules changed after the timeframe started" : "valid rules refused");
    }

    function randomRules(uint256 seed) public pure returns (IMeteringTypes.Rules memory) {
        return RandomRules.draw(seed);
    }
}
