"""Local source verification without a compiler: the shipped builds hold together (metadata hash, source hashes),
and runtime code is compared the way Sourcify does (immutables filled in, metadata trailer apart)."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from eth_utils.crypto import keccak

from metering._utils.bytecode import decode_metadata_trailer, ipfs_cid_v0, metadata_hash, split_metadata
from metering.audit import source_verify
from metering.audit.source_verify import MatchKind, check_shipped_build, compare_runtime_code
from metering.chain.evm import EvmTarget, load_artifact
from metering.errors import VerificationError


@pytest.mark.parametrize("target", list(EvmTarget))
def test_each_shipped_build_commits_to_its_own_metadata_and_sources(target: EvmTarget) -> None:
    committed = check_shipped_build(target)
    assert committed == "ipfs://" + ipfs_cid_v0(load_artifact(target)["metadata"].encode())


def test_ipfs_hash_matches_a_known_cid() -> None:
    # `ipfs add --cid-version 0 --raw-leaves=false` of "hello\n" (a well-known CID).
    assert ipfs_cid_v0(b"hello\n") == "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN"


def test_metadata_trailer_decodes_to_the_ipfs_hash_and_the_solc_version() -> None:
    code = bytes.fromhex(load_artifact("cancun")["deployedBytecode"].removeprefix("0x"))
    executable, trailer = split_metadata(code)
    assert executable + trailer == code
    items = decode_metadata_trailer(trailer)
    assert items["solc"] == bytes([0, 8, 28])
    assert metadata_hash(code) == check_shipped_build("cancun")


def test_code_without_a_trailer_has_no_metadata_hash() -> None:
    assert split_metadata(bytes.fromhex("6001600055")) == (bytes.fromhex("6001600055"), b"")
    assert metadata_hash(bytes.fromhex("6001600055")) is None


def _tampered(monkeypatch: pytest.MonkeyPatch, change: Any) -> None:
    real = load_artifact

    def fake(target: Any = "cancun", name: str = "Meter") -> dict[str, Any]:
        data = copy.deepcopy(real(target, name))
        change(name, data)
        return data

    monkeypatch.setattr(source_verify, "load_artifact", fake)


def test_a_build_whose_metadata_was_edited_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def edit(name: str, data: dict[str, Any]) -> None:
        if name == "Meter":
            edited = re.sub(r'"runs":\d+', '"runs":1', data["metadata"])
            assert edited != data["metadata"], "the edit must change the metadata"
            data["metadata"] = edited

    _tampered(monkeypatch, edit)
    with pytest.raises(VerificationError, match="bytecode commits to metadata"):
        check_shipped_build("cancun")


def test_a_build_whose_source_was_edited_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def edit(name: str, data: dict[str, Any]) -> None:
        if name == "standard-input":
            data["sources"]["contracts/Meter.sol"]["content"] += "\n// edited\n"

    _tampered(monkeypatch, edit)
    with pytest.raises(VerificationError, match=r"contracts/Meter\.sol does not match"):
        check_shipped_build("cancun")


def _build_with_immutable() -> tuple[dict[str, Any], bytes]:
    """A build whose runtime code holds one 32-byte immutable at offset 1 (zeros as compiled)."""
    meta = json.dumps({"sources": {}}).encode()
    trailer_map = bytes.fromhex("a1") + b"\x64ipfs" + b"\x58\x22" + b"\x12\x20" + keccak(meta)
    code = bytes.fromhex("7f") + bytes(32) + bytes.fromhex("5000") + trailer_map + len(trailer_map).to_bytes(2, "big")
    build = {"deployedBytecode": "0x" + code.hex(), "immutableReferences": {"7": [{"start": 1, "length": 32}]}}
    return build, code


def test_immutables_set_by_the_constructor_still_give_a_perfect_match() -> None:
    build, compiled = _build_with_immutable()
    onchain = compiled[:1] + b"\x11" * 32 + compiled[33:]
    assert compare_runtime_code(onchain, build) is MatchKind.PERFECT


def test_a_difference_outside_the_immutables_is_a_mismatch() -> None:
    build, compiled = _build_with_immutable()
    onchain = compiled[:33] + bytes.fromhex("5b") + compiled[34:]
    assert compare_runtime_code(onchain, build) is MatchKind.MISMATCH


def test_a_difference_only_in_the_trailer_is_a_partial_match() -> None:
    build, compiled = _build_with_immutable()
    onchain = compiled[:-10] + b"\xee" * 8 + compiled[-2:]
    assert compare_runtime_code(onchain, build) is MatchKind.PARTIAL
