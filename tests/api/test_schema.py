"""Schemathesis over the app's own OpenAPI schema: no request it can generate gets a 5xx, an undocumented status or a
body that breaks the schema. Bounded and derandomized, so it is part of the default suite and reproducible."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import schemathesis
from conftest import encode, make_publisher, photo
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import BaseSchema, Case, GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance
from test_http import ADMIN

from api.app import create_app
from api.client import LocalTransport
from registry.runtime import Registry
from registry.settings import Settings

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
# `timeout=None` on every call: schemathesis reads an answer for 10 s by default, and a batch item's media worker
# starting on a machine with both cores busy took longer once (issue 18). What is checked is the answer, not its speed.
EXAMPLES_PER_OPERATION = 25
# Operations that act on behalf of the operator; every other authenticated one takes a publisher's API key.
ADMIN_OPERATIONS = {
    ("POST", "/v1/publishers"),
    ("PUT", "/v1/publishers/{publisher_id}/verification"),
    ("POST", "/v1/publishers/{publisher_id}/api-keys/revoke"),
}
# Operations that replace the publisher's API key: they act on a second publisher, whose key follows each answer,
# so the first publisher's key stays valid for every other operation.
KEY_CHANGING = {
    ("POST", "/v1/publishers/{publisher_id}/api-keys/rotate"),
    ("POST", "/v1/publishers/{publisher_id}/api-keys/revoke"),
}


class Fixture:
    """A registry with one verified publisher and one registration, so generated requests can reach past 404."""

    def __init__(self, data_dir: Path) -> None:
        self.settings = Settings(data_dir=data_dir, admin_token=ADMIN["Authorization"].split()[1])
        self.settings.rate_limit_enabled = False
        registry = Registry.open(self.settings)
        try:
            registry.load()
            self.publisher = make_publisher(registry, "Daily Planet")
            self.rotating = make_publisher(registry, "Rotating Desk")
            original = encode(photo("astronaut"), "JPEG", quality=90)
            self.registration_id = self.publisher.client(LocalTransport(registry)).register(original, {}).id
        finally:
            registry.close()
        self.app: FastAPI = create_app(self.settings)


@pytest.fixture(scope="module")
def registry_app(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return Fixture(tmp_path_factory.mktemp("schema") / "data")


@pytest.fixture
def api_schema(registry_app: Fixture) -> BaseSchema:
    """The schema as served; schemathesis's pytest plugin ends the app's lifespan after each test, so every test
    starts the registry afresh and waits for its index to load."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", registry_app.app)
    deadline = time.monotonic() + 30
    while schema["/readyz"]["GET"].Case().call().status_code != 200:
        assert time.monotonic() < deadline, "registry never became ready"
        time.sleep(0.05)
    return schema


def _operations() -> list[tuple[str, str, str]]:
    """(method, path, credential) for every operation: each anonymously, the secured ones also with their key."""
    spec = create_app(Settings(admin_token=ADMIN["Authorization"].split()[1])).openapi()
    operations = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            operations.append((method.upper(), path, "anonymous"))
            if operation.get("security"):
                secured = "admin" if (method.upper(), path) in ADMIN_OPERATIONS else "publisher"
                operations.append((method.upper(), path, secured))
    return operations


@pytest.mark.parametrize(("method", "path", "credential"), _operations())
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda mode: mode.value)
def test_the_schema_tells_the_truth(
    api_schema: BaseSchema, registry_app: Fixture, method: str, path: str, credential: str, mode: GenerationMode
) -> None:
    changing = (method, path) in KEY_CHANGING
    publisher = registry_app.rotating if changing else registry_app.publisher
    real_ids = {"publisher_id": publisher.id, "registration_id": registry_app.registration_id}

    @given(case=api_schema[path][method].as_strategy(mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Case) -> None:
        # Half the generated ids become the real ones, so the checks past the lookup get exercised too.
        for name, value in (case.path_parameters or {}).items():
            if name in real_ids and len(str(value)) % 2 == 0:
                case.path_parameters[name] = real_ids[name]
        headers = {
            "anonymous": {},
            "admin": ADMIN,
            "publisher": {"Authorization": f"Bearer {publisher.api_key}"},
        }[credential]
        response = case.call_and_validate(headers=headers, checks=CHECKS, timeout=None)
        if changing and response.status_code == 200 and response.json()["api_key"]:
            publisher.api_key = response.json()["api_key"]

    try:
        run()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise
        pytest.skip("every input this operation takes is valid: there is no negative case to send")


def test_error_responses_are_documented_with_their_real_body() -> None:
    """What schemathesis first found: 401/403/404/409/413/415 answered but undocumented, and 422 documented as
    FastAPI's `{"detail": [...]}` although every error is `{"error": {...}}`."""
    spec = create_app(Settings(admin_token=ADMIN["Authorization"].split()[1])).openapi()
    error_ref = {"$ref": "#/components/schemas/ErrorView"}

    def statuses(method: str, path: str) -> dict[str, dict]:
        return spec["paths"][path][method]["responses"]

    register = statuses("post", "/v1/registrations")
    assert set(register) == {
        "201",
        "202",
        "401",
        "408",
        "409",
        "413",
        "415",
        "422",
        "429",
        "503",
    }  # 202: a job (long media)
    errors = set(register) - {"201", "202"}
    assert all(register[s]["content"]["application/json"]["schema"] == error_ref for s in errors)
    assert {"401", "403", "404"} <= set(statuses("post", "/v1/publishers/{publisher_id}/keys/rotate"))
    assert "404" in statuses("get", "/v1/log/proof/inclusion")
    assert "429" not in statuses("get", "/healthz")  # probes are never rate limited
    assert "HTTPValidationError" not in spec["components"]["schemas"]
