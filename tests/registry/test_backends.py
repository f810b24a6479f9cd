"""The same registry on SQLite and on a real PostgreSQL server: concurrent writers, a consistent log."""

from __future__ import annotations

import threading

import pytest
from conftest import encode, make_publisher
from PIL import Image

from registry import matching, service
from registry.log.audit import audit
from registry.runtime import Registry
from registry.settings import Settings

pytestmark = pytest.mark.backends


def _image(seed: int) -> bytes:
    """A distinct, detailed picture per seed."""
    noise = Image.effect_noise((96, 64), 60 + seed).resize((384, 256), Image.Resampling.BICUBIC)
    return encode(Image.merge("RGB", (noise, noise.rotate(90 + seed * 7), noise.transpose(0))), "PNG")


@pytest.mark.slow
def test_concurrent_writers_keep_one_consistent_log(settings: Settings) -> None:
    registry = Registry.open(settings)
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
