"""The public JSON shapes: what `POST /v1/check`, `provreg check --json` and friends return.

These are contracts platforms script against: add fields, never rename or remove them. The same models back
the HTTP responses (FastAPI response models) and the CLI's `--json` lines, so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny

from detector.types import AssessmentVerdict
from fingerprint.compare import CheckVerdict, Verdict


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class VerificationView(_View):
    method: str
    verified_by: str
    verified_at: datetime
    expires_at: datetime | None


class PublisherView(_View):
    id: str
    name: str
    key_id: str
    verified: bool
    verification: VerificationView


class PublisherCreatedView(PublisherView):
    api_key: str  # shown once; only its hash is stored


class PublisherRef(_View):
    id: str
    name: str
    verified: bool


class ContentView(_View):
    sha256: str
    media_type: str
    size: int


class PrimaryHashView(_View):
    """The hash a file is known by, whatever its kind: its kind's primary algorithm (`pdq` for pictures and videos'
    poster frames), its canonical value (hex) and, where the algorithm rates it, its quality (0-100)."""

    algorithm: str
    value: str
    quality: int | None = None


class KindFactsView(_View):
    """The media kind's own facts about the file (`registry.kinds`): `kind` names which, and the other fields are that
    kind's (image: width, height, trim_box; video: those and duration, fps, frames). Read the fields of the kinds you
    know; a kind added later brings its own."""

    model_config = ConfigDict(frozen=True, extra="allow")

    kind: str


class FingerprintsView(_View):
    # the legacy picture fields: set for images and videos (the poster frame's hashes), None for a kind without them
    pdq: str | None = None
    pdq_quality: int | None = None
    phash: str | None = None
    dhash: str | None = None
    width: int | None = None
    height: int | None = None
    trim_box: list[int] | None = None
    kind: str = "image"
    hashes: dict[str, str] = {}  # every algorithm's canonical hash, hex, by algorithm name
    primary_hash: PrimaryHashView | None = None  # the hash the file is known by, whatever its kind
    facts: SerializeAsAny[KindFactsView] | None = None  # the kind's own facts (see KindFactsView)


class PriorRegistrationView(_View):
    """An earlier registration, by another publisher, of the content a registration repeats: found when that
    registration was made (`registry.precedence`), so the first registrant stays named on every later copy."""

    registration_id: str
    publisher: str  # the publisher's name
    publisher_id: str
    log_index: int  # earlier than the registration that names it: the log orders who registered first
    created_at: datetime
    exact: bool  # the same bytes; otherwise a strong perceptual match (see README, "first registrant")


class RegistrationView(_View):
    id: str
    log_index: int
    publisher: PublisherRef
    key_id: str
    content: ContentView
    metadata: dict[str, Any]
    statement: dict[str, Any]
    signature: str
    created_at: datetime
    fingerprints: FingerprintsView
    revoked: bool = False
    revocation_log_index: int | None = None
    # earlier registrations of this content by other publishers, earliest first (at most 10); empty for the first
    # registrant, and for registrations made before revision 0006 unless the same bytes were registered earlier
    prior_registrations: list[PriorRegistrationView] = []


class RegistrationReceiptView(RegistrationView):
    """A registration as returned when it is created: with the receipt that proves it is in the log."""

    receipt: dict[str, Any]  # {"log_index", "entry", "proof"}: verify offline with `provreg verify`


JobState = Literal["queued", "running", "done", "failed"]
JobKind = Literal["registration"]


class JobView(_View):
    """Long work run in the background (`GET /v1/jobs/{id}`): when done, `result` is the body the synchronous
    call answers; when failed, `error` is its error body's `error` object (`code`, `message`, details)."""

    id: str
    kind: JobKind
    state: JobState
    progress: float  # 0-1: a stage, not a promise of time left
    created_at: datetime
    finished_at: datetime | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class JobAcceptedView(_View):
    """The `202` answer to a request that runs as a job: poll `url` (also the `Location` header)."""

    job: JobView
    url: str


