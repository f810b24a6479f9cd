"""Offline verification of a receipt: needs only the registry's verifier key (and, to pin it, the publisher's key).

A receipt is `{"log_index", "entry", "proof"}`: the log entry as hashed, and a C2SP tlog-proof (inclusion
proof plus signed checkpoint). Verification recomputes everything from those bytes:

1. the publisher's signature(s) over the statement(s) the entry carries, with the key the entry names
   (whose SHA-256 must be the key id, and which must equal `publisher_key` when one is given);
2. the leaf hash, from the RFC 8785 canonical JSON of the entry;
3. the inclusion proof of that leaf at `log_index`;
4. the checkpoint's signature by a trusted registry key, and its origin.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from registry.errors import RegistryError, VerificationFailed
from registry.log import merkle
from registry.log.note import Checkpoint, NoteError, Verifier, open_note, parse_tlog_proof
from registry.statements import DOMAINS, DocumentLimits, canonical_json, parse_bounded_json, parse_strict_json, verify

RECEIPT_FIELDS = {"log_index", "entry", "proof"}
RECEIPT_LIMITS = DocumentLimits().enclosing()
# A registration's answer or a `register --json` line around a receipt: the receipt and a copy of its statement, and
# floats, whose shortest spelling may run to 17 digits and an exponent.
WRAPPER_LIMITS = dataclasses.replace(RECEIPT_LIMITS, max_bytes=2 * RECEIPT_LIMITS.max_bytes, max_integer_digits=24)


@dataclass(frozen=True, slots=True)
class VerifiedReceipt:
    log_index: int
    kind: str
    entry: dict[str, Any]
    checkpoint: Checkpoint
    publisher_key_id: str | None


def verify_receipt(
    receipt: str | bytes,
    verifiers: Sequence[Verifier],
    *,
    publisher_key: bytes | None = None,
    limits: DocumentLimits = RECEIPT_LIMITS,
) -> VerifiedReceipt:
    """Verify a receipt's JSON text; raises VerificationFailed naming the first check that failed.

    `limits` bound the receipt as it is parsed (by default: room for any statement the default settings admit).
    """
    if not verifiers:
        raise VerificationFailed("no registry verifier key given")
    try:
        obj = parse_strict_json(receipt, limits, what="receipt")
    except RegistryError as exc:
        raise VerificationFailed(f"receipt is not valid JSON: {exc.message}") from None
    if set(obj) != RECEIPT_FIELDS:
        raise VerificationFailed(f"a receipt has exactly the fields {sorted(RECEIPT_FIELDS)}")
    log_index, entry, proof = obj["log_index"], obj["entry"], obj["proof"]
    if type(log_index) is not int or not isinstance(entry, dict) or not isinstance(proof, str):  # bool is an int
        raise VerificationFailed("receipt fields have the wrong types")
    if entry.get("log_index") != log_index:
        raise VerificationFailed("the entry's log_index differs from the receipt's")

    key_id = _verify_publisher_signatures(entry, publisher_key)
    leaf = merkle.leaf_hash(canonical_json(entry))
    try:
        parsed = parse_tlog_proof(proof)
        if parsed.index != log_index:
            raise VerificationFailed(f"the proof is for entry {parsed.index}, not {log_index}")
        text, signed_by = open_note(parsed.checkpoint, verifiers)
        checkpoint = Checkpoint.from_text(text)
        if checkpoint.origin not in {verifier.name for verifier in signed_by}:
            raise VerificationFailed(f"checkpoint is from log {checkpoint.origin!r}, not the trusted key's log")
        merkle.verify_inclusion(leaf, parsed.index, checkpoint.size, parsed.hashes, checkpoint.root_hash)
    except NoteError as exc:
        raise VerificationFailed(f"checkpoint or proof: {exc}") from None
    except merkle.ProofError as exc:
        raise VerificationFailed(f"inclusion proof: {exc}") from None
    return VerifiedReceipt(log_index, str(entry.get("kind")), entry, checkpoint, key_id)


def _verify_publisher_signatures(entry: dict[str, Any], pinned: bytes | None) -> str | None:
    """Check every statement signature the entry carries; returns the signing key's id (None if unsigned)."""
    statement = entry.get("statement")
    if statement is None:
        return None  # operator events (publisher verification) carry no publisher signature
    if not isinstance(statement, dict) or statement.get("type") not in DOMAINS:
        raise VerificationFailed("the entry's statement is missing or of an unknown type")
    domain = DOMAINS[statement["type"]]
    public_key = _b64(entry.get("public_key"), "public_key")
    key_id = hashlib.sha256(public_key).hexdigest()
    if key_id != entry.get("key_id"):
        raise VerificationFailed("the entry's public key does not hash to its key_id")
    if pinned is not None and public_key != pinned:
        raise VerificationFailed("the entry was signed with a different key than the publisher key given")
    signatures = [(public_key, entry.get("signature"))]
    if statement["type"] == "key_rotation":  # both the old and the new key signed
        signatures.append((_b64(statement.get("new_public_key"), "new_public_key"), entry.get("new_signature")))
    for key, signature in signatures:
        if not isinstance(signature, str):
            raise VerificationFailed("the entry's signature is missing")
        try:
            verify(key, domain, statement, signature)
        except RegistryError as exc:
            raise VerificationFailed(f"publisher signature: {exc.message}") from None
    return key_id


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise VerificationFailed(f"the entry's {what} is missing")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationFailed(f"the entry's {what} is not base64") from None
    if len(raw) != 32:
        raise VerificationFailed(f"the entry's {what} is not a 32-byte Ed25519 key")
    return raw


def unwrap_receipt(text: str) -> str:
    """A bare receipt, or the one inside a registration's 201 body or a `register --json` line.

    The wrapper is bounded like a receipt before it is parsed; text that is not such a wrapper comes back as it is,
    for `verify_receipt` to say what is wrong with it.
    """
    try:
        obj = parse_bounded_json(text, WRAPPER_LIMITS, what="receipt")
    except RegistryError:
        return text
    inner = obj.get("receipt") if isinstance(obj, dict) else None
    return json.dumps(inner) if isinstance(inner, dict) else text


def receipt_json(receipt: dict[str, Any]) -> str:
    """The receipt as one line of JSON, the form `provreg verify` reads."""
    return json.dumps(receipt, ensure_ascii=False, separators=(",", ":"))
