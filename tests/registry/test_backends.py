"""The same registry on SQLite and on a real PostgreSQL server: concurrent writers, a consistent log.

PostgreSQL runs when `PROVREG_TEST_POSTGRES_URL` names a server, or when this machine has the server binaries
(a throwaway cluster is started on a Unix socket); otherwise those cases are skipped, saying why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import encode, make_publisher
from PIL import Image
from sqlalchemy import create_engine, text

from registry import matching, service
from registry.log.audit import audit
from registry.runtime import Registry
from registry.settings import Settings


def _start_cluster(base: Path) -> tuple[str, Path]:
    """initdb + pg_ctl start as the `postgres` user when we are root (PostgreSQL refuses to run as root)."""
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base.mkdir(parents=True)
    if run_as:
        shutil.chown(base, "postgres")
    data = base / "data"
    subprocess.run(
        [*run_as, "initdb", "-D", str(data), "-A", "trust", "-U", "provreg"], check=True, capture_output=True
    )
    options = f"-p 55433 -k {base} -c listen_addresses='' -c fsync=off"
    subprocess.run(
        [*run_as, "pg_ctl", "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    return f"postgresql+psycopg://provreg@/postgres?host={base}&port=55433", data


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if url := os.environ.get("PROVREG_TEST_POSTGRES_URL"):
        yield url
        return
    if not shutil.which("initdb") or not shutil.which("pg_ctl"):
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    if os.geteuid() == 0 and not shutil.which("runuser"):
        pytest.skip("running as root without runuser: cannot start PostgreSQL")
    base = Path("/tmp") / f"provreg-pg-{uuid.uuid4().hex[:8]}"  # short: Unix socket paths are limited
    try:
        url, data = _start_cluster(base)
    except (subprocess.CalledProcessError, LookupError, PermissionError) as exc:
        pytest.skip(f"could not start a PostgreSQL cluster: {exc}")
    yield url
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*run_as, "pg_ctl", "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return Settings(data_dir=tmp_path / "data")
    server = request.getfixturevalue("postgres_server")
    database = f"provreg_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {database}"))
    admin.dispose()
    url = server.replace("/postgres?", f"/{database}?")
    return Settings(data_dir=tmp_path / "data", database_url=url)


def _image(seed: int) -> bytes:
    """A distinct, detailed picture per seed."""
    noise = Image.effect_noise((96, 64), 60 + seed).resize((384, 256), Image.Resampling.BICUBIC)
    return encode(Image.merge("RGB", (noise, noise.rotate(90 + seed * 7), noise.transpose(0))), "PNG")


def test_concurrent_writers_keep_one_consistent_log(backend_settings: Settings) -> None:
    registry = Registry.open(backend_settings)
    registry.load()
    publisher = make_publisher(registry, "Concurrent Newsroom")
    failures: list[BaseException] = []
    ids: list[str] = []

    def writer(worker: int) -> None:
        for n in range(3):
            content = _image(worker * 10 + n)
            statement, signature = publisher.signed(content)
            try:
                with registry.session() as session:
                    ids.append(
                        service.register(
                            session=session,
                            registry=registry,
                            statement=statement,
                            signature=signature,
                            content=content,
                        ).id
                    )
            except BaseException as exc:  # surfaced below: threads swallow exceptions
                failures.append(exc)

    threads = [threading.Thread(target=writer, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    assert len(set(ids)) == 12
    with registry.session() as session:
        report = audit(session, registry.keyring)
        assert report.ok, report.problems
        assert report.size == 13  # the publisher's verification, then twelve registrations
        for registration_id in ids[:3]:
            result = service.get_registration(session=session, registration_id=registration_id)
            content = registry.store.get(result.content.sha256)
            check = matching.check(session=session, registry=registry, content=content)
            assert check.matches[0].registration_id == registration_id
    registry.close()
