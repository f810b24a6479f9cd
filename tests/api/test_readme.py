"""The README's curl quickstart, run verbatim against a real server: documentation that cannot drift."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import encode, photo, photo_bytes, running_server

README = Path(__file__).resolve().parents[2] / "README.md"


def _curl_block() -> str:
    section = README.read_text().split("## Quickstart: HTTP with curl", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "the README lost its curl quickstart"
    return match.group(1)


@pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("openssl", "curl", "jq")), reason="needs openssl, curl and jq"
)
def test_curl_quickstart_works_as_written(tmp_path: Path) -> None:
    (tmp_path / "photo.jpg").write_bytes(photo_bytes("rocket"))
    (tmp_path / "repost.jpg").write_bytes(encode(photo("rocket").resize((240, 160)), "JPEG", quality=40))
    with running_server(tmp_path / "provreg-data", {}) as (base, _process):
        script = _curl_block().replace("http://127.0.0.1:8000", base)
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
    assert result.returncode == 0, result.stderr
    registration = (tmp_path / "registration.json").read_text()
    registration_id = re.search(r'"id":\s*"(reg_[0-9a-f]+)"', registration)
    assert registration_id, registration
    assert f'"match": "{registration_id.group(1)}"' in result.stdout
    assert '"verdict": "copy"' in result.stdout
    assert "localhost/provreg\n" in result.stdout  # the checkpoint note's origin line