class RectView(_View):
    x: int
    y: int
    w: int
    h: int


class RegionView(_View):
    """One altered place: `x, y, w, h` in query pixels, `original` the same place in the original's pixels."""

    x: int
    y: int
    w: int
    h: int
    original: RectView
    share: float  # of the area the query and the original both show


class TransformView(_View):
    """What was done to the original to make the query, as far as geometry and global colour tell."""

    crop: RectView  # the part of the original the query shows, in original pixels
    cropped: bool
    content: RectView  # where the original's content sits in the query (its footprint), in query pixels
    # flat or UI-like surroundings: padding, letterbox, a page or screenshot, rotation corners, or the photo shown
    # over an enlarged, blurred copy of itself
    framed: bool
    scale: float  # query pixels per original pixel; exactly 1.0 when not resized (within re-save noise)
    aspect_change: float  # horizontal over vertical stretch; exactly 1.0 when kept
    rotation: float  # degrees counter-clockwise (after the mirror, if flipped); exactly 0.0 when not turned
    flipped: bool  # mirrored horizontally (a vertical flip is a mirror plus 180 degrees)
    perspective: bool
    photometric_change: bool  # colours, brightness or contrast changed globally
    grayscale: bool
    # the original, or part of it, fills only `content` and the rest of the query is other photographic content:
    # a composite (the match is then `altered`)
    composite: bool = False
    # composite only: the query outside `content`, the added content, as up to four bands (above and below it, full
    # width; left and right of it), in query pixels
    added: list[RectView] = []


class SegmentView(_View):
    """Video: a stretch of the query (seconds) that shows a stretch of the original."""

    start: float
    end: float
    original_start: float
    original_end: float
    speed: float  # original seconds per query second (1.25: sped up by a quarter), as the segment's own times say
    matched_share: float  # of the segment's sampled query frames that match their original frame
    mirrored: bool
    portrait: bool  # the query shows the centred 9:16 crop of landscape footage


class SpanView(_View):
    """Video: query seconds that differ from the original (`altered`) or show footage it does not have (`inserted`)."""

    kind: Literal["altered", "inserted"]
    start: float  # the clip's first differing frame
    end: float  # the clip's first frame after the difference (or its end)
    original_start: float | None  # None for footage outside every aligned segment
    original_end: float | None
    distance: int  # the largest PDQ distance of a frame in it to the original frame it stands for
    frame: float  # query time of that frame, whose regions are reported
    regions: list[RegionView] = []  # where that frame differs, in query pixels and original pixels


class AudioSpanView(_View):
    """Video: query seconds whose sound is not the original's: another sound over the original's frames
    (`audio_altered`, a voice swap) or the original's sound stripped or silenced (`audio_missing`)."""

    kind: Literal["audio_altered", "audio_missing"]
    start: float
    end: float
    original_start: float | None  # the original seconds the clip shows there
    original_end: float | None


class AudioSegmentView(_View):
    """Video: the sound over one aligned segment (one per `segments` entry, in the same order), compared at the
    sound's own alignment, which it searches within 0.5 s and a few percent of speed of the picture's."""

    start: float  # query seconds: the segment's, as in `segments`
    end: float
    original_start: float  # the original seconds the clip's sound plays there, as the sound's own alignment places it
    original_end: float
    speed: float  # original seconds per query second of the sound (the picture's where `lag` is None)
    # original seconds by which the sound sits later than the picture's alignment at `start` (negative: earlier);
    # None when the sound did not align near the picture's (not the original's sound, or none): then the original
    # times are the picture's
    lag: float | None
    similarity: float | None  # as AudioView.similarity, over this segment's peaks only


class AudioView(_View):
    """Video: the clip's sound against the original's over the stretch the clip shows."""

    # share of the clip's spectral peaks (over all segments) the original has too, within 32 ms and 16 Hz of where
    # each segment's sound alignment puts them: 0.5-0.9 for the original's sound re-encoded, below 0.2 for another
    # sound; None: no sound on either side
    similarity: float | None
    query_has_audio: bool  # False: the clip has no sound track at all
    matched_by: Literal["frames", "audio"]  # what placed the clip: its frames, or its sound alone (picture replaced)
    spans: list[AudioSpanView] = []
    segments: list[AudioSegmentView] = []  # per aligned segment (with no sound track: lag and similarity None)


