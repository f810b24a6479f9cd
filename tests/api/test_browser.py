"""The pages in a real browser: Debian's chromium driven by Playwright against `provreg serve` in a subprocess.

Nothing is downloaded at run time: Playwright drives the system browser (`PROVREG_CHROMIUM`, default
/usr/bin/chromium). Without one the tests skip, except in CI (`CI` set), where a missing browser is a failure.
Every page counts Content-Security-Policy violations; there must be none. With `PROVREG_SCREENSHOT_DIR` set, the
result card is saved there as check-card.png (the README's screenshot).
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import httpx2 as httpx
import numpy as np
import pytest
from audioclips import CONTAINERS, RATE, add_sound, mux, sound_file, speech, write_sound
from conftest import (
    PROVREG,
    PublisherHandle,
    create_publisher_over_http,
    encode,
    photo,
    photo_bytes,
    running_server,
)
from videoclips import DOCTORED, ORIGINAL, Clip
from videoclips import encode as encode_clip

from api.client import HttpTransport
from fingerprint.kinds import sniff
from registry.keys import generate_private_key, save_private_key
from registry.kinds import ADAPTERS

CHROMIUM = os.environ.get("PROVREG_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
TOKEN = "browser-test-admin-token-" + "b" * 32
LONG_SECONDS = 8  # a timed file longer than this registers as a job (PROVREG_SYNC_VIDEO_SECONDS)
# Collected by a script the browser runs before each page's own, outside the page's CSP.
COUNT_VIOLATIONS = (
    "window.cspViolations = [];"
    "document.addEventListener('securitypolicyviolation', e => window.cspViolations.push(e.violatedDirective));"
)

pytestmark = pytest.mark.slow

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"CI needs a browser for the page tests: {CHROMIUM} is missing (apt-get install chromium)")
    pytest.skip(f"no browser at {CHROMIUM}", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("browser") / "data"
    env = {"PROVREG_ADMIN_TOKEN": TOKEN, "PROVREG_SYNC_VIDEO_SECONDS": str(LONG_SECONDS)}
    with running_server(data_dir, env) as (base, _process):
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1000, "height": 900})
    context.set_default_timeout(120_000)  # Playwright's 30 s is a speed test on a machine with both cores busy
    context.add_init_script(COUNT_VIOLATIONS)
    opened = context.new_page()
    yield opened
    assert opened.evaluate("window.cspViolations") == [], "the page broke its own Content-Security-Policy"
    context.close()


@pytest.fixture(scope="module")
def newsroom(server: str) -> PublisherHandle:
    return create_publisher_over_http(server, TOKEN, "Daily Planet")


@pytest.fixture(scope="module")
def original(server: str, newsroom: PublisherHandle) -> str:
    with HttpTransport.connect(server, newsroom.api_key) as transport:
        return newsroom.client(transport).register(photo_bytes("astronaut"), {"title": "Moonwalk"}).id


def doctored(tmp_path: Path) -> Path:
    picture = photo("astronaut")
    picture.paste(photo("coffee").resize((110, 90)), (40, 300))
    path = tmp_path / "doctored.jpg"
    path.write_bytes(encode(picture, "JPEG", quality=90))
    return path


def test_check_an_altered_photo_see_the_regions_and_verify_the_evidence_offline(
    page: Any, server: str, original: str, tmp_path: Path
) -> None:
    page.goto(server + "/")
    page.set_input_files("#check-file", str(doctored(tmp_path)))
    verdict = page.locator("#verdict")
    verdict.wait_for(timeout=60_000)
    assert verdict.inner_text().startswith("A doctored version of an original registered by Daily Planet on ")
    assert page.evaluate("document.activeElement.id") == "card", "focus moves to the result"
    assert "pixel area at" in page.locator("ol.regions").inner_text()
    regions, aligned = page.locator("use.layer-diff"), page.locator("use.layer-aligned")
    assert regions.is_visible() and not aligned.is_visible()
    page.get_by_label("Show the changed regions").uncheck()
    page.get_by_label("Show this file, aligned onto the original").check()
    assert not regions.is_visible() and aligned.is_visible()
    page.get_by_label("Show the changed regions").check()
    assert page.locator("svg.stage").evaluate("svg => svg.getBoundingClientRect().height") > 100, "pictures load"
    if os.environ.get("PROVREG_SCREENSHOT_DIR"):
        page.locator("#card").screenshot(path=str(Path(os.environ["PROVREG_SCREENSHOT_DIR"]) / "check-card.png"))

    with page.expect_download() as downloading:
        page.click("#evidence-link")
    package = Path(downloading.value.path()).read_text()
    receipt = re.search(r'<pre class="data receipt">(.*?)</pre>', package, re.S)
    vkeys = re.findall(r"--vkey '([^']+)'", package)
    assert receipt is not None and vkeys and original in package
    (tmp_path / "receipt.json").write_text(html.unescape(receipt.group(1)))
    offline = subprocess.run(
        [PROVREG, "verify", "receipt.json", *[f"--vkey={vkey}" for vkey in vkeys]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PROVREG_DATA_DIR": str(tmp_path / "no-registry-here")},
    )
    assert offline.returncode == 0 and offline.stdout.startswith("OK: registration " + original), offline.stderr


def test_a_doctored_video_shows_its_timeline_and_the_frame_pair_of_the_altered_span(
    page: Any, server: str, newsroom: PublisherHandle, tmp_path: Path
) -> None:
    with HttpTransport.connect(server, newsroom.api_key) as transport:
        newsroom.client(transport).register(encode_clip(ORIGINAL), {"title": "Launch footage"})
    clip = tmp_path / "doctored.mp4"
    clip.write_bytes(encode_clip(DOCTORED))
    page.goto(server + "/")
    page.set_input_files("#check-file", str(clip))
    page.locator("#verdict").wait_for(timeout=120_000)
    assert page.locator("#verdict").inner_text().startswith("A doctored version")
    assert page.locator("svg.strip rect.strip-altered").count() == 1
    span = page.get_by_role("link", name=re.compile(r"altered in \d+ region"))
    caption = page.locator("figure.pair figcaption")
    page.locator("svg.strip rect.strip-link").click()  # the strip's span, by mouse, opens the same pair
    sync_api.expect(caption).to_have_text(re.compile(r"^Original \| this file \| changed regions"), timeout=60_000)
    assert span.get_attribute("aria-current") == "true"
    page.locator("figure.pair").evaluate("figure => { figure.hidden = true; }")
    span.focus()
    page.keyboard.press("Enter")  # from the keyboard: the list is the accessible form of the strip
    sync_api.expect(caption).to_have_text(re.compile(r"^Original \| this file \| changed regions"), timeout=60_000)
    assert page.evaluate("document.activeElement.id") == "pair-1"
    pair = page.locator("figure.pair img")
    assert "altered" in (pair.get_attribute("alt") or "") and pair.evaluate("img => img.naturalWidth") > 600
    assert page.url == server + "/", "the pair opens in place"


def test_the_check_page_works_from_the_keyboard_alone(page: Any, server: str, original: str, tmp_path: Path) -> None:
    # Playwright turns on file-chooser interception without waiting for the browser, when the first listener is
    # added: added only just before the key press, the dialog could open natively first (and never be seen) on a busy
    # machine. Listening from before the page loads makes interception certain by the time the key is pressed.
    page.on("filechooser", lambda _chooser: None)
    page.goto(server + "/")
    reached = []
    for _ in range(12):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))
        if reached[-1] == "check-file":
            break
    assert reached[:2] == ["Skip to the content", "provreg"] and reached[-1] == "check-file", reached
    with page.expect_file_chooser(timeout=120_000) as choosing:  # it opens at once; the bound only stops a hang
        page.keyboard.press("Space")
    choosing.value.set_files(str(doctored(tmp_path)))
    page.locator("#verdict").wait_for(timeout=60_000)
    page.keyboard.press("Tab")  # from the focused card to the first thing in it: the evidence link
    assert page.evaluate("document.activeElement.id") == "evidence-link"


def at_the_desk(page: Any, server: str, newsroom: PublisherHandle, key_file: Path) -> None:
    """Signed in on /publish with the key file chosen."""
    save_private_key(key_file, newsroom.private_key)
    page.goto(server + "/publish")
    page.get_by_label("API key").fill(newsroom.api_key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Key file").set_input_files(str(key_file))
    page.get_by_text(f"Ready to sign with {key_file.name}").wait_for()


def register_on_the_page(page: Any, path: Path, title: str) -> str:
    """Register `path` from the desk; the id the desk says it registered under."""
    page.get_by_label("The original's file").set_input_files(str(path))
    page.get_by_label("Title (signed with it)").fill(title)
    page.get_by_role("button", name="Sign and register").click()
    done = page.locator("#registered")
    done.wait_for(timeout=120_000)
    return re.search(r"reg_\w+", done.inner_text()).group(0)  # type: ignore[union-attr]


def test_register_with_a_signature_made_in_the_browser_then_withdraw_it(
    page: Any, server: str, newsroom: PublisherHandle, tmp_path: Path
) -> None:
    key_file = tmp_path / "planet.pem"
    at_the_desk(page, server, newsroom, key_file)
    original = tmp_path / "rocket.jpg"
    original.write_bytes(photo_bytes("rocket"))
    registration_id = register_on_the_page(page, original, "Launch «day» ünïcode")
    registration = httpx.get(f"{server}/v1/registrations/{registration_id}").json()
    assert (
        registration["publisher"]["id"] == newsroom.id and registration["metadata"]["title"] == "Launch «day» ünïcode"
    )

    row = page.locator("tr", has=page.locator(f"text={registration_id}"))
    row.get_by_label("Reason").fill("wrong picture")
    asked: list[str] = []

    def answer(dialog: Any, accept: bool) -> None:
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, False))
    row.get_by_role("button", name="Withdraw").click()
    sync_api.expect(page.locator("#registered")).to_be_visible()  # still the same page: nothing was sent
    assert asked and registration_id in asked[0] and "Launch «day» ünïcode" in asked[0], asked
    assert httpx.get(f"{server}/v1/registrations/{registration_id}").json()["revoked"] is False

    page.once("dialog", lambda dialog: answer(dialog, True))
    row.get_by_role("button", name="Withdraw").click()
    page.locator("#revoked").wait_for(timeout=30_000)
    assert len(asked) == 2 and httpx.get(f"{server}/v1/registrations/{registration_id}").json()["revoked"] is True
    row = page.locator("tr", has=page.locator(f"text={registration_id}"))
    assert "withdrawn" in row.inner_text()

    page.get_by_label("The original's file").set_input_files(str(original))  # a new page: the key is not kept
    page.get_by_role("button", name="Sign and register").click()
    assert "Choose your key file first" in page.locator("#key-status").inner_text()
    assert page.evaluate("document.activeElement.id") == "key-file"
    other = tmp_path / "other.pem"
    save_private_key(other, generate_private_key())
    page.get_by_label("Key file").set_input_files(str(other))
    page.get_by_text("other.pem is not your current key").wait_for()


def test_register_footage_and_sound_from_the_desk_and_follow_a_long_one(
    page: Any, server: str, newsroom: PublisherHandle, tmp_path: Path
) -> None:
    at_the_desk(page, server, newsroom, tmp_path / "planet.pem")
    offered = set((page.locator("#original").get_attribute("accept") or "").split(","))
    assert all(kind.accepts in offered and set(kind.file_suffixes) <= offered for kind in ADAPTERS.values())

    footage = tmp_path / "launch.mp4"
    footage.write_bytes(encode_clip(Clip(duration=2.0, width=160, height=90)))
    register_on_the_page(page, footage, "Launch footage")
    shown = page.locator("#registered").inner_text()
    assert "video (video/mp4" in shown and "160 \u00d7 90 pixels" in shown and "Frame rate" in shown, shown
    assert page.locator("#registered img, #registered video").count() == 0

    interview = tmp_path / "interview.opus"  # longer than LONG_SECONDS: a job, which the desk follows
    interview.write_bytes(sound_file(speech(LONG_SECONDS + 2.0, seed=8), "opus"))
    page.get_by_label("The original's file").set_input_files(str(interview))
    page.get_by_label("Title (signed with it)").fill("Interview")
    page.get_by_role("button", name="Sign and register").click()
    page.locator("#job").wait_for(timeout=120_000)  # shown at least until the first poll, a second later
    assert "Registering in the background" in page.locator("#job").inner_text()
    page.locator("#registered").wait_for(timeout=120_000)
    shown = page.locator("#registered").inner_text()
    assert "sound (audio/ogg" in shown and f"{LONG_SECONDS + 2.0:.1f} s" in shown and "opus" in shown, shown
    assert page.evaluate("document.activeElement.id") == "registered"
    assert page.locator("#own tr", has_text="Interview").count() == 1, "the list shows it without a reload"


def tiny_video(container: str) -> bytes:
    """Five 64x48 H.264 frames in `container`."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as out:
        stream = out.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 30 * index, np.uint8), format="rgb24")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buffer.getvalue()


