"""The media-kind seam: kind-neutral views (primary hash, typed facts, null PDQ for a kind without it), one adapter
per kind, and no module of the check path that names a kind."""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import photo_bytes
from videoclips import EXCERPT, ORIGINAL
from videoclips import encode as encode_clip

from fingerprint.algorithms import CANONICAL, HashRecord
from fingerprint.compare import ReferenceSource
from fingerprint.hashes import HashValue
from fingerprint.kinds import KINDS, DecodeLimits, Fingerprint, MatchCandidate, MediaKind
from registry import matching, service, views
from registry.kinds import ADAPTERS, KindAdapter, adapter
from registry.render import KindFields, check_view
from registry.runtime import Registry

ROOT = Path(__file__).resolve().parents[2]
# The modules of the check path that ask the query's adapter instead of naming a kind.
KIND_NEUTRAL = [
    "registry/matching.py",
    "registry/service.py",
    "registry/render.py",
    "registry/assessment.py",
    "registry/precedence.py",
    "registry/index/__init__.py",
    "registry/index/faiss.py",
    "registry/index/pgvector.py",
    *(str(path.relative_to(ROOT)) for path in sorted((ROOT / "api").rglob("*.py"))),
]
KIND_NAMES = set(KINDS) | {"photo", "audio", "sound"}


def _check(registry: Registry, content: bytes, **kwargs: object) -> views.CheckView:
    with registry.session() as session:
        return matching.check(session=session, registry=registry, content=content, **kwargs)  # type: ignore[arg-type]


def test_every_kind_has_an_adapter_of_its_name() -> None:
    assert set(ADAPTERS) == set(KINDS)
    assert all(adapter(name).name == name for name in KINDS)


@pytest.mark.parametrize("path", KIND_NEUTRAL)
def test_the_check_path_names_no_kind(path: str) -> None:
    """No string naming a kind (a comparison, a key), no import of a kind's own module: the seam is the adapter."""
    tree = ast.parse((ROOT / path).read_text())
    documented = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    named = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and id(node) not in documented and node.value in KIND_NAMES
    ]
    imported = [
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module is not None
        and any(f".{kind}" in node.module for kind in (*KINDS, "video", "audio"))
    ]
    assert named == [] and imported == [], (named, imported)


def test_an_image_check_names_its_primary_hash_and_facts(registry: Registry, register: Callable[[bytes], str]) -> None:
    content = photo_bytes("astronaut")
    registration_id = register(content)
    view = _check(registry, content)
    assert view.primary_hash == views.PrimaryHashView(algorithm="pdq", value=view.pdq, quality=view.pdq_quality)
    assert view.facts is not None and view.facts.kind == "image"
    shown = view.model_dump(mode="json")["facts"]
    assert set(shown) == {"kind", "width", "height", "trim_box"} and shown["width"] > 0
    # the registration's view says the same, beside its picture fields
    with registry.session() as session:
        fingerprints = service.get_registration(session=session, registration_id=registration_id).fingerprints
    assert fingerprints.primary_hash == views.PrimaryHashView(
        algorithm="pdq", value=fingerprints.pdq, quality=fingerprints.pdq_quality
    )
    assert fingerprints.facts is not None and fingerprints.facts.model_dump() == view.facts.model_dump()
    # a check of hashes alone has the primary hash, and no facts: there is no file to measure
    with registry.session() as session:
        hashed = matching.check_hashes(session=session, registry=registry, hashes={"pdq": view.pdq or ""})
    assert hashed.primary_hash is not None and hashed.primary_hash.value == view.pdq and hashed.facts is None


@pytest.mark.slow  # registers and checks the 20 s test footage: about 4 s of CPU
def test_a_video_check_has_its_own_facts_block(registry: Registry, register: Callable[[bytes], str]) -> None:
    register(encode_clip(ORIGINAL))
    view = _check(registry, encode_clip(EXCERPT))
    assert view.verdict == "copy" and view.primary_hash is not None and view.primary_hash.algorithm == "pdq"
    facts = view.model_dump(mode="json")["facts"]
    assert facts["kind"] == "video" and abs(facts["duration"] - 6.0) < 0.2 and facts["frames"] > 0
    # kept and read back (the page's kept checks), the block keeps every field of its kind
    again = views.CheckView.model_validate(json.loads(view.model_dump_json()))
    assert again.model_dump(mode="json")["facts"] == facts


