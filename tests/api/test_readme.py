"""The README's quickstarts, run as written, and its exit-status table: documentation that cannot drift."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import PROVREG, encode, photo, photo_bytes, running_server
from PIL import Image

from api.cli.exits import EXIT_CODES, EXIT_OK, EXIT_SOME_FAILED, EXIT_UNREADABLE, EXIT_USAGE, UNREADABLE_CODE
from registry import errors

README = Path(__file__).resolve().parents[2] / "README.md"


def _section(heading: str) -> str:
    text = README.read_text()
    assert f"\n## {heading}\n" in text, f"the README lost its section {heading!r}"
    return text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def _sh_block(heading: str) -> str:
    match = re.search(r"```sh\n(.*?)```", _section(heading), re.S)
    assert match, f"the README's {heading!r} has no sh block"
    return match.group(1)


def _run(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_cli_quickstart_works_as_written(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    (scratch / "photos").mkdir(parents=True)
    for name in ("rocket", "coffee"):
        (scratch / "photos" / f"{name}.jpg").write_bytes(photo_bytes(name))
    (scratch / "repost.jpg").write_bytes(encode(photo("rocket").resize((240, 160)), "JPEG", quality=40))
    canvas = Image.new("RGB", (photo("coffee").width + 120, photo("coffee").height + 200), "white")
    canvas.paste(photo("coffee"), (60, 100))
    (scratch / "screenshot.png").write_bytes(encode(canvas, "PNG"))
    doctored = photo("coffee")
    doctored.paste((250, 30, 30), (60, 60, 160, 130))
    (scratch / "doctored.jpg").write_bytes(encode(doctored, "JPEG", quality=95))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVREG_")}
    env["PATH"] = f"{Path(PROVREG).parent}{os.pathsep}{env['PATH']}"

    result = _run(_sh_block("Quickstart: the CLI"), scratch, env)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"^copy\s+repost\.jpg -> reg_", out, re.M), out
    assert re.search(r"^copy\s+screenshot\.png -> reg_", out, re.M), out
    assert re.search(r"^altered\s+doctored\.jpg -> reg_", out, re.M), out
    assert len(list((scratch / "out").glob("doctored--reg_*.png"))) == 1
    assert '"verdict": "copy"' in out  # the --json line
    assert re.search(r"^reg_\w+\s+distance \d+\s+Daily Planet", out, re.M), out  # lookup by the printed hash
    assert re.search(r"^OK: registration reg_\w+ is entry", out, re.M), out  # verify
    assert re.search(r"^OK: \d+ entries and \d+ checkpoints are consistent", out, re.M), out  # audit
    assert (scratch / "provreg-data" / "registry.sqlite3").exists()


@pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("openssl", "curl", "jq")), reason="needs openssl, curl and jq"
)
def test_curl_quickstart_works_as_written(tmp_path: Path) -> None:
    home, scratch = tmp_path / "home", tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "photo.jpg").write_bytes(photo_bytes("rocket"))
    (scratch / "repost.jpg").write_bytes(encode(photo("rocket").resize((240, 160)), "JPEG", quality=40))
    # The block reads the admin token from ~/provenance-registry/provreg-data, where `make serve` keeps it.
    with running_server(home / "provenance-registry" / "provreg-data", {}) as (base, _process):
        script = _sh_block("Quickstart: HTTP with curl").replace("http://127.0.0.1:8000", base)
        result = _run(script, scratch, {**os.environ, "HOME": str(home)})
    assert result.returncode == 0, result.stdout + result.stderr
    registration = (scratch / "registration.json").read_text()
    registration_id = re.search(r'"id":\s*"(reg_[0-9a-f]+)"', registration)
    assert registration_id, registration
    assert f'"match": "{registration_id.group(1)}"' in result.stdout
    assert '"verdict": "copy"' in result.stdout
    assert "localhost/provreg\n" in result.stdout  # the checkpoint note's origin line


def test_quickstarts_use_their_own_publishers_and_key_files() -> None:
    cli, curl = _sh_block("Quickstart: the CLI"), _sh_block("Quickstart: HTTP with curl")
    key_files = [set(re.findall(r"[\w-]+\.pem", block)) for block in (cli, curl)]
    names = [
        {name for found in re.findall(r'"name\\?": \\?"([^"\\]+)|create "([^"]+)"', block) for name in found if name}
        for block in (cli, curl)
    ]
    assert all(key_files) and not key_files[0] & key_files[1]
    assert all(names) and not names[0] & names[1]
    assert "curl -sf" not in curl  # -f alone hides the error body


def _documented_exit_statuses() -> dict[int, set[str]]:
    rows = re.findall(r"^\| (\d+) \| [^|]+ \|([^|]*)\|$", _section("Quickstart: the CLI"), re.M)
    assert rows, "the README lost its exit-status table"
    return {int(status): set(re.findall(r"`(\w+)`", codes)) for status, codes in rows}


def _all_error_classes(cls: type[errors.RegistryError]) -> list[type[errors.RegistryError]]:
    return [cls, *(sub for direct in cls.__subclasses__() for sub in _all_error_classes(direct))]


def test_readme_exit_status_table_matches_the_cli() -> None:
    expected: dict[int, set[str]] = {EXIT_OK: set(), EXIT_SOME_FAILED: set(), EXIT_USAGE: set()}
    for cls in _all_error_classes(errors.RegistryError)[1:]:
        status = next(EXIT_CODES[base] for base in cls.__mro__ if base in EXIT_CODES)
        expected.setdefault(status, set()).add(cls.code)
    expected[EXIT_UNREADABLE].add(UNREADABLE_CODE)
    assert _documented_exit_statuses() == expected