def sound_only_mp4(samples: np.ndarray) -> bytes:
    """AAC in a plain `isom` MP4 with its movie box at the end, as ffmpeg writes one: sound, by its tracks alone."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as out:
        write_sound(out, add_sound(out, codec="aac", rate=RATE), samples, rate=RATE)
    return buffer.getvalue()


def test_the_desk_signs_the_media_type_the_registry_sniffs(page: Any, server: str) -> None:
    voice = speech(1.0, seed=3)
    samples = {
        "jpeg": photo_bytes("rocket"),
        "png": encode(photo("rocket").resize((64, 48)), "PNG"),
        "webp": encode(photo("rocket"), "WEBP"),
        "mp4": encode_clip(Clip(duration=1.0, width=64, height=48)),
        "webm": encode_clip(Clip(duration=1.0, width=64, height=48, container="webm")),
        "mov": tiny_video("mov"),
        "matroska": tiny_video("matroska"),
        "mp4 with sound": mux(voice, container="mp4"),
        "mp4 of sound alone": sound_only_mp4(voice),
        **{container: sound_file(voice, container) for container in CONTAINERS},
        "text": b"not media at all",
    }
    page.goto(server + "/")
    page.add_script_tag(url="/static/sniff.js")
    told = page.evaluate(
        "samples => Object.fromEntries(Object.entries(samples).map(([name, text]) => [name,"
        " window.provregMediaType(Uint8Array.from(atob(text), (c) => c.charCodeAt(0)), 'from/the-browser')]))",
        {name: base64.b64encode(data).decode() for name, data in samples.items()},
    )
    assert told == {name: sniff(data) or "from/the-browser" for name, data in samples.items()}


def test_directory_and_log_pages(page: Any, server: str, original: str) -> None:
    page.goto(server + "/publishers")
    assert "Daily Planet" in page.locator("table").inner_text()
    page.goto(server + "/log")
    receipt = httpx.get(f"{server}/v1/registrations/{original}/receipt").text
    page.get_by_label("Paste the receipt").fill(receipt)
    page.get_by_role("button", name="Verify in this browser").click()
    verdict = page.locator("#browser-result")
    expect = f"Verified in this browser: registration {original} is entry "
    sync_api.expect(verdict).to_have_class("ok")
    assert verdict.inner_text().startswith(expect) and page.evaluate("document.activeElement.id") == "browser-result"
    entry = json.loads(receipt)["entry"]
    tampered = receipt.replace(entry["registration_id"], entry["registration_id"][:-1] + "x", 1)
    signature = json.loads(receipt)["proof"].rstrip("\n").rsplit(" ", 1)[1]  # the checkpoint's, after its key ID
    chunk = signature[12:20]
    forged = receipt.replace(chunk, "AAAAAAAA" if chunk != "AAAAAAAA" else "BBBBBBBB", 1)
    assert forged != receipt
    for bad, reason in ((tampered, "the inclusion proof does not lead"), (forged, "does not verify")):
        page.get_by_label("Paste the receipt").fill(bad)
        page.get_by_role("button", name="Verify in this browser").click()
        sync_api.expect(verdict).to_have_text(re.compile("^This receipt does not verify: .*" + reason))
    page.get_by_label("Paste the receipt").fill(receipt)
    page.get_by_role("button", name="Verify on the server").click()  # the fallback: the same verdict, server-side
    assert "The receipt is valid" in page.locator("#verified").inner_text()
