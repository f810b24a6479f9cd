"""The web pages through the app itself (no browser): what they render, and what they refuse."""

from __future__ import annotations

import base64
import dataclasses
import html
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import PublisherHandle, encode, photo, photo_bytes, wait_ready
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from receipts import hostile_receipts
from videoclips import DOCTORED, ORIGINAL, Clip
from videoclips import encode as encode_clip

from api.app import create_app
from api.client import new_statement, sign_statement
from api.web import result, words
from api.web.pages import templates
from api.web.security import CONTENT_SECURITY_POLICY
from registry import matching, views
from registry.errors import NotFound
from registry.keys import raw_public_key
from registry.kinds.video.pictures import Pair, render_pair
from registry.log.keyring import LogKeyring
from registry.log.note import Verifier
from registry.log.receipts import verify_receipt
from registry.media import limits
from registry.runtime import Registry
from registry.settings import Settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        wait_ready(test_client)
        yield test_client


def make_newsroom(client: TestClient, name: str = "Daily Planet") -> PublisherHandle:
    key = Ed25519PrivateKey.generate()
    created = client.post(
        "/v1/publishers",
        headers={"Authorization": f"Bearer {client.app.state.admin_token}"},
        json={
            "name": name,
            "public_key": base64.b64encode(raw_public_key(key)).decode(),
            "verification": {"method": "dns-txt", "evidence": "TXT record", "verified_by": "ops"},
        },
    ).json()
    return PublisherHandle(created["id"], created["key_id"], key, created["api_key"])