class FrameDistanceView(_View):
    """Video: one sampled query frame, the original frame it was compared with and their PDQ distance."""

    t: float
    original_t: float | None  # that original frame's own timestamp; None outside every aligned segment
    distance: int | None


class MatchView(_View):
    registration_id: str
    publisher: str  # the publisher's name
    publisher_id: str
    verified: bool
    distance: int  # least PDQ Hamming distance between the query's 8 dihedral hashes and the original's hashes
    # 0-1: the share of the query that is this original's content, unchanged (`registry.render.match_score`): 1.0
    # for a copy (framing does not count), below 1 for `altered` (never above 0.99: the altered regions, or the
    # other picture of a composite, are taken off), 0.0 for `related` (nothing was made from it). Video: the share of
    # the clip's sampled frames that match. Fast mode (no analysis): 1 - distance/128, an estimate from the hash.
    score: float
    variant: str  # what was done to the original to get the query: identity, rotate_90_cw, flip_horizontal...
    exact: bool  # the query's bytes are the original's bytes
    revoked: bool = False  # the publisher withdrew this registration
    revocation_log_index: int | None = None
    key_compromised: bool = False  # signed with a key later reported compromised at or before registration
    # altered: content of the original was replaced or added locally; related: a different photograph of the same
    # scene (the differences are parallax), not made from this original
    verdict: Verdict = "copy"
    transform: TransformView | None = None  # None only in fast mode (global hashes, no analysis)
    regions: list[RegionView] = []
    altered_fraction: float = 0.0  # altered area over the area both show
    inliers: int = 0  # keypoint matches that agree with the geometry found (0: aligned by PDQ or identical)
    # video only: where the query sits in the original, what differs when, and the per-frame distance profile
    segments: list[SegmentView] = []
    spans: list[SpanView] = []
    matched_share: float | None = None  # of the query's sampled frames that match the original: the decision
    profile: list[FrameDistanceView] = []
    audio: AudioView | None = None  # None for images, and for a video whose original has no sound track
    # the match's kind's own findings, where its kind has findings no field above holds (`kind` names which; sound:
    # offset, speed, pitch, similarity, also_at, segments, spans); None for images and videos
    facts: SerializeAsAny[KindFactsView] | None = None
    # the registration's log entry: matches of equal strength, and near-duplicate registrations of one content,
    # are listed earliest first (None only in views not made by a check)
    log_index: int | None = None
    # earlier registrations of this content by other publishers (as on the registration's own view): this match
    # is a later registration of content someone else registered first
    prior_registrations: list[PriorRegistrationView] = []


class PictureView(_View):
    """A comparison picture of one match, kept for a short while under an unguessable id."""

    registration_id: str
    id: str
    expires_at: datetime
    url: str | None = None  # where the HTTP API serves it: GET /v1/check/pictures/{id}


class SignalView(_View):
    name: str  # noise_inconsistency, jpeg_grid_misalignment, error_level_inconsistency; flagged_frames for video
    score: float  # on the signal's own scale (a region's share of the picture for the classical ones)
    fired: bool  # passed its measured threshold
    reason: str


class FaceView(_View):
    """A detected face, in query pixels."""

    x: int
    y: int
    w: int
    h: int
    score: float


class HeatmapView(_View):
    """The assessment's heat-map picture, kept for a short while like comparison pictures (`pictures=true`)."""

    id: str
    expires_at: datetime
    url: str | None = None  # where the HTTP API serves it: GET /v1/check/pictures/{id}


