"""Issue 8: bounded documents and safe keys, over HTTP and the CLI.

What the registry accepts is logged for ever, so everything near the limits must render through every read
endpoint and the audit, and everything past them must be a 422 before anything is stored.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import PublisherHandle, encode, photo, photo_bytes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from test_cli import provreg
from test_http import ADMIN, Newsroom, wait_ready

from api.app import create_app
from api.client import new_statement
from registry.keys import key_id, raw_public_key
from registry.log.note import Verifier
from registry.log.receipts import receipt_json, verify_receipt
from registry.settings import Settings
from registry.statements import DOMAINS, DocumentLimits, format_timestamp, new_nonce, sign

LIMITS = DocumentLimits()
IDENTITY = bytes.fromhex("01" + "00" * 31)
FORGED = base64.b64encode(IDENTITY + bytes(32)).decode()  # R = identity, S = 0: "verifies" for any message


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        wait_ready(test_client)
        yield test_client


def _handle(newsroom: Newsroom) -> PublisherHandle:
    return PublisherHandle(newsroom.id, newsroom.key_id, newsroom.key, newsroom.api_key)


def _count_keys(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + sum(_count_keys(child) for child in value.values())
    if isinstance(value, list):
        return sum(_count_keys(child) for child in value)
    return 0


def _near_every_limit(statement: dict[str, Any]) -> dict[str, Any]:
    """`statement` with metadata that reaches every default limit at once (bytes within 64 of it)."""
    deep: Any = {}
    for _ in range(LIMITS.max_depth - 3):  # statement, metadata and the innermost object are the other levels
        deep = {"d": deep}
    metadata: dict[str, Any] = {
        "title": "near every limit \u00e9\u2028",
        "deep": deep,
        "wide": {f"w{i}": i for i in range(LIMITS.max_object_keys)},
        "text": "\u00e9" * LIMITS.max_string_length,
        "list": [0] * LIMITS.max_array_length,
        "number": 2**53 - 1,  # 16 digits
        "many": {},
        "pad": [],
    }
    statement = {**statement, "metadata": metadata}
    missing = LIMITS.max_keys - _count_keys(statement)
    metadata["many"] = {f"g{g}": {f"k{k}": 0 for k in range(199)} for g in range(missing // 200)}
    metadata["many"] |= {f"x{k}": 0 for k in range(LIMITS.max_keys - _count_keys(statement))}
    assert _count_keys(statement) == LIMITS.max_keys
    while (room := LIMITS.max_bytes - len(json.dumps(statement, ensure_ascii=False).encode())) > 8:
        metadata["pad"].append("p" * min(LIMITS.max_string_length, room - 6))
    size = len(json.dumps(statement, ensure_ascii=False).encode())
    assert LIMITS.max_bytes - 64 < size <= LIMITS.max_bytes
    return statement


def _signed_post(client: TestClient, newsroom: Newsroom, path: str, statement: dict[str, Any], **extra: str) -> Any:
    body = {"statement": json.dumps(statement, ensure_ascii=False), **extra}
    body.setdefault("signature", sign(newsroom.key, DOMAINS[statement["type"]], statement))
    return client.post(path, json=body, headers={"Authorization": f"Bearer {newsroom.api_key}"})


def _log_size(client: TestClient) -> int:
    return len(client.get("/v1/log/entries", params={"start": 0, "end": 1000}).json()["entries"])


@pytest.mark.parametrize(
    ("metadata_value", "limit"),
    [
        ("[" * 300 + "]" * 300, "MAX_DEPTH"),  # committed, then a 500 on every read
        ("[" * 1000 + "]" * 1000, "MAX_DEPTH"),  # also crashed `provreg audit`
        ("[" * 20_000 + "]" * 20_000, "MAX_DEPTH"),  # a 500 before committing
        ("7" * 5000, "MAX_INTEGER_DIGITS"),  # Python's int-string limit: a 500
    ],
    ids=["depth-300", "depth-1000", "depth-20000", "integer-5000-digits"],
)
def test_oversized_documents_are_refused_before_anything_is_stored(
    client: TestClient, metadata_value: str, limit: str
) -> None:
    newsroom = Newsroom(client)
    content = photo_bytes("rocket")
    statement = _handle(newsroom).statement(content, metadata={"title": "x", "extra": "PLACEHOLDER"})
    text = json.dumps(statement).replace('"PLACEHOLDER"', metadata_value)
    before = _log_size(client)
    response = client.post(
        "/v1/registrations",
        headers={"Authorization": f"Bearer {newsroom.api_key}"},
        files={"file": ("original.jpg", content, "image/jpeg")},
        data={"statement": text, "signature": "AAAA"},
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_statement" and f"PROVREG_STATEMENT_{limit}" in error["message"]
    assert _log_size(client) == before


def test_weak_keys_are_refused_over_http(client: TestClient) -> None:
    for raw in (IDENTITY, bytes(32), b"\xff" * 32):
        response = client.post(
            "/v1/publishers",
            headers=ADMIN,
            json={
                "name": f"Weak {raw[:1].hex()}",
                "public_key": base64.b64encode(raw).decode(),
                "verification": {"method": "dns-txt", "evidence": "TXT", "verified_by": "ops"},
            },
        )
        assert response.status_code == 422 and "unusable Ed25519 public key" in response.json()["error"]["message"]
    newsroom = Newsroom(client)
    rotation = new_statement(
        {
            "type": "key_rotation",
            "publisher_id": newsroom.id,
            "old_key_id": newsroom.key_id,
            "new_public_key": base64.b64encode(IDENTITY).decode(),
        }
    )
    old_signature = sign(newsroom.key, DOMAINS["key_rotation"], rotation)
    refused = _signed_post(
        client,
        newsroom,
        f"/v1/publishers/{newsroom.id}/keys/rotate",
        rotation,
        old_signature=old_signature,
        new_signature=FORGED,
        signature="",
    )
    assert refused.status_code == 422 and "identity point" in refused.json()["error"]["message"]
    assert client.get(f"/v1/publishers/{newsroom.id}").json()["key_id"] == newsroom.key_id


def test_every_entry_kind_near_the_limits_renders_everywhere(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    """Registration, content revocation, key rotation, key revocation, operator key revocation and publisher
    verification, each as large as allowed, through every read endpoint, the offline verifier and the audit: never a
    5xx."""
    newsroom = Newsroom(client)  # publisher_verification
    signed_at = datetime.now(UTC) - timedelta(seconds=5)
    content = photo_bytes("rocket")
    statement = _near_every_limit(_handle(newsroom).statement(content, created_at=format_timestamp(signed_at)))
    created = client.post(
        "/v1/registrations",
        headers={"Authorization": f"Bearer {newsroom.api_key}"},
        files={"file": ("original.jpg", content, "image/jpeg")},
        data={
            "statement": json.dumps(statement, ensure_ascii=False),
            "signature": sign(newsroom.key, DOMAINS["registration"], statement),
        },
    )
    assert created.status_code == 201, created.text
    registration = created.json()
    assert registration["metadata"] == statement["metadata"]
    second = newsroom.upload(encode(photo("coffee"), "JPEG", quality=90)).json()

    revocation = _signed_post(
        client,
        newsroom,
        f"/v1/registrations/{second['id']}/revoke",
        {
            "type": "content_revocation",
            "publisher_id": newsroom.id,
            "key_id": newsroom.key_id,
            "registration_id": second["id"],
            "reason": "\u00e9\u2028\\" * 333,
            "created_at": format_timestamp(datetime.now(UTC)),
            "nonce": new_nonce(),
        },
    )
    assert revocation.status_code == 200, revocation.text

    new_key = Ed25519PrivateKey.generate()
    rotation = {
        "type": "key_rotation",
        "publisher_id": newsroom.id,
        "old_key_id": newsroom.key_id,
        "new_public_key": base64.b64encode(raw_public_key(new_key)).decode(),
        "created_at": format_timestamp(datetime.now(UTC)),
        "nonce": new_nonce(),
    }
    rotated = _signed_post(
        client,
        newsroom,
        f"/v1/publishers/{newsroom.id}/keys/rotate",
        rotation,
        old_signature=sign(newsroom.key, DOMAINS["key_rotation"], rotation),
        new_signature=sign(new_key, DOMAINS["key_rotation"], rotation),
        signature="",
    )
    assert rotated.status_code == 200, rotated.text
    old_key_id, newsroom.key, newsroom.key_id = newsroom.key_id, new_key, key_id(raw_public_key(new_key))
    key_revocation = _signed_post(
        client,
        newsroom,
        f"/v1/publishers/{newsroom.id}/keys/revoke",
        {
            "type": "key_revocation",
            "publisher_id": newsroom.id,
            "key_id": newsroom.key_id,
            "revoked_key_id": old_key_id,
            "compromised_since": format_timestamp(signed_at - timedelta(seconds=1)),
            "created_at": format_timestamp(datetime.now(UTC)),
            "nonce": new_nonce(),
        },
    )
    assert key_revocation.status_code == 200, key_revocation.text
    lost = client.post(  # the operator revokes the (lost) current key and installs a replacement
        f"/v1/publishers/{newsroom.id}/keys/{newsroom.key_id}/revoke",
        headers=ADMIN,
        json={
            "compromised_since": format_timestamp(datetime.now(UTC)),
            "reason": "\u00e9" * 1000,
            "new_public_key": base64.b64encode(raw_public_key(Ed25519PrivateKey.generate())).decode(),
        },
    )
    assert lost.status_code == 200, lost.text

    entries = client.get("/v1/log/entries", params={"start": 0, "end": 100})
    assert entries.status_code == 200
    kinds = {entry["entry"]["kind"] for entry in entries.json()["entries"]}
    assert kinds == {
        "publisher_verification",
        "registration",
        "content_revocation",
        "key_rotation",
        "key_revocation",
        "operator_key_revocation",
    }
    for start in range(len(entries.json()["entries"])):
        assert client.get("/v1/log/entries", params={"start": start, "end": start + 1}).status_code == 200

    verifiers = [Verifier.from_vkey(key["vkey"]) for key in client.get("/v1/log/key").json()["keys"]]
    for reg in (registration, second):
        assert client.get(f"/v1/registrations/{reg['id']}").status_code == 200
        receipt = client.get(f"/v1/registrations/{reg['id']}/receipt")
        assert receipt.status_code == 200
        verify_receipt(receipt_json(receipt.json()), verifiers)
        escaped = json.dumps(receipt.json(), ensure_ascii=True)  # the largest spelling a client may save
        verify_receipt(escaped, verifiers)
        (tmp_path / f"{reg['id']}.json").write_text(escaped)
        code, out, err = provreg(settings.data_dir, "verify", str(tmp_path / f"{reg['id']}.json"))
        assert code == 0, err
    verify_receipt(receipt_json(revocation.json()["receipt"]), verifiers)

    assert client.get(f"/v1/publishers/{newsroom.id}").status_code == 200
    for params in (
        {"alg": "sha256", "hash": registration["content"]["sha256"]},
        {"alg": "pdq", "hash": registration["fingerprints"]["pdq"]},
    ):
        found = client.get("/v1/lookup", params=params)
        assert found.status_code == 200 and found.json()["matches"][0]["key_compromised"] is True
    for original in (content, encode(photo("coffee"), "JPEG", quality=90)):
        check = client.post("/v1/check", files={"file": ("query", original, "application/octet-stream")})
        assert check.status_code == 200 and check.json()["verdict"] == "copy"
    code, out, err = provreg(settings.data_dir, "audit")
    assert code == 0 and out.startswith("OK"), err
