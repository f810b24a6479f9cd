"""The `provreg` CLI in-process, on a real data directory: publisher create -> register a folder -> check."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sqlite3
import stat
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import click
import pytest
import typer
from conftest import PHOTOS, PROVREG, encode, photo, photo_bytes
from PIL import Image, ImageOps
from receipts import hostile_receipts
from typer.testing import CliRunner

from api.cli import app
from api.cli.exits import batch_exit_code

runner = CliRunner()


def provreg(data_dir: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--data-dir", str(data_dir), *args])
    return result.exit_code, result.stdout, result.stderr


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "registry"


@pytest.fixture
def key(tmp_path: Path, data_dir: Path) -> Path:
    path = tmp_path / "newsroom.pem"
    code, out, err = provreg(data_dir, "publisher", "create", "Daily Planet", "--key-out", str(path))
    assert code == 0, err
    assert out.strip().startswith("pub_") and "API key" in err
    return path


@pytest.fixture
def originals(tmp_path: Path) -> Path:
    folder = tmp_path / "originals"
    (folder / "nested").mkdir(parents=True)
    for name in PHOTOS[:2]:
        (folder / f"{name}.jpg").write_bytes(photo_bytes(name))
    (folder / "nested" / f"{PHOTOS[2]}.png").write_bytes(encode(photo(PHOTOS[2]), "PNG"))
    (folder / "notes.txt").write_text("not media: skipped when searching a directory")
    return folder


def test_key_file_is_private_and_never_overwritten(key: Path, data_dir: Path) -> None:
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    code, _, err = provreg(data_dir, "publisher", "create", "Another", "--key-out", str(key))
    assert code == 3 and "refusing to overwrite" in err


def test_register_folder_then_check_transformed_copies(
    key: Path, data_dir: Path, originals: Path, tmp_path: Path
) -> None:
    code, out, err = provreg(data_dir, "register", str(originals), "--key", str(key), "--title", "Press pool", "--json")
    assert code == 0, err
    registered = {Path(line["file"]).stem: line for line in json_lines(out)}
    assert set(registered) == set(PHOTOS[:3])
    for line in registered.values():
        assert set(line) == {"file", "registration_id", "sha256", "receipt", "prior_registrations"}
        assert line["prior_registrations"] == []  # nobody registered these photos before

    queries = tmp_path / "queries"
    queries.mkdir()
    expected = {}
    for name in PHOTOS[:3]:
        for label, image, params in (
            ("q30", photo(name), {"quality": 30}),
            ("half", photo(name).resize((photo(name).width // 2, photo(name).height // 2)), {}),
            ("flip", ImageOps.mirror(photo(name)), {}),
            ("rot90", photo(name).transpose(Image.Transpose.ROTATE_270), {}),
            ("grey", ImageOps.grayscale(photo(name)), {}),
        ):
            path = queries / f"{name}-{label}.jpg"
            path.write_bytes(encode(image, "JPEG", **params))
            expected[path.name] = registered[name]["registration_id"]
    (queries / "unrelated.jpg").write_bytes(photo_bytes("rocket"))

    code, out, err = provreg(data_dir, "check", str(queries), "--json")
    assert code == 0, err
    results = {Path(line["file"]).name: line for line in json_lines(out)}
    assert results["unrelated.jpg"]["verdict"] == "unregistered"
    for name, registration_id in expected.items():
        assert results[name]["verdict"] == "copy", name
        match = results[name]["matches"][0]
        assert match["registration_id"] == registration_id
        assert match["publisher"] == "Daily Planet" and match["verified"] is True
        assert {"distance", "score", "variant"} <= set(match)
    assert results["chelsea-rot90.jpg"]["matches"][0]["variant"] == "rotate_90_cw"

    code, out, _ = provreg(data_dir, "check", str(queries / "coffee-q30.jpg"))
    assert code == 0 and "copy" in out and registered["coffee"]["registration_id"] in out


def test_bad_files_are_reported_and_do_not_stop_the_batch(key: Path, data_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(photo_bytes("coffee")[:2000])
    text = tmp_path / "readme.txt"
    text.write_text("hello")
    good = tmp_path / "good.jpg"
    good.write_bytes(photo_bytes("astronaut"))
    missing = tmp_path / "missing.jpg"
    code, out, _ = provreg(
        data_dir, "register", str(broken), str(text), str(missing), str(good), "--key", str(key), "--json"
    )
    assert code == 1
    lines = {Path(line["file"]).name: line for line in json_lines(out)}
    assert lines["broken.jpg"]["error"]["code"] == "corrupt_media"
    assert lines["readme.txt"]["error"]["code"] == "unsupported_media"
    assert lines["missing.jpg"]["error"]["code"] == "unreadable"
    assert lines["good.jpg"]["registration_id"].startswith("reg_")

    code, out, err = provreg(data_dir, "register", str(good), str(broken), "--key", str(key))
    assert code == 1 and "already registered" in out and "broken.jpg" in err and "1 of 2 file(s) failed" in err


def test_lookup_and_command_errors(key: Path, data_dir: Path, originals: Path, tmp_path: Path) -> None:
    code, out, _ = provreg(data_dir, "register", str(originals / "coffee.jpg"), "--key", str(key), "--json")
    sha256 = json_lines(out)[0]["sha256"]
    code, out, _ = provreg(data_dir, "lookup", "--alg", "sha256", sha256, "--json")
    assert code == 0 and json_lines(out)[0]["matches"][0]["distance"] == 0
    code, _, err = provreg(data_dir, "lookup", "--alg", "pdq", "00")
    assert code == 3 and "64 hexadecimal digits" in err

    stranger = tmp_path / "stranger.pem"
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from registry.keys import save_private_key

    save_private_key(stranger, Ed25519PrivateKey.generate())
    code, _, err = provreg(data_dir, "register", str(originals), "--key", str(stranger))
    assert code == 5 and "belongs to no publisher" in err
    not_a_key = tmp_path / "not-a-key.pem"
    not_a_key.write_text("hello")
    code, _, err = provreg(data_dir, "register", str(originals), "--key", str(not_a_key))
    assert code == 3 and "not an unencrypted PEM private key" in err


def test_production_mode_fails_closed_without_admin_token(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVREG_ENV", "production")
    monkeypatch.delenv("PROVREG_ADMIN_TOKEN", raising=False)
    code, _, err = provreg(data_dir, "serve")
    assert code == 8 and "PROVREG_ADMIN_TOKEN is required" in err
    monkeypatch.setenv("PROVREG_ADMIN_TOKEN", "too-short")
    code, _, err = provreg(data_dir, "serve")
    assert code == 8 and "at least 32 characters" in err


def test_receipt_verify_revoke_rotate_and_audit(key: Path, data_dir: Path, originals: Path, tmp_path: Path) -> None:
    code, out, _ = provreg(data_dir, "register", str(originals / "coffee.jpg"), "--key", str(key), "--json")
    line = json_lines(out)[0]
    registration_id = line["registration_id"]
    saved = tmp_path / "register-line.json"
    saved.write_text(json.dumps(line))

    code, out, err = provreg(data_dir, "verify", str(saved))  # a whole register line: the receipt is unwrapped
    assert code == 0 and f"registration {registration_id} is entry" in out, err
    code, vkeys, _ = provreg(data_dir, "log-key", "show")
    vkey = vkeys.split()[0]
    code, out, _ = provreg(data_dir, "receipt", registration_id)
    fresh = tmp_path / "receipt.json"
    fresh.write_text(out)
    code, out, _ = provreg(tmp_path / "elsewhere", "verify", str(fresh), "--vkey", vkey, "--json")
    assert code == 0 and json_lines(out)[0]["ok"] is True
    tampered = tmp_path / "tampered.json"
    tampered.write_text(fresh.read_text().replace('"kind":"registration"', '"kind":"registrations"'))
    code, _, err = provreg(tmp_path / "elsewhere", "verify", str(tampered), "--vkey", vkey)
    assert code == 9 and "inclusion proof" in err

    code, out, err = provreg(data_dir, "revoke", registration_id, "--key", str(key), "--reason", "wrong picture")
    assert code == 0 and "revoked" in out, err
    # another publisher's later registration of the same bytes names the first; a check leads with the withdrawal
    agency_key = tmp_path / "agency.pem"
    code, _, err = provreg(data_dir, "publisher", "create", "Pool Agency", "--key-out", str(agency_key))
    assert code == 0, err
    code, out, err = provreg(data_dir, "register", str(originals / "coffee.jpg"), "--key", str(agency_key))
    assert code == 0 and f"first registered by Daily Planet on {datetime.now(UTC):%Y-%m-%d} ({registration_id}" in out
    code, out, _ = provreg(data_dir, "check", str(originals / "coffee.jpg"))
    assert out.startswith("withdrawn by its publisher (copy, withdrawn in log entry") and registration_id in out
    code, out, _ = provreg(data_dir, "check", str(originals / "coffee.jpg"), "--json")
    answer = json_lines(out)[0]
    assert (answer["verdict"], answer["withdrawn"], answer["matches"][0]["registration_id"]) == (
        "copy",
        True,
        registration_id,
    )
    assert answer["matches"][1]["prior_registrations"][0]["registration_id"] == registration_id

    new_key = tmp_path / "new.pem"
    code, out, err = provreg(data_dir, "publisher", "rotate-key", "--key", str(key), "--new-key-out", str(new_key))
    assert code == 0 and new_key.exists(), err
    code, _, err = provreg(data_dir, "register", str(originals / "astronaut.jpg"), "--key", str(key))
    assert code == 4 and "retired" in err
    code, _, err = provreg(data_dir, "register", str(originals / "astronaut.jpg"), "--key", str(new_key))
    assert code == 0, err

    code, out, _ = provreg(data_dir, "audit")
    assert code == 0 and out.startswith("OK:")
    with sqlite3.connect(data_dir / "registry.sqlite3") as db:
        db.execute(
            "UPDATE log_entry SET entry = replace(entry, '\"registration\"', '\"registratioN\"') WHERE log_index = 1"
        )
    code, _, err = provreg(data_dir, "audit")
    assert code == 10 and "entry 1" in err
    code, _, err = provreg(data_dir, "register", str(originals / "chelsea.jpg"), "--key", str(new_key))
    assert code == 10 and "refuses writes" in err


def test_operator_revokes_a_lost_key(key: Path, data_dir: Path, originals: Path, tmp_path: Path) -> None:
    code, out, err = provreg(data_dir, "register", str(originals / "coffee.jpg"), "--key", str(key), "--json")
    assert code == 0, err
    registered = json_lines(out)[0]
    with sqlite3.connect(data_dir / "registry.sqlite3") as db:
        publisher_id, key_id = db.execute(
            "SELECT publisher_id, key_id FROM registration WHERE id = ?", (registered["registration_id"],)
        ).fetchone()
    new_key = tmp_path / "replacement.pem"
    args = ["publisher", "revoke-lost-key", publisher_id, key_id, "--compromised-since", "2020-01-01T00:00:00Z"]
    code, _, err = provreg(data_dir, *args, "--reason", "laptop stolen")
    assert code == 3 and "new_public_key" in err  # the current key needs its replacement
    code, out, err = provreg(data_dir, *args, "--reason", "laptop stolen", "--new-key-out", str(new_key), "--json")
    assert code == 0, err
    assert json_lines(out)[0]["key_id"] == key_id and json_lines(out)[0]["key_file"] == str(new_key)
    code, out, _ = provreg(data_dir, "check", str(originals / "coffee.jpg"), "--json")
    assert json_lines(out)[0]["matches"][0]["key_compromised"] is True
    code, _, err = provreg(data_dir, "register", str(originals / "astronaut.jpg"), "--key", str(new_key))
    assert code == 0, err
    code, out, _ = provreg(data_dir, "audit")
    assert code == 0 and out.startswith("OK:")


def test_check_visualize_writes_the_picture(key: Path, data_dir: Path, originals: Path, tmp_path: Path) -> None:
    provreg(data_dir, "register", str(originals / "coffee.jpg"), "--key", str(key))
    doctored = photo("coffee")
    doctored.paste((250, 30, 30), (60, 60, 160, 130))
    query = tmp_path / "doctored.png"
    query.write_bytes(encode(doctored, "PNG"))
    out_dir = tmp_path / "pictures"
    code, out, err = provreg(data_dir, "check", str(query), "--visualize", str(out_dir))
    assert code == 0, err
    assert out.startswith("altered") and "altered region at x=" in out
    pictures = list(out_dir.glob("doctored--reg_*.png"))
    assert len(pictures) == 1 and pictures[0].read_bytes().startswith(b"\x89PNG") and str(pictures[0]) in out
    code, out, _ = provreg(data_dir, "check", str(query), "--visualize", str(out_dir), "--json")
    assert json_lines(out)[0]["pictures"] == [str(pictures[0])]
    code, _, _ = provreg(data_dir, "check", str(query), "--visualize", str(out_dir), "--fast")
    assert code == 2


READING_COMMANDS = [
    ("check", "{photo}"),
    ("lookup", "--alg", "sha256", "0" * 64),
    ("receipt", "reg_0123456789abcdef0123"),
    ("audit",),
    ("register", "{photo}", "--key", "{key}"),
    ("revoke", "reg_0123456789abcdef0123", "--key", "{key}"),
    ("publisher", "verify", "pub_0123456789abcdef0123"),
    ("log-key", "show"),
    ("log-key", "rotate"),
]


@pytest.mark.parametrize("command", READING_COMMANDS, ids=lambda command: " ".join(command[:2]))
def test_commands_refuse_a_missing_data_directory(command: tuple[str, ...], tmp_path: Path) -> None:
    query = tmp_path / "query.jpg"
    query.write_bytes(photo_bytes("coffee"))
    key = tmp_path / "some.pem"
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from registry.keys import save_private_key

    save_private_key(key, Ed25519PrivateKey.generate())
    missing = tmp_path / "not-here"
    code, out, err = provreg(missing, *(arg.format(photo=query, key=key) for arg in command))
    assert code == 8, (out, err)
    assert "--data-dir" in err and "PROVREG_DATA_DIR" in err and str(missing.absolute()) in err
    assert not missing.exists()


def test_init_creates_the_registry_that_reads_then_use(tmp_path: Path) -> None:
    data_dir, query = tmp_path / "fresh", tmp_path / "query.jpg"
    query.write_bytes(photo_bytes("coffee"))
    receipt = tmp_path / "receipt.json"
    receipt.write_text("{}")
    code, _, err = provreg(data_dir, "verify", str(receipt))  # no --vkey: it would read the registry's keys
    assert code == 8 and "--vkey" in err and not data_dir.exists()

    code, out, err = provreg(data_dir, "init")
    assert code == 0 and "Created an empty registry" in err
    vkey = out.strip()
    code, out, _ = provreg(data_dir, "init", "--json")
    assert code == 0 and json_lines(out)[0]["created"] is False and json_lines(out)[0]["keys"][0]["vkey"] == vkey
    code, out, _ = provreg(data_dir, "check", str(query))
    assert code == 0 and out.startswith("unregistered")


def test_help_and_version_import_nothing_heavy() -> None:
    """Fast start-up, checked by what is imported rather than by timing: the heavy modules load inside commands."""
    heavy = ("sqlalchemy", "sqlmodel", "faiss", "cv2", "numpy", "torch", "PIL", "registry", "fingerprint")
    script = (
        "import sys\nfrom api.cli import main\nsys.argv = ['provreg', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('LOADED', ' '.join(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    for args in (["--help"], ["--version"], ["check", "--help"], ["publisher", "--help"]):
        result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        loaded = set(result.stdout.rsplit("LOADED", 1)[1].split())
        assert not loaded & set(heavy), (args, loaded & set(heavy))
    assert (
        f"provreg {version('provenance-registry')}"
        in subprocess.run([PROVREG, "--version"], capture_output=True, text=True, timeout=120).stdout
    )


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found.extend(_commands(command, (*prefix, name)))
        else:
            found.append((*prefix, name))
    return found


def test_boolean_options_render_as_flags_in_help() -> None:
    commands = _commands(typer.main.get_command(app))
    assert ("hash",) in commands and ("init",) in commands
    for command in commands:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, command
        assert "<bool>" not in result.stdout and "--no-" not in result.stdout, (command, result.stdout)
    check_help = runner.invoke(app, ["check", "--help"]).stdout
    assert re.search(r"^\s+--json\s+machine-readable JSON", check_help, re.M), check_help
    assert re.search(r"^\s+--fast\s+global hashes only", check_help, re.M), check_help


def test_a_single_failing_file_exits_with_its_own_status(key: Path, data_dir: Path, tmp_path: Path) -> None:
    text = tmp_path / "readme.txt"
    text.write_text("hello")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(photo_bytes("coffee")[:2000])
    for command in (["check"], ["hash"], ["register", "--key", str(key)]):
        code, _, err = provreg(data_dir, *command, str(text))
        assert code == 3 and "readme.txt" in err, (command, err)
        code, _, _ = provreg(data_dir, *command, str(tmp_path / "missing.jpg"), str(broken))
        assert code == 3, command  # every file failed, all as invalid input
    code, _, err = provreg(data_dir, "check", str(tmp_path / "empty-folder-that-is-missing"))
    assert code == 3
    (tmp_path / "empty").mkdir()
    code, _, err = provreg(data_dir, "check", str(tmp_path / "empty"))
    assert code == 3 and "no image or video files" in err


def test_batch_exit_rule() -> None:
    assert batch_exit_code([], 2) == 0
    assert batch_exit_code([3], 1) == 3
    assert batch_exit_code([5, 5], 2) == 5
    assert batch_exit_code([3], 2) == 1  # some succeeded
    assert batch_exit_code([3, 5], 2) == 1  # all failed, for different reasons


def test_verify_prints_the_publisher_key_as_publisher_key_takes_it(
    key: Path, data_dir: Path, originals: Path, tmp_path: Path
) -> None:
    code, out, _ = provreg(data_dir, "register", str(originals / "coffee.jpg"), "--key", str(key), "--json")
    receipt = tmp_path / "receipt.json"
    receipt.write_text(out)
    code, _, err = provreg(data_dir, "verify", str(receipt))
    assert code == 0, err
    printed = re.search(r"--publisher-key (\S+)", err)
    assert printed, err
    code, out, err = provreg(data_dir, "verify", str(receipt), "--publisher-key", printed.group(1), "--json")
    assert code == 0, err
    assert json_lines(out)[0]["publisher_key"] == printed.group(1)
    other = base64.b64encode(bytes(32)).decode()
    code, _, err = provreg(data_dir, "verify", str(receipt), "--publisher-key", other)
    assert code == 9 and "different key" in err


def test_verify_refuses_hostile_receipts_with_its_exit_status_never_a_traceback(
    key: Path, data_dir: Path, originals: Path, tmp_path: Path
) -> None:
    """A receipt with a 5,000-digit integer was a ValueError traceback from `provreg verify`."""
    _, out, _ = provreg(data_dir, "register", str(originals / "coffee.jpg"), "--key", str(key), "--json")
    receipt = json.dumps(json_lines(out)[0]["receipt"])
    variants = hostile_receipts(receipt)
    variants["longer than any receipt"] = receipt + " " * 1024 * 1024
    for name, text in variants.items():
        path = tmp_path / "hostile.json"
        path.write_text(text)
        result = runner.invoke(app, ["--data-dir", str(data_dir), "verify", str(path)])
        assert result.exit_code == 9 and "error:" in result.stderr, (name, result.exception, result.stderr[-300:])


def test_hash_prints_what_lookup_finds(key: Path, data_dir: Path, originals: Path, tmp_path: Path) -> None:
    original = originals / "coffee.jpg"
    nowhere = tmp_path / "no-registry"
    code, out, err = provreg(nowhere, "hash", str(original), "--json")
    assert code == 0, err
    assert not nowhere.exists()  # hashing needs no registry
    line = json_lines(out)[0]
    assert set(line["hashes"]) == {"sha256", "pdq", "phash", "dhash"}
    assert line["hashes"]["sha256"] == hashlib.sha256(original.read_bytes()).hexdigest()
    assert line["media_type"] == "image/jpeg"
    code, out, _ = provreg(nowhere, "hash", str(original))
    assert code == 0 and all(f"{alg:<8}{value}" in out for alg, value in line["hashes"].items())

    code, out, _ = provreg(data_dir, "register", str(original), "--key", str(key), "--json")
    registration_id = json_lines(out)[0]["registration_id"]
    repost = tmp_path / "repost.jpg"
    repost.write_bytes(encode(photo("coffee").resize((200, 150)), "JPEG", quality=40))
    for alg in ("pdq", "phash", "dhash", "sha256"):
        code, value, err = provreg(nowhere, "hash", str(original), "--alg", alg)
        assert code == 0 and value.strip() == line["hashes"][alg], err
        code, out, _ = provreg(data_dir, "lookup", "--alg", alg, value.strip(), "--json")
        assert code == 0 and json_lines(out)[0]["matches"][0]["registration_id"] == registration_id
    code, value, _ = provreg(nowhere, "hash", str(repost), "--alg", "pdq")
    code, out, _ = provreg(data_dir, "lookup", "--alg", "pdq", value.strip())
    assert code == 0 and out.startswith(registration_id)
    code, _, err = provreg(nowhere, "hash", str(original), "--alg", "md5")
    assert code == 2 and "must be one of sha256, dhash, pdq, phash" in err
