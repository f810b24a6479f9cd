"""Signed notes, checkpoints and tlog-proofs: the spec example, strict parsing, and end-to-end proofs."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.log.merkle import MemoryNodeStore, ProofError, inclusion_proof, leaf_hash, root
from registry.log.note import (
    Checkpoint,
    NoteError,
    Signer,
    TlogProof,
    Verifier,
    format_tlog_proof,
    open_checkpoint,
    open_note,
    parse_tlog_proof,
    sign_note,
    verify_tlog_proof,
)

# The C2SP signed-note example, vendored (tests/data/testvectors/README.md): a missing file fails, never skips.
VECTORS = Path(__file__).resolve().parents[2] / "data" / "testvectors" / "signed-note"
ORIGIN = "registry.example/log"


def signer(name: str, seed: int) -> Signer:
    return Signer(name, Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))


OLD = signer(ORIGIN, 1)
NEW = signer(ORIGIN, 2)
STRANGER = signer("stranger.example/key", 3)


@pytest.fixture(scope="module")
def example() -> tuple[bytes, Verifier]:
    vkey = (VECTORS / "example.vkey").read_text().strip()
    return (VECTORS / "example.note").read_bytes(), Verifier.from_vkey(vkey)


def test_example_note_verifies(example: tuple[bytes, Verifier]) -> None:
    note, verifier = example
    assert verifier.name == "example.com/foo"
    assert verifier.key_id.hex() == "530d903a"
    text, verified = open_note(note, [verifier])
    assert text == "This is an example message.\n"
    assert verified == [verifier]
    assert open_note(note.decode(), [verifier]) == (text, verified)


def test_example_vkey_round_trips(example: tuple[bytes, Verifier]) -> None:
    _, verifier = example
    assert Verifier.from_vkey(verifier.vkey()) == verifier
    assert verifier.vkey() == (VECTORS / "example.vkey").read_text().strip()


@given(st.binary(min_size=32, max_size=32))
def test_any_vkey_round_trips(seed: bytes) -> None:
    """Base64 keys often contain '+', the separator: parsing must split on the first two only."""
    verifier = Signer(ORIGIN, Ed25519PrivateKey.from_private_bytes(seed)).verifier
    assert Verifier.from_vkey(verifier.vkey()) == verifier


def test_every_byte_flip_of_example_fails(example: tuple[bytes, Verifier]) -> None:
    note, verifier = example
    for position in range(len(note)):
        for bit in range(8):
            flipped = bytearray(note)
            flipped[position] ^= 1 << bit
            with pytest.raises(NoteError):
                open_note(bytes(flipped), [verifier])


@pytest.mark.parametrize(
    "vkey",
    [
        "example.com/foo+530d903a",
        "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/bar+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2",
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k+x",
        "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example com+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    ],
    ids=[
        "two-parts",
        "wrong-id",
        "wrong-name",
        "short-id",
        "wrong-type",
        "bad-base64",
        "four-parts",
        "no-name",
        "space-in-name",
    ],
)
def test_malformed_vkey_is_rejected(vkey: str) -> None:
    with pytest.raises(NoteError):
        Verifier.from_vkey(vkey)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\u2003b", "a\x00b"])
def test_bad_key_names_are_rejected(name: str) -> None:
    with pytest.raises(NoteError):
        signer(name, 9)


def test_rotation_overlap_note_verifies_with_either_key() -> None:
    note = sign_note("hello\n", [OLD, NEW])
    assert open_note(note, [OLD.verifier]) == ("hello\n", [OLD.verifier])
    assert open_note(note, [NEW.verifier]) == ("hello\n", [NEW.verifier])
    assert open_note(note, [NEW.verifier, OLD.verifier]) == ("hello\n", [OLD.verifier, NEW.verifier])
    with pytest.raises(NoteError, match="no signature by a trusted key"):
        open_note(note, [STRANGER.verifier])


def test_unknown_signatures_are_ignored() -> None:
    impostor = signer(OLD.name, 7)  # same name, other key (and so another key ID)
    note = sign_note("text\n", [STRANGER, impostor, OLD])
    assert open_note(note, [OLD.verifier]) == ("text\n", [OLD.verifier])


def test_text_may_contain_blank_lines() -> None:
    text = "first\n\nthird\n\n"
    assert open_note(sign_note(text, [OLD]), [OLD.verifier])[0] == text


def test_a_failing_known_signature_rejects_the_note() -> None:
    good = sign_note("one\n", [OLD, NEW])
    bad_new = sign_note("two\n", [NEW]).split("\n\n")[1]
    forged = good.replace(good.split("\n")[-2] + "\n", bad_new)
    with pytest.raises(NoteError, match="does not verify"):
        open_note(forged, [OLD.verifier, NEW.verifier])


def signature_lines(count: int) -> str:
    return "".join(STRANGER.sign("x\n") for _ in range(count))


@pytest.mark.parametrize(
    "note",
    [
        "text\n" + OLD.sign("text\n"),
        "text\n\n" + OLD.sign("text\n").removeprefix("\u2014 "),
        "text\n\n" + OLD.sign("text\n").replace("\u2014", "-"),
        "text\n\n" + OLD.sign("text\n").rstrip("\n"),
        "text\n\n" + OLD.sign("text\n") + "\n",
        "text\n\n",
        "text\n\n\u2014 " + OLD.name + "\n",
        "text\n\n\u2014 " + OLD.name + " !!!!\n",
        "text\n\n\u2014 " + OLD.name + " AAAA\n",
        "text\n\n" + OLD.sign("text\n").replace("=\n", "\n"),
        "te\tt\n\n" + OLD.sign("text\n"),
        "text\n\n" + OLD.sign("text\n") + OLD.sign("text\n"),
        "text\n\n" + OLD.sign("text\n") + signature_lines(100),
    ],
    ids=[
        "no-blank-line",
        "no-em-dash",
        "hyphen-not-em-dash",
        "no-final-newline",
        "trailing-blank-line",
        "no-signatures",
        "no-signature-value",
        "bad-base64",
        "signature-too-short",
        "unpadded-base64",
        "control-character",
        "same-key-twice",
        "over-100-signatures",
    ],
)
def test_malformed_notes_are_rejected(note: str) -> None:
    with pytest.raises(NoteError):
        open_note(note, [OLD.verifier])


def test_up_to_100_signatures_are_accepted() -> None:
    note = sign_note("x\n", [OLD]) + signature_lines(99)
    assert open_note(note, [OLD.verifier])[1] == [OLD.verifier]


@pytest.mark.parametrize("text", ["no newline", "", "tab\there\n"])
def test_sign_note_rejects_bad_text(text: str) -> None:
    with pytest.raises(NoteError):
        sign_note(text, [OLD])


def test_sign_note_rejects_no_or_repeated_signers() -> None:
    with pytest.raises(NoteError):
        sign_note("x\n", [])
    with pytest.raises(NoteError):
        sign_note("x\n", [OLD, signer(ORIGIN, 1)])


note_texts = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters=[chr(c) for c in range(32) if c != 10]),
    max_size=40,
).map(lambda text: text + "\n")


@settings(max_examples=60, deadline=None)
@given(text=note_texts)
def test_two_signer_notes_verify_with_either_verifier(text: str) -> None:
    note = sign_note(text, [OLD, NEW])
    for verifier in (OLD.verifier, NEW.verifier):
        assert open_note(note, [verifier]) == (text, [verifier])


ROOT = bytes(range(32))


def test_checkpoint_text_matches_spec_layout() -> None:
    checkpoint = Checkpoint("example.com/behind-the-sofa", 20852163, ROOT, ("ext one",))
    assert checkpoint.to_text() == (
        f"example.com/behind-the-sofa\n20852163\n{base64.b64encode(ROOT).decode()}\next one\n"
    )


line_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters=[chr(c) for c in range(32)]), min_size=1
)


@settings(max_examples=100, deadline=None)
@given(
    origin=line_text,
    size=st.integers(0, 2**64 - 1),
    root_hash=st.binary(min_size=32, max_size=32),
    extensions=st.lists(line_text, max_size=3).map(tuple),
)
def test_checkpoint_round_trips(origin: str, size: int, root_hash: bytes, extensions: tuple[str, ...]) -> None:
    checkpoint = Checkpoint(origin, size, root_hash, extensions)
    assert Checkpoint.from_text(checkpoint.to_text()) == checkpoint


GOOD_ROOT = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    "text",
    [
        f"log\n5\n{GOOD_ROOT}",
        "log\n5\n",
        f"\n5\n{GOOD_ROOT}\n",
        f"log\n05\n{GOOD_ROOT}\n",
        f"log\n+5\n{GOOD_ROOT}\n",
        f"log\n 5\n{GOOD_ROOT}\n",
        f"log\n\u0665\n{GOOD_ROOT}\n",
        f"log\n-1\n{GOOD_ROOT}\n",
        f"log\n{2**64}\n{GOOD_ROOT}\n",
        f"log\n5\n{base64.b64encode(ROOT[:31]).decode()}\n",
        f"log\n5\n{GOOD_ROOT.rstrip('=')}\n",
        f"log\n5\n{GOOD_ROOT}\n\n",
        f"log\n5\n{GOOD_ROOT}\next\n\nmore\n",
        f"log\n{'9' * 5000}\n{GOOD_ROOT}\n",  # past Python's int-string limit: a ValueError, not a NoteError, once
        f"log\n{'1' * 21}\n{GOOD_ROOT}\n",
    ],
    ids=[
        "no-final-newline",
        "missing-root",
        "empty-origin",
        "leading-zero",
        "plus-sign",
        "leading-space",
        "non-ascii-digit",
        "negative",
        "over-64-bits",
        "short-root",
        "unpadded-root",
        "empty-extension",
        "empty-line-between-extensions",
        "5000-digit-size",
        "21-digit-size",
    ],
)
def test_malformed_checkpoints_are_rejected(text: str) -> None:
    with pytest.raises(NoteError):
        Checkpoint.from_text(text)


def test_zero_size_checkpoint_parses() -> None:
    assert Checkpoint.from_text(f"log\n0\n{GOOD_ROOT}\n").size == 0


@pytest.fixture(scope="module")
def log() -> MemoryNodeStore:
    store = MemoryNodeStore()
    store.extend([leaf_hash(f"entry {i}".encode()) for i in range(37)])
    return store


def signed_checkpoint(store: MemoryNodeStore, size: int, signers: list[Signer]) -> str:
    return sign_note(Checkpoint(ORIGIN, size, root(size, store)).to_text(), signers)


def proof_for(store: MemoryNodeStore, index: int, size: int, extra: bytes | None = None) -> str:
    checkpoint = signed_checkpoint(store, size, [OLD, NEW])
    return format_tlog_proof(TlogProof(index, tuple(inclusion_proof(index, size, store)), checkpoint, extra))


def test_tlog_proof_layout(log: MemoryNodeStore) -> None:
    text = proof_for(log, 5, 20, extra=b"context")
    lines = text.split("\n")
    assert lines[:3] == ["c2sp.org/tlog-proof@v1", "extra Y29udGV4dA==", "index 5"]
    hashes = [base64.b64encode(h).decode() for h in inclusion_proof(5, 20, log)]
    assert lines[3 : 3 + len(hashes)] == hashes
    assert lines[3 + len(hashes)] == ""
    assert "\n".join(lines[4 + len(hashes) :]) == signed_checkpoint(log, 20, [OLD, NEW])


@pytest.mark.parametrize("extra", [None, b"", b"\x00\xff data"])
def test_tlog_proof_round_trips(log: MemoryNodeStore, extra: bytes | None) -> None:
    text = proof_for(log, 0, 37, extra)
    proof = parse_tlog_proof(text)
    assert proof.extra == extra
    assert proof.index == 0
    assert list(proof.hashes) == inclusion_proof(0, 37, log)
    assert format_tlog_proof(proof) == text


def test_tlog_proof_with_no_hashes_round_trips(log: MemoryNodeStore) -> None:
    text = proof_for(log, 0, 1)
    assert text.startswith("c2sp.org/tlog-proof@v1\nindex 0\n\n")
    assert parse_tlog_proof(text).hashes == ()


def test_tlog_proof_verifies_with_either_rotation_key(log: MemoryNodeStore) -> None:
    text = proof_for(log, 11, 30)
    for verifier in (OLD.verifier, NEW.verifier):
        checkpoint = verify_tlog_proof(text, log.nodes[(0, 11)], [verifier], origin=ORIGIN)
        assert checkpoint == Checkpoint(ORIGIN, 30, root(30, log))


def test_tlog_proof_failures(log: MemoryNodeStore) -> None:
    text = proof_for(log, 11, 30)
    leaf = log.nodes[(0, 11)]
    with pytest.raises(ProofError):
        verify_tlog_proof(text, log.nodes[(0, 12)], [OLD.verifier], origin=ORIGIN)
    with pytest.raises(NoteError, match=r"^checkpoint is from log 'registry\.example/log', expected"):
        verify_tlog_proof(text, leaf, [OLD.verifier], origin="other.example/log")
    with pytest.raises(NoteError, match="no signature by a trusted key"):
        verify_tlog_proof(text, leaf, [STRANGER.verifier], origin=ORIGIN)
    wrong_index = text.replace("index 11\n", "index 10\n")
    with pytest.raises(ProofError):
        verify_tlog_proof(wrong_index, leaf, [OLD.verifier], origin=ORIGIN)
    past_end = format_tlog_proof(TlogProof(30, (), signed_checkpoint(log, 30, [OLD])))
    with pytest.raises(ProofError):
        verify_tlog_proof(past_end, leaf, [OLD.verifier], origin=ORIGIN)


def test_open_checkpoint_checks_origin(log: MemoryNodeStore) -> None:
    note = signed_checkpoint(log, 3, [OLD])
    assert open_checkpoint(note, [OLD.verifier], origin=ORIGIN).size == 3
    with pytest.raises(NoteError):
        open_checkpoint(note, [OLD.verifier], origin="registry.example/other")


HASH = base64.b64encode(bytes(32)).decode()
CHECKPOINT = f"log\n1\n{HASH}\n\n\u2014 log AAAAAAA=\n"


@pytest.mark.parametrize(
    "text",
    [
        f"c2sp.org/tlog-proof@v2\nindex 0\n\n{CHECKPOINT}",
        f"index 0\n\n{CHECKPOINT}",
        f"c2sp.org/tlog-proof@v1\n{HASH}\n\n{CHECKPOINT}",
        f"c2sp.org/tlog-proof@v1\nindex 01\n\n{CHECKPOINT}",
        f"c2sp.org/tlog-proof@v1\nindex -1\n\n{CHECKPOINT}",
        f"c2sp.org/tlog-proof@v1\nindex 0\nextra AA==\n\n{CHECKPOINT}",
        f"c2sp.org/tlog-proof@v1\nextra A\nindex 0\n\n{CHECKPOINT}",
        f"c2sp.org/tlog-proof@v1\nindex 0\n{HASH[:-4]}\n\n{CHECKPOINT}",
        f"c2sp.org/tlog-proof@v1\nindex 0\n{HASH}",
        "c2sp.org/tlog-proof@v1\nindex 0\n\n",
        f"c2sp.org/tlog-proof@v1\nindex 0\n\n{CHECKPOINT.rstrip()}",
        f"c2sp.org/tlog-proof@v1\nindex {'9' * 5000}\n\n{CHECKPOINT}",
        f"c2sp.org/tlog-proof@v1\nindex {2**64}\n\n{CHECKPOINT}",
    ],
    ids=[
        "wrong-header",
        "no-header",
        "no-index",
        "index-leading-zero",
        "negative-index",
        "extra-after-index",
        "bad-extra",
        "short-hash",
        "no-checkpoint",
        "empty-checkpoint",
        "checkpoint-without-final-newline",
        "5000-digit-index",
        "index-over-64-bits",
    ],
)
def test_malformed_tlog_proofs_are_rejected(text: str) -> None:
    with pytest.raises(NoteError):
        parse_tlog_proof(text)