def test_a_kind_without_pdq_gives_null_pdq_fields() -> None:
    """The JSON of a kind that has no PDQ: `pdq` and `pdq_quality` null, its own primary hash and facts."""
    fp = Fingerprint(kind="sound", sha256="0" * 64, media_type="audio/mpeg", size=1, hashes=())
    fields = KindFields(
        primary_hash=views.PrimaryHashView(algorithm="landmarks", value="ab"),
        facts=views.KindFactsView.model_validate({"kind": "sound", "duration": 12.5}),
    )
    shown = check_view(fp, fields, [], [], 10).model_dump(mode="json")
    assert shown["pdq"] is None and shown["pdq_quality"] is None and shown["verdict"] == "unregistered"
    assert shown["primary_hash"] == {"algorithm": "landmarks", "value": "ab", "quality": None}
    assert shown["facts"] == {"kind": "sound", "duration": 12.5}


@pytest.mark.slow  # registers the 20 s test footage
def test_the_match_index_keeps_the_kinds_side_indexes(registry: Registry, register: Callable[[bytes], str]) -> None:
    register(encode_clip(ORIGINAL))
    frames = registry.index.side("video")
    assert frames is not None and registry.index.side("image") is None
    assert not hasattr(registry.index, "search_frames")
    assert registry.index.stats()["hashes_pdq_frame"] == frames.stats()["hashes_pdq_frame"] > 0


def test_exact_transform_is_the_identity_for_pictures() -> None:
    """A kind without geometry (sound) has none: its byte-identical copy shows no transform."""
    assert adapter("sound").exact_transform({"duration": 1.0}) is None
    facts = {"width": 64, "height": 48, "trim_box": [0, 0, 64, 48]}
    for name in ("image", "video"):
        transform = adapter(name).exact_transform(facts)
        assert transform is not None and transform.crop == views.RectView(x=0, y=0, w=64, h=48)
        assert transform.scale == 1.0 and not transform.cropped and not transform.framed


@dataclass(frozen=True, slots=True)
class _ToneMatch:
    registration_id: str
    verdict: str = "copy"
    localisation: None = None


class _ToneKind:
    """A third kind of media, made up for the test: a file `TONE` + 8 bytes, known by those bytes as a pHash."""

    name = "tone"

    def sniff(self, data: bytes) -> str | None:
        return "audio/x-tone" if data.startswith(b"TONE") else None

    def decode(self, data: bytes, limits: DecodeLimits) -> bytes:
        return data

    def reference(self, media: bytes, *, sha256: str, size: int, local: bool = True) -> Fingerprint:
        record = HashRecord("phash", CANONICAL, HashValue(media[4:12]))
        return Fingerprint("tone", sha256, "audio/x-tone", size, (record,), facts={"seconds": len(media) / 4})

    def query(self, media: bytes, *, sha256: str, size: int, local: bool) -> Fingerprint:
        return self.reference(media, sha256=sha256, size=size)

    def analyse(
        self,
        media: bytes,
        query: Fingerprint,
        candidates: Sequence[MatchCandidate],
        references: ReferenceSource,
        *,
        strong: int,
        limit: int,
        exhaustive: bool = True,
    ) -> list[_ToneMatch]:
        return [_ToneMatch(candidate.registration_id) for candidate in candidates]

    def render(self, match: _ToneMatch, *, label: str) -> bytes:
        return b""


class _ToneFacts(views.KindFactsView):
    kind: str = "tone"
    seconds: float


class _ToneAdapter(KindAdapter[bytes, _ToneMatch]):
    name = "tone"
    primary_alg = "phash"

    def facts_view(self, facts: Mapping[str, Any]) -> _ToneFacts:
        return _ToneFacts(seconds=facts["seconds"])


def test_a_third_kind_plugs_in_through_its_two_registrations(
    registry: Registry, register: Callable[[bytes], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kind registered in `KINDS` and `ADAPTERS` only registers and checks end to end, with no PDQ in its JSON."""
    tone: MediaKind[bytes, _ToneMatch] = _ToneKind()
    monkeypatch.setitem(KINDS, "tone", tone)
    monkeypatch.setitem(ADAPTERS, "tone", _ToneAdapter())
    content = b"TONE" + bytes(range(8))
    registration_id = register(content)
    copy = _check(registry, content).model_dump(mode="json")
    assert copy["kind"] == "tone" and copy["verdict"] == "copy" and copy["pdq"] is None and copy["pdq_quality"] is None
    assert copy["primary_hash"] == {"algorithm": "phash", "value": "0001020304050607", "quality": None}
    assert copy["facts"] == {"kind": "tone", "seconds": 3.0}
    (match,) = copy["matches"]
    assert match["registration_id"] == registration_id and match["exact"] and match["transform"] is None
    assert _check(registry, b"TONE" + bytes(8)).verdict == "unregistered"
    with registry.session() as session:
        fingerprints = service.get_registration(session=session, registration_id=registration_id).fingerprints
    shown = fingerprints.model_dump(mode="json")
    assert shown["kind"] == "tone" and shown["pdq"] is None and shown["width"] is None
    assert shown["facts"] == {"kind": "tone", "seconds": 3.0}
