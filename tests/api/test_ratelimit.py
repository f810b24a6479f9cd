"""Rate limiting per API key and per client address, driven through a real app."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from test_errors import assert_documented_error
from test_http import ADMIN, Newsroom, wait_ready

from api.app import create_app
from api.ratelimit import KNOWN_SECONDS, Callers
from registry import migrations, publishers
from registry.db import make_engine
from registry.ratelimits import BucketPolicy, MemoryBuckets, SharedBuckets
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


def test_a_publishers_key_has_its_own_bucket_from_its_first_request(client: TestClient) -> None:
    newsroom = Newsroom(client)
    auth = {"Authorization": f"Bearer {newsroom.api_key}"}
    for _ in range(BURST):
        client.get("/v1/log/key")
    assert client.get("/v1/log/key").status_code == 429  # this address is spent
    # The key has never authenticated in this process: it is looked up, not charged to the address.
    answers = [client.get("/v1/log/key", headers=auth).status_code for _ in range(3 * BURST)]
    assert answers == [200] * (3 * BURST)
    assert client.get("/v1/log/key", headers=auth).status_code == 429
    assert client.get(f"/v1/publishers/{newsroom.id}", headers=ADMIN).status_code == 200  # the admin's bucket
    registry = client.app.state.registry  # a revoked key falls back to its address, spent already
    with registry.session() as session:
        publishers.revoke_api_keys(session=session, registry=registry, publisher_id=newsroom.id, replace=False)
    client.app.state.rate_limiter.callers._known.clear()  # as in a process that has not met the key yet
    assert client.get("/v1/log/key", headers=auth).status_code == 429


def test_disabled_by_setting(settings: Settings) -> None:
    settings.rate_limit_enabled = False
    settings.rate_limit_anonymous_burst = 1
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        assert {client.get("/v1/log/key").status_code for _ in range(10)} == {200}


def test_buckets_refill_at_their_rate() -> None:
    now = [0.0]
    buckets = MemoryBuckets(clock=lambda: now[0])
    policy = BucketPolicy(per_second=2, burst=2)
    assert [buckets.take("address:192.0.2.1", policy) for _ in range(3)] == [0, 0, 0.5]
    now[0] = 0.5
    assert buckets.take("address:192.0.2.1", policy) == 0
    now[0] = 100.0  # idle for long: refilled to the burst, never beyond
    assert [buckets.take("address:192.0.2.1", policy) for _ in range(3)] == [0, 0, 0.5]


def test_tracked_callers_are_bounded() -> None:
    buckets = MemoryBuckets(max_tracked=3)
    policy = BucketPolicy(1, 1)
    for address in range(10):
        buckets.take(f"address:{address}", policy)
    assert buckets.take("address:9", policy) > 0  # recent ones are remembered
    assert buckets.take("address:0", policy) == 0  # the oldest was forgotten (a full bucket)


def test_a_token_is_looked_up_once_a_while_and_the_admin_token_never() -> None:
    looked_up: list[str] = []
    now = [0.0]

    def lookup(credential: str) -> str | None:
        looked_up.append(credential)
        return "pub_1" if credential == "genuine" else None

    callers = Callers(admin_token="admin-secret", lookup=lookup, clock=lambda: now[0])
    assert callers.identify("admin-secret") == "admin" and callers.remembered("admin-secret") == "admin"
    assert callers.remembered("genuine") is None
    assert [callers.identify("genuine"), callers.identify("genuine"), callers.identify("guess")] == [
        "pub_1",
        "pub_1",
        None,
    ]
    assert looked_up == ["genuine", "guess"]
    now[0] = KNOWN_SECONDS + 1
    assert callers.remembered("genuine") is None and callers.identify("genuine") == "pub_1"
    assert looked_up == ["genuine", "guess", "genuine"]


def test_postgresql_buckets_are_one_for_every_process(postgres_url: str) -> None:
    """Two engines (two API processes, in effect), eight threads: the burst is granted once in all, atomically."""
    migrations.migrate(engine := make_engine(postgres_url))
    engine.dispose()
    first, second = (SharedBuckets.connect(postgres_url, connections=4) for _ in range(2))
    policy = BucketPolicy(per_second=1 / 600, burst=10)  # one token per 10 minutes: nothing refills meanwhile
    with ThreadPoolExecutor(8) as pool:
        waits = list(pool.map(lambda i: (first if i % 2 else second).take("address:x", policy), range(40)))
    assert waits.count(0) == 10
    # Retry-After's estimate: the next token's wait (about 600 s), lower only where another process granted the same
    # instant (the denial reads the statement's snapshot); never 0, which would be a grant.
    assert all(0 < wait <= 6000 for wait in waits if wait) and sorted(waits)[-1] >= 500
    assert first.take("address:y", policy) == 0  # each caller its own bucket
    first.close()
    second.close()


def test_two_apps_on_one_postgresql_database_share_the_rate(settings: Settings, postgres_url: str) -> None:
    settings = settings.model_copy(
        update={
            "database_url": postgres_url,
            "rate_limit_anonymous_burst": BURST,
            "rate_limit_anonymous_per_minute": 0.1,
        }
    )
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        wait_ready(one)
        wait_ready(two)
        answers = [(one if i % 2 else two).get("/v1/log/key").status_code for i in range(2 * BURST)]
    assert answers.count(200) == BURST and answers.count(429) == BURST
