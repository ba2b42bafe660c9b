// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TimeframeId} from "./Ids.sol";

/// @dev Where the search for the active timeframe stands, packed into one storage slot: every request reads it first, and in
/// the steady state it answers "which timeframe is active" alone.
///
/// Layout, from the lowest bit:
///
///     bits      field     meaning
///     0-15      count     how many timeframes exist (ids run from 1 to count)
///     16-31     walked    how far the search for the active timeframe got: the ids before it have ended, and
///                         it is `id` (or `count` once every timeframe has ended); never searched again
///     32-47     id        the first timeframe found not ended, with its bounds (0 before any search)
///     48-87     start     its bounds: it is active while start <= now < end
///     88-127    end
///     128-191   currency  its currency (what a spending cap is compared with, without reading the timeframe)
///     192-255   (always 0)
type Cursor is uint256;

using CursorLibrary for Cursor global;

/// @title Packing and unpacking of {Cursor}.
library CursorLibrary {
    uint256 internal constant WALKED_OFFSET = 16;
    uint256 internal constant ID_OFFSET = 32;
    uint256 internal constant START_OFFSET = 48;
    uint256 internal constant END_OFFSET = 88;
    uint256 internal constant CURRENCY_OFFSET = 128;

    uint256 private constant MASK_16 = 0xFFFF;

    function pack(uint16 count_, uint16 walked_, TimeframeId id_, uint40 start_, uint40 end_, bytes8 currency_)
        internal
        pure
        returns (Cursor)
    {
        return Cursor.wrap(
            uint256(count_) | (uint256(walked_) << WALKED_OFFSET) | (uint256(TimeframeId.unwrap(id_)) << ID_OFFSET)
                | (uint256(start_) << START_OFFSET) | (uint256(end_) << END_OFFSET)
                | (uint256(uint64(currency_)) << CURRENCY_OFFSET)
        );
    }

    function count(Cursor c) internal pure returns (uint16) {
        return uint16(Cursor.unwrap(c));
    }

    function walked(Cursor c) internal pure returns (uint16) {
        return uint16(Cursor.unwrap(c) >> WALKED_OFFSET);
    }

    function id(Cursor c) internal pure returns (TimeframeId) {
        return TimeframeId.wrap(uint16(Cursor.unwrap(c) >> ID_OFFSET));
    }

    function start(Cursor c) internal pure returns (uint40) {
        return uint40(Cursor.unwrap(c) >> START_OFFSET);
    }

    function end(Cursor c) internal pure returns (uint40) {
        return uint40(Cursor.unwrap(c) >> END_OFFSET);
    }

    function currency(Cursor c) internal pure returns (bytes8) {
        return bytes8(uint64(Cursor.unwrap(c) >> CURRENCY_OFFSET));
    }

    function withCount(Cursor c, uint16 count_) internal pure returns (Cursor) {
        return Cursor.wrap((Cursor.unwrap(c) & ~MASK_16) | uint256(count_));
    }

    function withWalked(Cursor c, uint16 walked_) internal pure returns (Cursor) {
        return Cursor.wrap((Cursor.unwrap(c) & ~(MASK_16 << WALKED_OFFSET)) | (uint256(walked_) << WALKED_OFFSET));
    }
}
