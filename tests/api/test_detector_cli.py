"""`provreg detector train --from-registry`: the registry's own registered originals as the training photos."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import PHOTOS, PublisherHandle, make_publisher, photo_bytes
from splices import jpeg_bytes, pixels
from typer.testing import CliRunner

from api.cli import app
from api.client import LocalTransport
from registry.models import Publisher
from registry.runtime import Registry


def test_train_from_registry_uses_only_live_verified_originals(
    registry: Registry, publisher: PublisherHandle, register: Callable[[bytes], str], tmp_path: Path
) -> None:
    registered = {register(photo_bytes(name)) for name in PHOTOS}
    revoked = register(jpeg_bytes(pixels("astronaut")[:, ::-1].copy(), 90))
    client = publisher.client(LocalTransport(registry))
    client.revoke_registration(revoked, "withdrawn")
    lapsed = make_publisher(registry, "lapsed")
    lapsed.client(LocalTransport(registry)).register(jpeg_bytes(pixels("coffee")[::-1].copy(), 90), {"title": "x"})
    with registry.session() as session:  # its verification lapsed after it registered
        row = session.get(Publisher, lapsed.id)
        assert row is not None
        row.verification_expires_at = datetime.now(UTC) - timedelta(days=1)
        session.add(row)
        session.commit()
    args = ["--out", str(tmp_path), "--name", "own", "--size", "32", "--samples", "32", "--epochs", "1"]
    args += ["--calibration-photos", "2", "--from-registry", "--json"]
    result = CliRunner().invoke(app, ["--data-dir", str(registry.settings.data_dir), "detector", "train", *args])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["photos"] == len(PHOTOS) and "realistic source of faces in production" in summary["source"]
    assert "4 real source photos from this registry's registered originals" in result.stderr
    meta = json.loads((tmp_path / "own.json").read_text())
    used = {name.removeprefix("registration:") for name in meta["train_photos"] + meta["calibration_photos"]}
    assert used == registered
