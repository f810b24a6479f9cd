"""Rate limiting per API key and per client address, driven through a real app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from test_errors import assert_documented_error
from test_http import ADMIN, Newsroom, wait_ready

from api.app import create_app
from api.ratelimit import BucketPolicy, RateLimiter
from registry.settings import Settings

BURST = 5


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    # A refill of one token per 10 minutes: nothing comes back while the test runs, however slow the machine.
    settings.rate_limit_anonymous_burst = BURST
    settings.rate_limit_anonymous_per_minute = 0.1
    settings.rate_limit_publisher_burst = 3 * BURST
    settings.rate_limit_publisher_per_minute = 0.1
    with TestClient(create_app(settings)) as test_client:
        wait_ready(test_client)
        yield test_client


def test_anonymous_callers_are_limited_by_address_and_probes_are_exempt(client: TestClient) -> None:
    answers = [client.get("/v1/log/key").status_code for _ in range(BURST)]
    assert answers == [200] * BURST
    limited = client.get("/v1/publishers/pub_x")
    assert limited.status_code == 429 and assert_documented_error(limited)["code"] == "rate_limited"
    assert 500 <= int(limited.headers["retry-after"]) <= 600  # one token per 600 s
    invented_key = client.get("/v1/log/key", headers={"Authorization": "Bearer made-up-key"})
    assert invented_key.status_code == 429  # an unknown key draws on the address's bucket, not a fresh one
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.get(path).status_code == 200
    assert 'status="429"' in client.get("/metrics").text


def test_a_publishers_key_has_its_own_bucket(client: TestClient) -> None:
    newsroom = Newsroom(client)  # the admin token authenticates once, then draws on its own bucket
    auth = {"Authorization": f"Bearer {newsroom.api_key}"}
    # The first authenticated request still draws on the address; from then on the key's own bucket is used.
    assert client.post(f"/v1/publishers/{newsroom.id}/keys/revoke", json={}, headers=auth).status_code == 422
    for _ in range(BURST):
        client.get("/v1/log/key")
    assert client.get("/v1/log/key").status_code == 429
    answers = [client.get("/v1/log/key", headers=auth).status_code for _ in range(3 * BURST)]
    assert answers == [200] * (3 * BURST)
    assert client.get("/v1/log/key", headers=auth).status_code == 429
    assert client.get(f"/v1/publishers/{newsroom.id}", headers=ADMIN).status_code == 200  # the admin's bucket


def test_disabled_by_setting(settings: Settings) -> None:
    settings.rate_limit_enabled = False
    settings.rate_limit_anonymous_burst = 1
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        assert {client.get("/v1/log/key").status_code for _ in range(10)} == {200}


def test_buckets_refill_at_their_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(
        anonymous=BucketPolicy(per_second=2, burst=2), publisher=BucketPolicy(1, 1), clock=lambda: now[0]
    )
    bucket, policy = limiter.caller(None, "192.0.2.1")
    assert [limiter.take(bucket, policy) for _ in range(3)] == [0, 0, 0.5]
    now[0] = 0.5
    assert limiter.take(bucket, policy) == 0
    now[0] = 100.0  # idle for long: refilled to the burst, never beyond
    assert [limiter.take(bucket, policy) for _ in range(3)] == [0, 0, 0.5]
    limiter.recognise("secret", "pub_1")
    assert limiter.caller("secret", "192.0.2.1") == ("key:pub_1", limiter.publisher)
    assert limiter.caller("guess", "192.0.2.1") == ("address:192.0.2.1", limiter.anonymous)


def test_tracked_callers_are_bounded() -> None:
    limiter = RateLimiter(anonymous=BucketPolicy(1, 1), publisher=BucketPolicy(1, 1), max_tracked=3)
    for address in range(10):
        limiter.take(f"address:{address}", limiter.anonymous)
    assert limiter.take("address:9", limiter.anonymous) > 0  # recent ones are remembered
    assert limiter.take("address:0", limiter.anonymous) == 0  # the oldest was forgotten (a full bucket)
