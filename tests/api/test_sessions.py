"""The publisher desk's sessions are server-side: sign-out, API-key revocation or rotation, a key reported
compromised and the end of the publisher's verification end them at once, on every worker."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from conftest import ADMIN_TOKEN, PublisherHandle, photo_bytes, wait_ready
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import text
from test_web import csrf_of, make_newsroom

from api.app import create_app
from api.client import LocalTransport
from registry.keys import raw_public_key
from registry.settings import Settings

pytestmark = pytest.mark.backends  # every test on SQLite and on PostgreSQL

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        wait_ready(test_client)
        yield test_client


def sign_in(client: TestClient, api_key: str) -> str:
    """Sign in on the desk; the session cookie's value."""
    token = csrf_of(client.get("/publish").text)
    answer = client.post("/publish/sign-in", data={"csrf": token, "api_key": api_key}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return client.cookies["provreg_session"]


def desk_opens(client: TestClient, cookie: str) -> bool:
    """Whether a browser presenting `cookie` (and nothing else the first one had) gets the desk."""
    browser = TestClient(client.app, cookies={"provreg_session": cookie})
    page = browser.get("/publish").text
    signed_in, signed_out = 'id="key-file"' in page, 'id="api-key"' in page
    assert signed_in != signed_out
    return signed_in


def test_a_signed_out_session_cookie_is_refused_on_its_next_request(client: TestClient) -> None:
    newsroom = make_newsroom(client)
    cookie = sign_in(client, newsroom.api_key)
    assert desk_opens(client, cookie)
    client.post("/publish/sign-out", data={"csrf": csrf_of(client.get("/publish").text)})
    assert not desk_opens(client, cookie)  # the copied cookie is dead, not only deleted from this browser
    # Nor does it authorise a form: the register form answers as to a stranger.
    thief = TestClient(client.app, cookies={"provreg_session": cookie})
    token = csrf_of(thief.get("/").text)
    refused = thief.post(
        "/publish/register",
        data={"csrf": token, "statement": "{}", "signature": "x"},
        files={"file": ("a.jpg", photo_bytes("rocket"), "image/jpeg")},
    )
    assert refused.status_code == 401


def test_a_session_is_one_browsers_and_forged_or_old_style_cookies_open_nothing(client: TestClient) -> None:
    newsroom = make_newsroom(client)
    first = sign_in(client, newsroom.api_key)
    second = sign_in(TestClient(client.app), newsroom.api_key)
    assert first != second and desk_opens(client, first) and desk_opens(client, second)
    client.post("/publish/sign-out", data={"csrf": csrf_of(client.get("/publish").text)})
    assert not desk_opens(client, first) and desk_opens(client, second)  # signing out ends that browser's only
    browser = TestClient(client.app)
    earlier = sign_in(browser, newsroom.api_key)
    assert sign_in(browser, newsroom.api_key) != earlier and not desk_opens(client, earlier)  # signing in again
    assert not desk_opens(client, f"{newsroom.id}.9999999999.forged")
    assert not desk_opens(client, second[:-1] + ("A" if second[-1] != "A" else "B"))


def test_revoking_the_api_key_in_the_database_ends_the_session(client: TestClient) -> None:
    """However the key is revoked (here as an operator's SQL would), a session signed in with it stops at once."""
    newsroom = make_newsroom(client)
    cookie = sign_in(client, newsroom.api_key)
    with client.app.state.registry.engine.begin() as connection:
        connection.execute(
            text("UPDATE api_key SET revoked_at = :now WHERE publisher_id = :id"),
            {"now": datetime.now(UTC).replace(tzinfo=None), "id": newsroom.id},
        )
    assert not desk_opens(client, cookie)


def test_rotating_the_api_key_ends_its_sessions_and_the_new_key_works(client: TestClient) -> None:
    newsroom = make_newsroom(client)
    cookie = sign_in(client, newsroom.api_key)
    rotated = client.post(
        f"/v1/publishers/{newsroom.id}/api-keys/rotate", headers={"Authorization": f"Bearer {newsroom.api_key}"}
    )
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["publisher_id"] == newsroom.id and body["revoked"] == 1 and body["sessions_ended"] == 1
    assert not desk_opens(client, cookie)
    old = client.get(f"/v1/publishers/{newsroom.id}", headers={"Authorization": f"Bearer {newsroom.api_key}"})
    assert old.status_code == 200  # reading is public; the old key itself no longer authenticates:
    again = client.post(
        f"/v1/publishers/{newsroom.id}/api-keys/rotate", headers={"Authorization": f"Bearer {newsroom.api_key}"}
    )
    assert again.status_code == 401
    assert desk_opens(client, sign_in(TestClient(client.app), body["api_key"]))


def test_the_operator_revokes_every_api_key_and_session_of_a_publisher(client: TestClient) -> None:
    newsroom = make_newsroom(client)
    cookies = [sign_in(TestClient(client.app), newsroom.api_key) for _ in range(2)]
    other = make_newsroom(client, "Other Desk")
    bystander = sign_in(TestClient(client.app), other.api_key)
    revoked = client.post(f"/v1/publishers/{newsroom.id}/api-keys/revoke", headers=ADMIN, json={"replace": False})
    assert revoked.status_code == 200, revoked.text
    assert revoked.json() == {"publisher_id": newsroom.id, "api_key": None, "revoked": 1, "sessions_ended": 2}
    assert not any(desk_opens(client, cookie) for cookie in cookies)
    assert desk_opens(client, bystander)
    refused = TestClient(client.app).post(
        "/publish/sign-in", data={"csrf": csrf_of(client.get("/publish").text), "api_key": newsroom.api_key}
    )
    assert refused.status_code in (401, 403)
    replaced = client.post(f"/v1/publishers/{newsroom.id}/api-keys/revoke", headers=ADMIN, json={})
    assert replaced.json()["api_key"] and replaced.json()["revoked"] == 0  # the default issues a new key
    assert desk_opens(client, sign_in(TestClient(client.app), replaced.json()["api_key"]))
    not_admin = client.post(
        f"/v1/publishers/{newsroom.id}/api-keys/revoke", headers={"Authorization": f"Bearer {other.api_key}"}
    )
    assert not_admin.status_code == 401


def test_a_key_reported_compromised_ends_the_sessions(client: TestClient) -> None:
    newsroom = make_newsroom(client)
    cookie = sign_in(client, newsroom.api_key)
    replacement = Ed25519PrivateKey.generate()
    lost = client.post(
        f"/v1/publishers/{newsroom.id}/keys/{newsroom.key_id}/revoke",
        headers=ADMIN,
        json={
            "compromised_since": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "reason": "laptop stolen",
            "new_public_key": base64.b64encode(raw_public_key(replacement)).decode(),
        },
    )
    assert lost.status_code == 200, lost.text
    assert not desk_opens(client, cookie)

    # The publisher itself reporting a retired key compromised (after a rotation, which keeps the session).
    cookie = sign_in(client, newsroom.api_key)
    publisher_client = PublisherHandle(newsroom.id, "", replacement, newsroom.api_key).client(
        LocalTransport(client.app.state.registry)
    )
    retired = publisher_client.key_id
    publisher_client.rotate_key(Ed25519PrivateKey.generate())
    assert desk_opens(client, cookie)
    publisher_client.revoke_key(retired, datetime.now(UTC) - timedelta(minutes=5))
    assert not desk_opens(client, cookie)


def test_the_end_of_the_verification_ends_the_sessions(client: TestClient, settings: Settings) -> None:
    newsroom = make_newsroom(client)
    cookie = sign_in(client, newsroom.api_key)
    renewed = {"method": "dns-txt", "evidence": "TXT", "verified_by": "ops"}
    later = datetime.now(UTC) + timedelta(days=30)
    answer = client.put(
        f"/v1/publishers/{newsroom.id}/verification", headers=ADMIN, json={**renewed, "expires_at": later.isoformat()}
    )
    assert answer.status_code == 200 and desk_opens(client, cookie)  # a renewal keeps the session
    ended = datetime.now(UTC) - timedelta(seconds=1)
    answer = client.put(
        f"/v1/publishers/{newsroom.id}/verification", headers=ADMIN, json={**renewed, "expires_at": ended.isoformat()}
    )
    assert answer.status_code == 200 and not desk_opens(client, cookie)


def test_sessions_are_shared_by_every_worker(settings: Settings, client: TestClient) -> None:
    """A second app on the same database (another worker process, in effect) sees the sign-out at once."""
    newsroom = make_newsroom(client)
    cookie = sign_in(client, newsroom.api_key)
    with TestClient(create_app(settings)) as other:
        wait_ready(other)
        assert desk_opens(other, cookie)
        client.post("/publish/sign-out", data={"csrf": csrf_of(client.get("/publish").text)})
        assert not desk_opens(other, cookie)
