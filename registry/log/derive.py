"""What a log entry says about the state tables, derived from the hashed leaf alone.

The audit compares these derivations with the stored columns and rows, so no denormalised copy
(`log_entry.kind` and `subject`, a registration's statement, a revocation, a publisher's current key) is ever
taken on its own word: someone who edits the database behind the registry's back cannot edit the leaves, and
every copy is held against them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping

from registry.models import ContentRevocation, KeyRevocation, Registration
from registry.statements import parse_timestamp

SUBJECT_FIELD: dict[str, str] = {
    "registration": "registration_id",
    "content_revocation": "registration_id",
    "key_revocation": "revoked_key_id",
    "publisher_verification": "publisher_id",
    "key_rotation": "publisher_id",
    "operator_key_revocation": "publisher_id",
    "fingerprint_rows": "registration_id",
}
"""Every kind of entry the registry logs, and the entry field that names what it is about."""

PUBLISHER_KINDS = frozenset({"publisher_verification", "key_rotation", "operator_key_revocation"})

MALFORMED = (KeyError, TypeError, AttributeError, ValueError)
"""What reading a field of an entry that lacks the shape of its kind raises."""


class EntryError(ValueError):
    """An entry that is not one the registry writes: unknown kind, or missing the fields of its kind."""


def kind_and_subject(entry: Mapping[str, Any]) -> tuple[str, str]:
    """The entry's kind and subject as the leaf says them: what `log_entry.kind` and `.subject` must hold."""
    kind = entry.get("kind")
    if kind not in SUBJECT_FIELD:
        raise EntryError(f"its kind {kind!r} is not one the registry logs")
    subject = entry.get(SUBJECT_FIELD[kind])
    if not isinstance(subject, str):
        raise EntryError(f"it lacks {SUBJECT_FIELD[kind]}, which a {kind} entry names")
    return kind, subject


def differing(expected: Mapping[str, Any], row: Mapping[str, Any] | RowMapping, leaf: str = "") -> list[str]:
    """Columns whose stored value is not the one the entry implies (`leaf`: the entry's hashed text)."""
    return [name for name, value in expected.items() if not _agrees(row[name], value, name, leaf)]


def _agrees(stored: Any, value: Any, name: str, leaf: str) -> bool:
    if isinstance(stored, datetime):  # the log keeps whole seconds
        return isinstance(value, str) and stored.replace(microsecond=0) == parse_timestamp(value)
    if isinstance(value, dict):
        # A JSON column (a signed statement) must be the very bytes the leaf embeds under its name: RFC 8785
        # serialises a nested object as it would alone, so this is its canonical form, found without re-encoding.
        return isinstance(stored, str) and f'"{name}":{stored}' in leaf and json.loads(stored) == value
    return bool(stored == value)


@dataclass(frozen=True, slots=True)
class Mirror:
    """A state table whose rows each record one log entry (by `log_index`), and what that entry implies."""

    table: Any
    expected: Callable[[Mapping[str, Any]], dict[str, Any]]  # column -> value; the first names the row
    also: tuple[str, ...] = ()  # other entry kinds whose entries each have a row in this table

    def kinds(self, kind: str) -> tuple[str, ...]:
        """Every entry kind with a row in this table, given the kind it is registered under."""
        return (kind, *self.also)


def _registration(entry: Mapping[str, Any]) -> dict[str, Any]:
    statement = entry["statement"]
    content = statement["content"]
    return {
        "id": entry["registration_id"],
        "publisher_id": entry["publisher_id"],
        "key_id": entry["key_id"],
        "signature": entry["signature"],
        "statement": statement,
        "content_sha256": content["sha256"],
        "media_type": content["media_type"],
        "size": content["size"],
        "created_at": entry["integrated_time"],
    }


def _content_revocation(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "registration_id": entry["registration_id"],
        "reason": entry["statement"].get("reason", ""),
        "revoked_at": entry["integrated_time"],
    }


def _key_revocation(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {"key_id": entry["revoked_key_id"], "compromised_since": entry["compromised_since"]}


MIRRORS: dict[str, Mirror] = {
    "registration": Mirror(Registration, _registration),
    "content_revocation": Mirror(ContentRevocation, _content_revocation),
    "key_revocation": Mirror(KeyRevocation, _key_revocation, also=("operator_key_revocation",)),
}
"""The state tables with one row per entry of a kind (an operator's key revocation has a row like a publisher's).
Only the columns a leaf determines are compared: a registration's image facts are measured from the stored
original, not logged."""

MIRROR_OF: dict[str, str] = {kind: name for name, mirror in MIRRORS.items() for kind in mirror.kinds(name)}
"""Entry kind -> the MIRRORS key of the table that holds a row for each entry of that kind."""


@dataclass
class PublisherState:
    """Publishers and their keys as replaying the verification and rotation entries in log order builds them."""

    publishers: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PUBLISHER_KINDS, 0))

    def apply(self, entry: Mapping[str, Any]) -> None:
        """Replay one entry (raises one of MALFORMED when it lacks a field its kind needs)."""
        at = entry["integrated_time"]
        publisher_id = entry["publisher_id"]
        if entry["kind"] == "publisher_verification":
            verification = entry["verification"]
            previous = self.publishers.get(publisher_id)
            self.publishers[publisher_id] = {
                "name": entry["name"],
                "created_at": at if previous is None else previous["created_at"],
                "verification_method": verification["method"],
                "verification_evidence": verification["evidence"],
                "verified_by": verification["verified_by"],
                "verified_at": verification["verified_at"],
                "verification_expires_at": verification["expires_at"],
            }
            if entry["key_id"] not in self.keys:
                self._add_key(entry["key_id"], publisher_id, entry["public_key"], at)
        elif entry["kind"] == "key_rotation":
            statement = entry["statement"]
            self.keys[statement["old_key_id"]]["retired_at"] = at
            self._add_key(entry["new_key_id"], publisher_id, statement["new_public_key"], at)
        elif entry["new_key_id"] is not None:  # an operator replaced a lost current key
            self.keys[entry["revoked_key_id"]]["retired_at"] = at
            self._add_key(entry["new_key_id"], publisher_id, entry["new_public_key"], at)
        self.events[entry["kind"]] += 1

    def _add_key(self, key_id: str, publisher_id: str, public_key: str, at: str) -> None:
        self.keys[key_id] = {
            "publisher_id": publisher_id,
            "public_key": public_key,
            "created_at": at,
            "retired_at": None,
        }