class AssessmentView(_View):
    """What can be said about manipulation when no registered original matches; never "authentic"."""

    verdict: AssessmentVerdict  # likely_manipulated, no_evidence_found or inconclusive
    p_manipulated: float | None  # calibrated, from the learned model; None when none was consulted
    interval: list[float] | None  # [low, high] around p_manipulated
    signals: list[SignalView]
    faces: list[FaceView]
    face_detector: str  # blazeface, lbp_cascade (the classical fallback) or none
    ood_flags: list[str]  # no_face, tiny_face, tiny_image, heavy_compression, low_detail...: each -> inconclusive
    model_version: str | None  # None: classical signals only
    reason: str
    caveat: str  # what it was (and was not) validated on
    frames: int = 1
    # only with `pictures=true`, when something points somewhere and the verdict is not no_evidence_found
    heatmap: HeatmapView | None = None


class CheckView(_View):
    verdict: CheckVerdict
    sha256: str
    media_type: str
    # the query's canonical PDQ hash and its quality, for images and videos (their poster frame); None for a kind
    # without PDQ: `primary_hash` names every kind's
    pdq: str | None
    pdq_quality: int | None
    matches: list[MatchView]
    warnings: list[str]
    kind: str = "image"
    hashes: dict[str, str] = {}  # the query's canonical hash by algorithm name, hex
    comparisons: list[PictureView] = []  # comparison pictures, only when asked for (`pictures=true`)
    # full mode, when nothing registered matches (or only `related` originals): the detector's assessment
    assessment: AssessmentView | None = None
    # the best match (the first that is not `related`) was withdrawn by its publisher: `verdict` still says what the
    # file is (a copy of it, or altered from it), but nobody stands behind that original any more; lead with this
    withdrawn: bool = False
    primary_hash: PrimaryHashView | None = None  # the hash the query is known by, whatever its kind
    facts: SerializeAsAny[KindFactsView] | None = None  # the query's kind's own facts (see KindFactsView)


class LookupMatchView(_View):
    registration_id: str
    publisher: str
    publisher_id: str
    verified: bool
    distance: int
    media_type: str
    content_sha256: str
    created_at: datetime
    revoked: bool = False
    key_compromised: bool = False
    log_index: int | None = None  # near-duplicates are listed together, earliest registration first


class LookupView(_View):
    alg: str
    hash: str
    max_distance: int
    matches: list[LookupMatchView]


class ReindexFailure(_View):
    registration_id: str
    reason: str


class ReindexView(_View):
    algorithms: list[str]
    registrations: int  # registrations that lacked a hash of one of `algorithms`
    hashes_added: int
    failed: list[ReindexFailure]


class KeyRevocationView(_View):
    key_id: str
    compromised_since: datetime
    log_index: int


class RevocationView(_View):
    registration_id: str
    revoked_at: datetime
    reason: str
    log_index: int
    receipt: dict[str, Any]


class LogKeyView(_View):
    vkey: str  # C2SP signed-note verifier key: <name>+<key id>+<base64 key>
    active: bool


class LogKeysView(_View):
    origin: str
    keys: list[LogKeyView]


class InclusionProofView(_View):
    log_index: int
    tree_size: int
    hashes: list[str]  # base64, leaf sibling first (RFC 9162)


class ConsistencyProofView(_View):
    first: int
    second: int
    hashes: list[str]  # base64 (RFC 9162)


class LogEntryView(_View):
    log_index: int
    leaf_hash: str  # base64 SHA-256(0x00 || entry)
    entry: dict[str, Any]


class LogEntriesView(_View):
    start: int
    entries: list[LogEntryView]


class AuditView(_View):
    ok: bool
    size: int
    checkpoints: int
    problems: list[str]
    start: int = Field(default=0, description="first entry audited: 0 for a full audit")
    # Registrations whose fingerprint rows were recomputed and held against their log commitment: every one in a
    # full audit, those committed since the last passing audit in an incremental one (whose other rows are held
    # to the signed mark's pins).
    fingerprinted: int = 0
    # Registrations logged before entries committed to fingerprint rows (an earlier release's data directory)
    # whose rows this audit, having passed, committed with one `fingerprint_rows` entry each: once, after upgrading.
    backfilled: int = 0
