"""One check's result as the pages show it: the view, the originals it names, their receipts, the comparison
pictures; and the evidence package, the same result rendered as one self-contained HTML file.

Gathered from the service (`registry.service`, `registry.transparency`), the store of originals and the kept
comparison pictures: for the card right after the check, and again for the package when it is downloaded
(`api/web/kept.py`); only the package needs the receipts and the originals.
"""

from __future__ import annotations

import base64
import contextlib
import struct
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from registry import service, transparency, views
from registry.errors import NotFound, RegistryError, VerificationFailed
from registry.log.note import parse_tlog_proof
from registry.log.receipts import receipt_json, verify_receipt
from registry.runtime import Registry

# Which matches get their registration, receipt and original fetched (the best ones come first).
MAX_DETAILED = 5
# What a browser shows inline; anything else (HEIC) is described, not embedded.
DISPLAYABLE = {"image/jpeg", "image/png", "image/webp", "image/avif", "image/gif"}
# fingerprint/visualize.py's layout: three equal panels after an 8 px gap each, below a 64 px header.
_GAP, _HEADER, _FOOTER = 8, 64, 28


@dataclass(frozen=True, slots=True)
class Comparison:
    """A kept comparison picture and where each of its three panels sits, so the page can show one at a time."""

    registration_id: str
    url: str
    png: bytes
    width: int
    height: int

    @property
    def panel_width(self) -> int:
        return (self.width - 4 * _GAP) // 3

    @property
    def panel_height(self) -> int:
        return self.height - _HEADER - _FOOTER

    def panel_x(self, panel: int) -> int:
        """The x of the picture's left edge that puts `panel` (0 original, 1 aligned, 2 differences) at 0."""
        return -(_GAP + panel * (self.panel_width + _GAP))

    @property
    def data_uri(self) -> str:
        return data_uri(self.png, "image/png")


@dataclass(frozen=True, slots=True)
class Evidence:
    """A match's registration with its receipt, verified here against the checkpoint it carries."""

    receipt: dict[str, Any]
    receipt_text: str
    checkpoint_size: int
    checkpoint_origin: str
    checkpoint_text: str
    original: bytes | None


@dataclass
class CheckResult:
    view: views.CheckView
    file_name: str
    query: bytes
    checked_at: datetime
    registrations: dict[str, views.RegistrationView] = field(default_factory=dict)
    comparisons: dict[str, Comparison] = field(default_factory=dict)
    evidence: dict[str, Evidence] = field(default_factory=dict)
    log_keys: views.LogKeysView | None = None
    evidence_id: str | None = None
    frames_id: str | None = (
        None  # where the kind's pictures (a video's frame pairs) are drawn from (`api/web/pictures.py`)
    )
    heatmap: bytes | None = None  # the assessment's heat-map PNG, embedded in the evidence package
    problems: list[str] = field(default_factory=list)  # receipts that did not verify: said, never hidden

    @property
    def query_uri(self) -> str | None:
        return data_uri(self.query, self.view.media_type) if self.view.media_type in DISPLAYABLE else None


def data_uri(content: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(content).decode()}"


def png_size(png: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def gather(
    *,
    session: Session,
    registry: Registry,
    view: views.CheckView,
    query: bytes,
    file_name: str,
    checked_at: datetime,
    package: bool = True,
) -> CheckResult:
    """The check's view with what the card shows beside it, and (`package`) what the evidence package adds."""
    result = CheckResult(view=view, file_name=file_name, query=query, checked_at=checked_at)
    result.log_keys = transparency.log_keys(keyring=registry.keyring)
    for picture in view.comparisons:
        try:
            png = registry.pictures.get(picture.id)
        except NotFound:
            continue  # expired between the check and now: the card says there is no picture
        width, height = png_size(png)
        result.comparisons[picture.registration_id] = Comparison(
            picture.registration_id, picture.url or "", png, width, height
        )
    if view.assessment is not None and view.assessment.heatmap is not None:
        with contextlib.suppress(NotFound):  # expired: the package says there is no heat-map
            result.heatmap = registry.pictures.get(view.assessment.heatmap.id)
    for match in view.matches[:MAX_DETAILED]:
        registration = service.get_registration(session=session, registration_id=match.registration_id)
        result.registrations[match.registration_id] = registration
        if package and match.verdict != "related":
            try:
                result.evidence[match.registration_id] = _evidence(session, registry, registration)
            except VerificationFailed as exc:  # the check still answers; the package says why it lacks a receipt
                result.problems.append(f"The receipt of {registration.id} did not verify: {exc.message}")
    return result


def _evidence(session: Session, registry: Registry, registration: views.RegistrationView) -> Evidence:
    receipt = service.registration_receipt(session=session, registration_id=registration.id)
    text = receipt_json(receipt)
    verified = verify_receipt(text, registry.keyring.verifiers)
    try:
        original: bytes | None = registry.store.get(registration.content.sha256)
    except (OSError, RegistryError):
        original = None
    return Evidence(
        receipt=receipt,
        receipt_text=text,
        checkpoint_size=verified.checkpoint.size,
        checkpoint_origin=verified.checkpoint.origin,
        checkpoint_text=parse_tlog_proof(receipt["proof"]).checkpoint,  # the one it was verified against
        original=original,
    )
