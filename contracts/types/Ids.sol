// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @dev A billing period, numbered from 1 in creation order; 0 means "no timeframe".
type TimeframeId is uint16;

/// @dev A software product the provider bills for (e.g. 1 = "db-server"); its name lives off chain.
type InstanceType is uint16;

using {equals as ==} for TimeframeId global;

function equals(TimeframeId a, TimeframeId b) pure returns (bool) {
    return TimeframeId.unwrap(a) == TimeframeId.unwrap(b);
}