def register(client: TestClient, newsroom: PublisherHandle, content: bytes) -> str:
    text, signature = newsroom.signed(content)
    response = client.post(
        "/v1/registrations",
        headers={"Authorization": f"Bearer {newsroom.api_key}"},
        files={"file": ("original.jpg", content, "image/jpeg")},
        data={"statement": text, "signature": signature},
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None, "the page has no CSRF field"
    return found.group(1)


def doctored_astronaut() -> bytes:
    doctored = photo("astronaut")
    doctored.paste(photo("coffee").resize((110, 90)), (40, 300))
    return encode(doctored, "JPEG", quality=90)


def test_pages_render_with_a_strict_policy_and_a_csrf_cookie(client: TestClient) -> None:
    for path in ("/", "/publishers", "/log", "/publish"):
        page = client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY and "script-src 'self'" in CONTENT_SECURITY_POLICY
        assert "<script>" not in page.text and " style=" not in page.text and "<style" not in page.text
        assert 'lang="en"' in page.text and 'name="viewport"' in page.text
    fresh = TestClient(client.app).get("/").headers["set-cookie"].lower()
    assert "httponly" in fresh and "samesite=strict" in fresh and "provreg_csrf=" in fresh
    assert client.get("/static/check.js").status_code == 200
    head = client.head("/")
    assert head.status_code == 200 and head.content == b"" and head.headers["content-type"].startswith("text/html")


def test_pages_stay_out_of_the_api_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert all(path.startswith(("/v1/", "/healthz", "/readyz", "/metrics")) for path in paths), sorted(paths)


def test_a_form_without_the_csrf_token_is_refused_in_a_sentence(client: TestClient) -> None:
    client.get("/")
    refused = client.post("/check", data={"csrf": "forged"}, files={"file": ("q.jpg", photo_bytes("rocket"))})
    assert refused.status_code == 403 and "did not come from this site" in refused.text
    stranger = TestClient(client.app)  # no CSRF cookie at all: a cross-site post
    token = csrf_of(client.get("/").text)
    refused = stranger.post("/check", data={"csrf": token}, files={"file": ("q.jpg", photo_bytes("rocket"))})
    assert refused.status_code == 403
    refused = client.post("/publish/sign-in", data={"csrf": "forged", "api_key": "x"})
    assert refused.status_code == 403 and "provreg_session" not in refused.headers.get("set-cookie", "")


def test_check_card_says_who_and_what_changed_and_the_evidence_verifies_offline(client: TestClient) -> None:
    newsroom = make_newsroom(client)
    registration_id = register(client, newsroom, photo_bytes("astronaut"))
    token = csrf_of(client.get("/").text)

    card = client.post(
        "/check",
        params={"partial": "true"},
        data={"csrf": token},
        files={"file": ("<i>doctored</i>.jpg", doctored_astronaut())},
    )
    assert card.status_code == 200 and "<html" not in card.text  # the card alone, for the page's script
    assert "&lt;i&gt;doctored&lt;/i&gt;.jpg" in card.text and "<i>" not in card.text
    today = words.day(datetime.now(UTC))
    assert f"A doctored version of an original registered by Daily Planet on {today}" in card.text
    assert registration_id in card.text and "verified" in card.text
    assert re.search(r"a \d+ by \d+ pixel area at \(\d+, \d+\)", card.text), "the changed region in words"
    assert card.text.count('<use class="layer-') == 3 and 'id="diff-1" checked' in card.text
    picture = re.search(r'href="(/v1/check/pictures/[^"]+)"', card.text)
    assert picture and client.get(picture.group(1)).content.startswith(b"\x89PNG")

    full = client.post("/check", data={"csrf": token}, files={"file": ("doctored.jpg", doctored_astronaut())})
    assert full.status_code == 200 and "<html" in full.text and "A doctored version" in full.text  # without script

    link = re.search(r'href="(/evidence/[^"]+)" download', card.text)
    assert link is not None
    package = client.get(link.group(1))
    assert package.status_code == 200 and "attachment" in package.headers["content-disposition"]
    text = package.text
    assert 'src="/' not in text and 'href="/' not in text, "self-contained: nothing fetched from the server"
    assert text.count("data:image/") >= 3  # the comparison, the checked file, the original
    assert "A doctored version of an original registered by Daily Planet" in text and "pixel area at" in text
    receipt = html.unescape(re.search(r'<pre class="data receipt">(.*?)</pre>', text, re.S).group(1))  # type: ignore[union-attr]
    vkeys = re.findall(r"--vkey '([^']+)'", text)
    assert vkeys, "the package says which key verifies the receipt"
    verified = verify_receipt(receipt, [Verifier.from_vkey(vkey) for vkey in vkeys])
    assert verified.entry["registration_id"] == registration_id
    assert f"at size {verified.checkpoint.size}" in text and "provreg verify receipt.json" in text
    assert 'download="receipt-' in text and "data:application/json;base64," in text


def test_the_card_names_the_first_registrant_and_leads_with_a_withdrawal(client: TestClient) -> None:
    """A later registration of someone else's content says who registered it first; a copy of a withdrawn original
    leads with the withdrawal, not with the green copy headline."""
    newsroom, copier = make_newsroom(client), make_newsroom(client, "Copy Desk")
    first = register(client, newsroom, photo_bytes("coffee"))
    later = register(client, copier, encode(photo("coffee"), "JPEG", quality=80))
    assert [p["registration_id"] for p in client.get(f"/v1/registrations/{later}").json()["prior_registrations"]] == [
        first
    ]
    token = csrf_of(client.get("/").text)

    def card_of(content: bytes) -> str:
        card = client.post(
            "/check", params={"partial": "true"}, data={"csrf": token}, files={"file": ("q.jpg", content)}
        )
        assert card.status_code == 200, card.text
        return html.unescape(card.text)

    today = words.day(datetime.now(UTC))
    card = card_of(encode(photo("coffee"), "JPEG", quality=80))  # the copy's own bytes: the first still leads
    assert 'class="card verdict-copy"' in card
    assert f"A copy of an original registered by Daily Planet on {today}</h2>" in card
    assert card.index(first) < card.index(later)
    assert f"First registered by Daily Planet on {today} (log entry" in card and f"{first}): this is a later" in card

    revocation = sign_statement(
        newsroom.private_key,
        new_statement(
            {
                "type": "content_revocation",
                "publisher_id": newsroom.id,
                "key_id": newsroom.key_id,
                "registration_id": first,
                "reason": "wrong file",
            }
        ),
    )
    revoked = client.post(
        f"/v1/registrations/{first}/revoke",
        headers={"Authorization": f"Bearer {newsroom.api_key}"},
        json=vars_of(revocation),
    )
    assert revoked.status_code == 200, revoked.text
    answer = client.post("/v1/check", files={"file": ("q.jpg", photo_bytes("coffee"))}).json()
    assert (answer["verdict"], answer["withdrawn"], answer["matches"][0]["registration_id"]) == ("copy", True, first)
    card = card_of(photo_bytes("coffee"))
    assert 'class="card verdict-withdrawn"' in card and 'class="card verdict-copy"' not in card
    headline = re.search(r'<h2 id="verdict">(.*?)</h2>', card, re.S).group(1)  # type: ignore[union-attr]
    assert headline.startswith("Withdrawn by its publisher: an exact copy of an original Daily Planet registered")
    assert headline.endswith("and has since withdrawn") and "A copy" not in headline
    assert f"{first}, withdrawn by its publisher</h3>" in card


def test_a_headline_on_a_later_registration_names_the_first() -> None:
    """When the best match is itself a later registration (its first registrant analysed otherwise, or left out of a
    database migrated with it), the headline still says who registered the content first."""
    prior = views.PriorRegistrationView(
        registration_id="reg_first",
        publisher="Daily Planet",
        publisher_id="pub_1",
        log_index=3,
        created_at=datetime(2026, 11, 3, tzinfo=UTC),
        exact=False,
    )
    match = views.MatchView(
        registration_id="reg_later",
        publisher="Copy Desk",
        publisher_id="pub_2",
        verified=True,
        distance=4,
        score=0.97,
        variant="identity",
        exact=True,
        log_index=9,
        prior_registrations=[prior],
    )
    view = views.CheckView(
        verdict="copy",
        sha256="0" * 64,
        media_type="image/jpeg",
        pdq="0" * 64,
        pdq_quality=100,
        matches=[match],
        warnings=[],
    )
    assert words.verdict_sentence(view, {}) == (
        "An exact copy of an original registered by Copy Desk, first registered by Daily Planet on 3 Nov 2026"
    )
    assert words.warnings_for(match) == [
        "First registered by Daily Planet on 3 Nov 2026 (log entry 3, reg_first): "
        "this is a later registration of the same content by Copy Desk."
    ]


def test_a_checked_video_links_each_span_to_its_frame_pair(client: TestClient) -> None:
    newsroom = make_newsroom(client)
    registration_id = register(client, newsroom, encode_clip(ORIGINAL))
    token = csrf_of(client.get("/").text)
    card = client.post(
        "/check", params={"partial": "true"}, data={"csrf": token}, files={"file": ("clip.mp4", encode_clip(DOCTORED))}
    )
    assert card.status_code == 200, card.text
    assert "A doctored version" in card.text and 'class="strip-altered strip-link"' in card.text
    link = re.search(r'class="span-link" id="span-1-1" href="(/frames/[^"]+)"', card.text)
    assert link is not None and link.group(1).endswith(f"/{registration_id}/1.png")
    pair = client.get(link.group(1))
    assert pair.status_code == 200 and pair.headers["content-type"] == "image/png"
    width, height = result.png_size(pair.content)
    assert width > 3 * 200 and height > 100, "three frames side by side"
    assert client.get(link.group(1).replace("/1.png", "/9.png")).status_code == 404
    assert client.get("/frames/" + "x" * 32 + f"/{registration_id}/1.png").status_code == 404


def test_a_span_of_footage_the_original_lacks_is_drawn_beside_an_empty_panel(settings: Settings) -> None:
    clip = encode_clip(Clip(duration=1.0, width=128, height=72))
    pair = Pair("reg_i", "0" * 64, "inserted", 0.5, None, [(10, 10, 40, 20)])
    png = render_pair(clip, Path("/nowhere/original.mp4"), limits(settings), pair)  # the original is never read
    assert result.png_size(png)[0] == 3 * 128 + 4 * 8
    late = dataclasses.replace(pair, query_t=30.0)
    with pytest.raises(NotFound, match="cannot be drawn"):
        render_pair(clip, Path("/nowhere/original.mp4"), limits(settings), late)


def test_check_errors_are_sentences_on_the_page(client: TestClient) -> None:
    token = csrf_of(client.get("/").text)
    garbage = client.post("/check", data={"csrf": token}, files={"file": ("broken.jpg", b"\xff\xd8\xff\x00garbage")})
    assert garbage.status_code == 422 and 'role="alert"' in garbage.text and "<html" in garbage.text
    nothing = client.post("/check", data={"csrf": token})
    assert nothing.status_code == 422 and "Choose a picture to check first." in nothing.text
    unknown = client.post(
        "/check", params={"partial": "true"}, data={"csrf": token}, files={"file": ("r.jpg", photo_bytes("rocket"))}
    )
    assert "Not registered: this file matches no original in the registry" in unknown.text


def test_directory_and_log_page_verify_a_pasted_receipt(client: TestClient) -> None:
    newsroom = make_newsroom(client, "Office of the Mayor")
    registration_id = register(client, newsroom, photo_bytes("coffee"))
    directory = client.get("/publishers").text
    assert "Office of the Mayor" in directory and "dns-txt" in directory and "no end date" in directory

    log = client.get("/log")
    assert client.get("/v1/log/checkpoint").text.splitlines()[0] in log.text
    vkeys = [key["vkey"] for key in client.get("/v1/log/key").json()["keys"]]
    assert all(f'data-vkey="{vkey}"' in log.text for vkey in vkeys), "the in-browser check trusts the listed keys"
    assert '"registration": "provreg/registration/v1\\n"' in html.unescape(log.text)
    assert 'src="/static/receipt.js"' in log.text and client.get("/static/receipt.js").status_code == 200
    receipt = client.get(f"/v1/registrations/{registration_id}/receipt").text
    ok = client.post("/log/verify", data={"csrf": csrf_of(log.text), "receipt": receipt})
    assert ok.status_code == 200 and "The receipt is valid" in ok.text and registration_id in ok.text
    tampered = receipt.replace('"log_index":', '"log_index": 0, "x":', 1)
    bad = client.post("/log/verify", data={"csrf": csrf_of(log.text), "receipt": tampered})
    assert bad.status_code == 422 and 'role="alert"' in bad.text
    assert tampered in html.unescape(bad.text), "what the user pasted is kept"
    # A 5,000-digit integer anywhere (the proof's index, a wrapper around the receipt) was a 500.
    for name, hostile in hostile_receipts(receipt).items():
        refused = client.post("/log/verify", data={"csrf": csrf_of(log.text), "receipt": hostile})
        assert refused.status_code == 422 and 'role="alert"' in refused.text, name


def test_publisher_signs_in_registers_a_statement_signed_elsewhere_and_revokes(client: TestClient) -> None:
    newsroom = make_newsroom(client)
    token = csrf_of(client.get("/publish").text)
    wrong = client.post("/publish/sign-in", data={"csrf": token, "api_key": "not-a-key"})
    assert wrong.status_code == 401 and "not-a-key" not in wrong.text and 'role="alert"' in wrong.text

    signed_in = client.post(
        "/publish/sign-in", data={"csrf": token, "api_key": newsroom.api_key}, follow_redirects=False
    )
    assert signed_in.status_code == 303
    session_cookie = signed_in.headers["set-cookie"].lower()
    assert "provreg_session=" in session_cookie and "httponly" in session_cookie and "samesite=strict" in session_cookie
    desk = client.get("/publish").text
    assert newsroom.id in desk and newsroom.key_id in desk and 'id="key-file"' in desk

    content = photo_bytes("chelsea")
    text, signature = newsroom.signed(content)
    registered = client.post(
        "/publish/register",
        data={"csrf": token, "statement": text, "signature": signature},
        files={"file": ("chelsea.jpg", content, "image/jpeg")},
    )
    assert registered.status_code == 201, registered.text
    registration_id = re.search(r"Registered (reg_\w+)", registered.text).group(1)  # type: ignore[union-attr]
    assert client.get(f"/v1/registrations/{registration_id}").json()["publisher"]["id"] == newsroom.id

    again = client.post(
        "/publish/register",
        data={"csrf": token, "statement": text, "signature": signature},
        files={"file": ("chelsea.jpg", content, "image/jpeg")},
    )
    assert again.status_code == 409 and text in html.unescape(again.text)  # kept for another try

    revocation = sign_statement(
        newsroom.private_key,
        new_statement(
            {
                "type": "content_revocation",
                "publisher_id": newsroom.id,
                "key_id": newsroom.key_id,
                "registration_id": registration_id,
                "reason": "wrong file",
            }
        ),
    )
    revoked = client.post(
        "/publish/revoke",
        data={"csrf": token, "registration_id": registration_id, **vars_of(revocation)},
    )
    assert revoked.status_code == 200 and f"Withdrew {registration_id}" in revoked.text and "withdrawn" in revoked.text
    assert client.get(f"/v1/registrations/{registration_id}").json()["revoked"] is True

    client.post("/publish/sign-out", data={"csrf": token})
    assert 'id="api-key"' in client.get("/publish").text
    forged = TestClient(client.app, cookies={"provreg_session": f"{newsroom.id}.9999999999.forged"})
    assert 'id="api-key"' in forged.get("/publish").text


def vars_of(signed: object) -> dict[str, str]:
    return {"statement": signed.text, "signature": signed.signature}  # type: ignore[attr-defined]


def test_transform_in_words() -> None:
    rect = views.RectView
    transform = views.TransformView(
        crop=rect(x=0, y=0, w=300, h=500),
        cropped=True,
        content=rect(x=0, y=0, w=300, h=500),
        framed=False,
        scale=0.5,
        aspect_change=1.0,
        rotation=0.0,
        flipped=True,
        perspective=False,
        photometric_change=False,
        grayscale=True,
    )
    match = views.MatchView(
        registration_id="reg_1",
        publisher="Daily Planet",
        publisher_id="pub_1",
        verified=False,
        distance=40,
        score=0.7,
        variant="identity",
        exact=False,
        key_compromised=True,
        transform=transform,
    )
    original = SimpleNamespace(  # the two parts of a RegistrationView the words read
        fingerprints=SimpleNamespace(width=500, height=500), content=SimpleNamespace(media_type="image/png")
    )
    said = words.transform_words(match, original, "image/jpeg")  # type: ignore[arg-type]
    assert said == [
        "cropped to the left 60%",
        "resized to 50%",
        "mirrored",
        "turned black and white",
        "re-encoded as image/jpeg",
    ]
    warnings = words.warnings_for(match)
    assert any("not a currently verified" in w for w in warnings) and any("compromised" in w for w in warnings)


def test_the_card_shows_video_spans_and_the_classifier_when_a_check_carries_them() -> None:
    """A video match's segments and spans, and the detector's assessment, render from the check's own views."""
    match = views.MatchView(
        registration_id="reg_v",
        publisher="Daily Planet",
        publisher_id="pub_1",
        verified=True,
        distance=10,
        score=0.9,
        variant="identity",
        exact=False,
        verdict="altered",
        segments=[
            views.SegmentView(
                start=0.0,
                end=9.0,
                original_start=30.0,
                original_end=39.0,
                speed=1.0,
                matched_share=0.8,
                mirrored=False,
                portrait=False,
            )
        ],
        spans=[
            views.SpanView(
                kind="altered", start=1.5, end=4.0, original_start=31.5, original_end=34.0, distance=70, frame=2.0
            )
        ],
        audio=views.AudioView(
            similarity=0.45,
            query_has_audio=True,
            matched_by="frames",
            spans=[
                views.AudioSpanView(kind="audio_altered", start=5.0, end=7.0, original_start=35.0, original_end=37.0)
            ],
        ),
    )
    view = views.CheckView(
        verdict="altered",
        sha256="0" * 64,
        media_type="video/mp4",
        pdq="0" * 64,
        pdq_quality=100,
        matches=[match],
        warnings=[],
        assessment=views.AssessmentView(
            verdict="likely_manipulated",
            p_manipulated=0.83,
            interval=[0.7, 0.9],
            signals=[
                views.SignalView(name="noise_inconsistency", score=0.2, fired=True, reason="face boundary blending")
            ],
            faces=[],
            face_detector="blazeface",
            ood_flags=[],
            model_version="m1",
            reason="The model is above its threshold.",
            caveat="A classifier can be wrong.",
            heatmap=views.HeatmapView(id="heat", expires_at=datetime.now(UTC), url="/v1/check/pictures/heat"),
        ),
    )
    checked = result.CheckResult(view=view, file_name="clip.mp4", query=b"", checked_at=datetime.now(UTC))
    card = templates.get_template("_card.html").render(checked=checked)
    assert "0.0 to 9.0 s: the original's 30.0 to 39.0 s" in card and "1.5 to 4.0 s: altered" in card
    assert "5.0 to 7.0 s: the sound is not the original" in card
    assert "83% likely manipulated" in card and "face boundary blending" in card
    assert "A classifier can be wrong." in card
    assert 'src="/v1/check/pictures/heat"' in card
    assert 'class="span-link"' not in card, "no frame pair without a kept check"
    linked = dataclasses.replace(checked, frames_id="f" * 32, heatmap=b"\x89PNG-heat")
    card = templates.get_template("_card.html").render(checked=linked)
    assert 'href="/frames/ffffffffffffffffffffffffffffffff/reg_v/1.png"' in card and 'data-span="span-1-1"' in card
    package = templates.get_template("_card.html").render(checked=linked, embedded=True)
    assert "/v1/check/pictures/heat" not in package and "/frames/" not in package, "the package links nowhere"
    assert 'src="data:image/png;base64,iVBORy1oZWF0"' in package
    plain = templates.get_template("_card.html").render(
        checked=result.CheckResult(
            view=views.CheckView(**{**view.model_dump(exclude={"assessment", "matches"}), "matches": []}),
            file_name="clip.mp4",
            query=b"",
            checked_at=datetime.now(UTC),
        )
    )
    assert "classifier" not in plain and "timeline" not in plain.lower()


def test_a_receipt_that_does_not_verify_is_said_in_the_package_and_the_check_still_answers(
    registry: Registry, register: Callable[[bytes], str], tmp_path: Path
) -> None:
    registration_id = register(photo_bytes("astronaut"))
    # The same store seen with another registry's log key: every receipt fails its checkpoint signature.
    stranger = dataclasses.replace(registry, keyring=LogKeyring.open(tmp_path / "other-keys", registry.keyring.origin))
    with registry.session() as session:
        view = matching.check(session=session, registry=registry, content=photo_bytes("astronaut"))
        checked = result.gather(
            session=session, registry=stranger, view=view, query=b"", file_name="a.jpg", checked_at=datetime.now(UTC)
        )
    assert checked.registrations[registration_id] and registration_id not in checked.evidence
    assert len(checked.problems) == 1 and checked.problems[0].startswith(f"The receipt of {registration_id} did not")
    package = templates.get_template("evidence.html").render(checked=checked, style="")
    assert f"The receipt of {registration_id} did not verify" in package
