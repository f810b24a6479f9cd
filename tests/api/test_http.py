"""The HTTP API in-process (FastAPI TestClient with the real lifespan, database, store and index)."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import PublisherHandle, encode, photo, photo_bytes, png_claiming, wait_ready
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from PIL import Image

from api.app import create_app
from api.client import new_statement, sign_statement
from registry.errors import ConfigurationError
from registry.keys import raw_public_key
from registry.log import merkle
from registry.log.note import Checkpoint, Verifier, open_note
from registry.log.receipts import receipt_json, verify_receipt
from registry.runtime import Registry
from registry.settings import Settings

pytestmark = pytest.mark.backends  # every test on SQLite and on PostgreSQL

ADMIN = {"Authorization": "Bearer test-admin-token-" + "x" * 32}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    settings.max_upload_bytes = 400_000
    with TestClient(create_app(settings)) as test_client:
        wait_ready(test_client)
        yield test_client


class Newsroom:
    def __init__(self, client: TestClient, name: str = "Daily Planet") -> None:
        self.key = Ed25519PrivateKey.generate()
        response = client.post(
            "/v1/publishers",
            headers=ADMIN,
            json={
                "name": name,
                "public_key": base64.b64encode(raw_public_key(self.key)).decode(),
                "verification": {"method": "dns-txt", "evidence": "TXT record", "verified_by": "ops"},
            },
        )
        assert response.status_code == 201, response.text
        body = response.json()
        self.id, self.key_id, self.api_key = body["id"], body["key_id"], body["api_key"]
        self.client = client

    def upload(self, content: bytes, statement: dict[str, Any] | None = None, signature: str | None = None):  # type: ignore[no-untyped-def]
        """POST a registration and return the raw response (these tests read statuses and bodies)."""
        handle = PublisherHandle(self.id, self.key_id, self.key, self.api_key)
        request = sign_statement(self.key, statement or handle.statement(content))
        return self.client.post(
            "/v1/registrations",
            headers={"Authorization": f"Bearer {self.api_key}"},
            files={"file": ("original.jpg", content, "image/jpeg")},
            data={"statement": request.text, "signature": signature or request.signature},
        )


def _check(client: TestClient, content: bytes):  # type: ignore[no-untyped-def]
    return client.post("/v1/check", files={"file": ("query", content, "application/octet-stream")})


def test_probes_and_docs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["indexed"] == {
        "pdq": 0,
        "phash": 0,
        "dhash": 0,
        "pdq_frame": 0,
        "originals_with_features": 0,
    }
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/check", "/v1/lookup", "/v1/registrations", "/v1/publishers"} <= set(paths)


def test_register_then_check_then_lookup(client: TestClient) -> None:
    newsroom = Newsroom(client)
    response = newsroom.upload(photo_bytes("astronaut"))
    assert response.status_code == 201, response.text
    registration = response.json()
    assert response.headers["location"] == f"/v1/registrations/{registration['id']}"
    receipt = registration.pop("receipt")
    assert client.get(f"/v1/registrations/{registration['id']}").json() == registration
    assert receipt["log_index"] == registration["log_index"] and receipt["proof"].startswith("c2sp.org/tlog-proof@v1")

    copy = _check(client, encode(photo("astronaut").transpose(Image.Transpose.ROTATE_90), "JPEG", quality=40))
    assert copy.status_code == 200
    body = copy.json()
    assert body["verdict"] == "copy"
    match = body["matches"][0]
    assert set(match) >= {"registration_id", "publisher", "verified", "distance", "score", "variant"}
    assert (match["registration_id"], match["publisher"], match["verified"], match["variant"]) == (
        registration["id"],
        "Daily Planet",
        True,
        "rotate_90_ccw",
    )
    assert _check(client, photo_bytes("coffee")).json()["verdict"] == "unregistered"

    found = client.get("/v1/lookup", params={"alg": "pdq", "hash": registration["fingerprints"]["pdq"]}).json()
    assert [m["registration_id"] for m in found["matches"]] == [registration["id"]]
    found = client.get("/v1/lookup", params={"alg": "sha256", "hash": registration["content"]["sha256"]}).json()
    assert found["matches"][0]["distance"] == 0


def test_publisher_creation_needs_the_admin_token(client: TestClient) -> None:
    body = {
        "name": "X",
        "public_key": base64.b64encode(raw_public_key(Ed25519PrivateKey.generate())).decode(),
        "verification": {"method": "m", "verified_by": "v"},
    }
    assert client.post("/v1/publishers", json=body).status_code == 401
    wrong = client.post("/v1/publishers", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthenticated"
    bad_key = client.post("/v1/publishers", json={**body, "public_key": "!!"}, headers=ADMIN)
    assert bad_key.status_code == 422 and "base64" in bad_key.json()["error"]["message"]
    naive = {**body, "verification": {"method": "m", "verified_by": "v", "expires_at": "2030-01-01T00:00:00"}}
    assert client.post("/v1/publishers", json=naive, headers=ADMIN).status_code == 422
    Newsroom(client, "Dup")
    duplicate = client.post("/v1/publishers", json={**body, "name": "Dup"}, headers=ADMIN)
    assert duplicate.status_code == 409


def test_registration_errors_are_4xx_with_messages(client: TestClient) -> None:
    newsroom = Newsroom(client)
    content = photo_bytes("rocket")
    unauthenticated = client.post(
        "/v1/registrations", files={"file": ("a.jpg", content)}, data={"statement": "{}", "signature": "x"}
    )
    assert unauthenticated.status_code == 401
    missing = client.post("/v1/registrations", headers={"Authorization": f"Bearer {newsroom.api_key}"})
    assert missing.status_code == 422 and "file" in missing.json()["error"]["message"]
    forged = newsroom.upload(content, signature=base64.b64encode(b"\0" * 64).decode())
    assert forged.status_code == 422 and forged.json()["error"]["code"] == "invalid_signature"
    other = Newsroom(client, "Other")
    statement = {"type": "registration", "publisher_id": other.id}
    wrong_publisher = newsroom.upload(content, statement=statement, signature="x")
    assert wrong_publisher.status_code == 422  # the statement is incomplete, refused before anything else
    assert newsroom.upload(content).status_code == 201
    again = newsroom.upload(content)
    assert again.status_code == 409 and again.json()["error"]["registration_id"]


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"just some text", 415, "unsupported_media"),
        (photo_bytes("coffee")[:4000], 422, "corrupt_media"),
        (png_claiming(100_000, 100_000), 413, "too_large"),
        (b"", 422, "invalid_request"),
    ],
    ids=["text", "truncated", "pixel-bomb", "empty"],
)
def test_bad_uploads_are_refused_not_crashed(client: TestClient, content: bytes, status: int, code: str) -> None:
    response = _check(client, content)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code and response.json()["error"]["message"]


def test_upload_cap_applies_while_streaming(client: TestClient) -> None:
    big = encode(Image.effect_noise((700, 700), 80).convert("RGB"), "PNG")
    assert len(big) > 400_000
    declared = _check(client, big)
    assert declared.status_code == 413 and "upload limit" in declared.json()["error"]["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap must trip on the bytes themselves
        boundary = b'--b\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\n'
        yield boundary
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]
        yield b"\r\n--b--\r\n"

    streamed = client.post("/v1/check", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert streamed.status_code == 413


def test_lookup_and_unknown_resources(client: TestClient) -> None:
    bad = client.get("/v1/lookup", params={"alg": "md5", "hash": "00"})
    assert bad.status_code == 422 and "unknown algorithm" in bad.json()["error"]["message"]
    assert client.get("/v1/lookup", params={"alg": "pdq"}).status_code == 422
    assert client.get("/v1/registrations/reg_missing").status_code == 404
    assert client.get("/v1/publishers/pub_missing").status_code == 404
    assert client.get("/nowhere").json()["error"]["code"] == "http_404"


def test_not_ready_answers_503(settings: Settings) -> None:
    app = create_app(settings)
    with TestClient(app) as test_client:
        wait_ready(test_client)
        app.state.registry._ready.clear()  # as if a large index were still loading
        assert test_client.get("/readyz").status_code == 503
        response = _check(test_client, photo_bytes("coffee"))
        assert response.status_code == 503 and response.headers["retry-after"] == "5"
        app.state.registry._ready.set()


def test_a_server_set_to_load_first_answers_only_once_ready(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_load = Registry.load

    def load(self: Registry, **kwargs: Any) -> None:
        time.sleep(0.5)  # a large index
        slow_load(self, **kwargs)

    monkeypatch.setattr(Registry, "load", load)
    with TestClient(create_app(settings.model_copy(update={"index_before_serving": True}))) as first:
        assert first.get("/readyz").status_code == 200  # start-up returned only once loaded
    with TestClient(create_app(settings)) as second:
        assert second.get("/readyz").status_code == 503  # the default: liveness at once, readiness later
        wait_ready(second)


def test_a_server_set_to_load_first_does_not_start_when_loading_fails(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def load(self: Registry, **kwargs: Any) -> None:
        raise OSError("index file unreadable")

    monkeypatch.setattr(Registry, "load", load)
    app = create_app(settings.model_copy(update={"index_before_serving": True}))
    with pytest.raises(ConfigurationError, match="loading the index failed"), TestClient(app):
        pass


def test_log_endpoints_serve_verifiable_proofs(client: TestClient) -> None:
    newsroom = Newsroom(client)
    first = newsroom.upload(photo_bytes("rocket")).json()
    newsroom.upload(photo_bytes("coffee"))
    keys = client.get("/v1/log/key").json()
    verifiers = [Verifier.from_vkey(key["vkey"]) for key in keys["keys"] if key["active"]]
    assert keys["origin"] == verifiers[0].name

    note = client.get("/v1/log/checkpoint")
    assert note.headers["content-type"].startswith("text/plain")
    head = Checkpoint.from_text(open_note(note.text, verifiers)[0])
    assert head.size == 3  # one publisher verification, two registrations

    entries = client.get("/v1/log/entries", params={"start": 0, "end": 10}).json()["entries"]
    assert [e["entry"]["kind"] for e in entries] == ["publisher_verification", "registration", "registration"]
    leaf = base64.b64decode(entries[1]["leaf_hash"])
    proof = client.get("/v1/log/proof/inclusion", params={"index": 1, "size": head.size}).json()
    merkle.verify_inclusion(leaf, 1, head.size, [base64.b64decode(h) for h in proof["hashes"]], head.root_hash)
    consistency = client.get("/v1/log/proof/consistency", params={"first": 2, "second": 3}).json()
    assert len(consistency["hashes"]) >= 1

    receipt = client.get(f"/v1/registrations/{first['id']}/receipt").json()
    assert verify_receipt(receipt_json(receipt), verifiers).checkpoint.size == head.size

    assert client.get("/v1/log/proof/inclusion", params={"index": 5, "size": 3}).status_code == 422
    assert client.get("/v1/log/proof/inclusion", params={"index": 0, "size": 99}).status_code == 404
    assert client.get("/v1/log/proof/consistency", params={"first": 0, "second": 3}).status_code == 422
    assert client.get("/v1/log/entries", params={"start": 5, "end": 2}).status_code == 422


def test_publisher_revokes_over_http(client: TestClient) -> None:
    newsroom = Newsroom(client)
    registration = newsroom.upload(photo_bytes("rocket")).json()
    fields = {"type": "content_revocation", "publisher_id": newsroom.id, "key_id": newsroom.key_id}
    request = sign_statement(newsroom.key, new_statement({**fields, "registration_id": registration["id"]}))
    body = {"statement": request.text, "signature": request.signature}
    auth = {"Authorization": f"Bearer {newsroom.api_key}"}
    wrong_url = client.post("/v1/registrations/reg_other/revoke", json=body, headers=auth)
    assert wrong_url.status_code == 422
    revoked = client.post(f"/v1/registrations/{registration['id']}/revoke", json=body, headers=auth)
    assert revoked.status_code == 200, revoked.text
    match = _check(client, photo_bytes("rocket")).json()["matches"][0]
    assert match["revoked"] is True and match["revocation_log_index"] == revoked.json()["log_index"]
    assert client.get(f"/v1/registrations/{registration['id']}").json()["revoked"] is True


def test_operator_revokes_a_lost_key_over_http(client: TestClient) -> None:
    newsroom = Newsroom(client)
    registration = newsroom.upload(photo_bytes("rocket")).json()
    replacement = Ed25519PrivateKey.generate()
    url = f"/v1/publishers/{newsroom.id}/keys/{newsroom.key_id}/revoke"
    body = {
        "compromised_since": registration["created_at"],
        "reason": "laptop stolen",
        "new_public_key": base64.b64encode(raw_public_key(replacement)).decode(),
    }
    publisher_auth = {"Authorization": f"Bearer {newsroom.api_key}"}
    assert client.post(url, json=body, headers=publisher_auth).status_code == 401  # an operator action
    missing_key = client.post(url, json={**body, "new_public_key": None}, headers=ADMIN)
    assert missing_key.status_code == 422 and "new_public_key" in missing_key.json()["error"]["message"]
    naive = client.post(url, json={**body, "compromised_since": "2026-01-01T00:00:00"}, headers=ADMIN)
    assert naive.status_code == 422
    assert client.post(url.replace(newsroom.key_id, "0" * 64), json=body, headers=ADMIN).status_code == 404

    revoked = client.post(url, json=body, headers=ADMIN)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["key_id"] == newsroom.key_id
    assert _check(client, photo_bytes("rocket")).json()["matches"][0]["key_compromised"] is True
    assert client.get(f"/v1/publishers/{newsroom.id}").json()["key_id"] != newsroom.key_id
    assert newsroom.upload(photo_bytes("coffee")).status_code == 403  # the lost key signs nothing more
    assert client.post(url, json={**body, "new_public_key": None}, headers=ADMIN).status_code == 409
    entry = client.get(
        "/v1/log/entries", params={"start": revoked.json()["log_index"], "end": revoked.json()["log_index"] + 1}
    ).json()["entries"][0]
    assert entry["entry"]["kind"] == "operator_key_revocation"


def test_server_start_up_refuses_writes_to_a_tampered_store(settings: Settings) -> None:
    with TestClient(create_app(settings)) as first:
        wait_ready(first)
        newsroom = Newsroom(first)
        assert newsroom.upload(photo_bytes("rocket")).status_code == 201
    with Registry.open(settings).engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE log_entry SET entry = replace(entry, '\"registration\"', '\"registratioN\"') WHERE log_index = 1"
        )
    with TestClient(create_app(settings)) as second:
        wait_ready(second)
        assert "failed audit" in second.get("/readyz").json()["log"]
        newsroom.client = second
        refused = newsroom.upload(photo_bytes("coffee"))
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "log_tampered"
        assert _check(second, photo_bytes("rocket")).json()["verdict"] == "copy"  # reads still work


def test_check_reports_alterations_and_draws_them(client: TestClient) -> None:
    newsroom = Newsroom(client)
    original = newsroom.upload(photo_bytes("astronaut")).json()
    doctored = photo("astronaut")
    doctored.paste(photo("coffee").resize((110, 90)), (40, 300))
    content = encode(doctored, "JPEG", quality=90)

    body = _check(client, content).json()
    assert body["verdict"] == "altered"
    match = body["matches"][0]
    assert match["registration_id"] == original["id"] and match["verdict"] == "altered"
    assert set(match["transform"]) >= {"crop", "scale", "rotation", "flipped", "photometric_change"}
    region = match["regions"][0]
    assert {"x", "y", "w", "h", "original", "share"} <= set(region) and match["altered_fraction"] > 0
    assert abs(region["x"] - 40) < 20 and abs(region["y"] - 300) < 20

    fast = client.post("/v1/check", params={"mode": "fast"}, files={"file": ("q", content)}).json()
    assert fast["matches"] == [] or fast["matches"][0]["transform"] is None
    assert client.post("/v1/check", params={"mode": "slow"}, files={"file": ("q", content)}).status_code == 422

    picture = client.post("/v1/check/picture", files={"file": ("q", content)})
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    assert picture.headers["x-provreg-registration"] == original["id"] and picture.content.startswith(b"\x89PNG")
    nothing = client.post("/v1/check/picture", files={"file": ("q", photo_bytes("rocket"))})
    assert nothing.status_code == 404
    other = client.post("/v1/check/picture", files={"file": ("q", content)}, data={"registration_id": "reg_elsewhere"})
    assert other.status_code == 404
