"""The publisher-side client over both transports: in-process service calls and the real HTTP API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from conftest import PublisherHandle, _free_port, encode, make_publisher, photo, photo_bytes, wait_ready
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from api.app import create_app
from api.client import HttpTransport, LocalTransport, RegistryUnreachable, Transport
from registry import errors, matching
from registry.keys import key_id, raw_public_key
from registry.log.receipts import receipt_json, verify_receipt
from registry.runtime import Registry
from registry.settings import Settings

pytestmark = pytest.mark.backends  # every test on SQLite and on PostgreSQL

TransportFor = Callable[[PublisherHandle], Transport]


@pytest.fixture(params=["local", "http"])
def registry_and_transport(
    request: pytest.FixtureRequest, settings: Settings
) -> Iterator[tuple[Registry, TransportFor]]:
    """A registry and a way to reach it as a publisher: its service in this process, or its HTTP API."""
    if request.param == "local":
        registry = Registry.open(settings)
        registry.load()
        yield registry, lambda _publisher: LocalTransport(registry)
        registry.close()
    else:
        with TestClient(create_app(settings)) as client:
            wait_ready(client)
            yield client.app.state.registry, lambda publisher: HttpTransport(client, publisher.api_key)


def test_every_signed_action_through_the_client(registry_and_transport: tuple[Registry, TransportFor]) -> None:
    registry, transport_for = registry_and_transport
    publisher = make_publisher(registry, "Daily Planet")
    client = publisher.client(transport_for(publisher))

    registration = client.register(photo_bytes("rocket"), {"title": "Launch"})
    assert registration.publisher.id == publisher.id and registration.metadata == {"title": "Launch"}
    publisher_key = raw_public_key(publisher.private_key)
    verify_receipt(receipt_json(registration.receipt), registry.keyring.verifiers, publisher_key=publisher_key)
    with pytest.raises(errors.AlreadyRegistered) as caught:
        client.register(photo_bytes("rocket"))
    assert caught.value.details["registration_id"] == registration.id

    revocation = client.revoke_registration(registration.id, "wrong file")
    assert (revocation.registration_id, revocation.reason) == (registration.id, "wrong file")
    with registry.session() as session:
        match = matching.check(session=session, registry=registry, content=photo_bytes("rocket")).matches[0]
    assert match.revoked and match.revocation_log_index == revocation.log_index

    old_key, new_key = publisher.private_key, Ed25519PrivateKey.generate()
    rotated = client.rotate_key(new_key)
    assert rotated.key_id == key_id(raw_public_key(new_key)) == client.key_id
    assert client.register(photo_bytes("coffee")).key_id == rotated.key_id  # the client now signs with the new key
    with pytest.raises(errors.Forbidden, match="retired key"):
        publisher.client(transport_for(publisher), old_key).register(photo_bytes("chelsea"))

    revoked = client.revoke_key(publisher.key_id, datetime.now(UTC) - timedelta(minutes=5))
    assert revoked.key_id == publisher.key_id
    with pytest.raises(errors.Conflict, match="revoked already"):
        client.revoke_key(publisher.key_id, datetime.now(UTC))


def test_refusals_raise_the_same_domain_errors(registry_and_transport: tuple[Registry, TransportFor]) -> None:
    registry, transport_for = registry_and_transport
    publisher = make_publisher(registry, "Daily Planet")
    client = publisher.client(transport_for(publisher))
    with pytest.raises(errors.UnsupportedMedia):
        client.register(b"plain text, not an image")
    with pytest.raises(errors.InvalidStatement, match="the file is image/png"):
        client.register(encode(photo("rocket"), "PNG"), media_type="image/jpeg")
    with pytest.raises(errors.NotFound):
        client.revoke_registration("reg_missing")
    with pytest.raises(errors.InvalidRequest, match="rotate to a new key first"):
        client.revoke_key(publisher.key_id, datetime.now(UTC))


def test_http_transport_reports_authentication_and_unreachable_registries(settings: Settings) -> None:
    with TestClient(create_app(settings)) as app_client:
        wait_ready(app_client)
        publisher = make_publisher(app_client.app.state.registry, "Daily Planet")
        other = make_publisher(app_client.app.state.registry, "Rival")
        with pytest.raises(errors.Unauthenticated):
            publisher.client(HttpTransport(app_client, "prk_not-a-key")).register(photo_bytes("rocket"))
        with pytest.raises(errors.Forbidden, match="belongs to"):
            publisher.client(HttpTransport(app_client, other.api_key)).register(photo_bytes("rocket"))
    nowhere = f"http://127.0.0.1:{_free_port()}"
    with (
        HttpTransport.connect(nowhere, publisher.api_key, timeout_s=5) as transport,
        pytest.raises(RegistryUnreachable, match="cannot reach"),
    ):
        publisher.client(transport).register(photo_bytes("rocket"))
