"""A check's result in plain sentences, for people who will never read its JSON.

Pure functions of the views (`registry.views`), so the page, the evidence package and their tests say the same.
"""

from __future__ import annotations

from datetime import datetime

from registry import views

_VARIANTS = {
    "rotate_90_cw": "turned a quarter clockwise",
    "rotate_180": "turned upside down",
    "rotate_90_ccw": "turned a quarter counter-clockwise",
    "flip_vertical": "flipped upside down",
    "flip_horizontal": "mirrored",
    "transpose": "mirrored and turned a quarter",
    "transverse": "mirrored and turned a quarter",
}


def day(moment: datetime) -> str:
    """'3 Nov 2026': unambiguous in every locale, unlike 11/03."""
    return f"{moment.day} {moment:%b %Y}"


def verdict_sentence(view: views.CheckView, registrations: dict[str, views.RegistrationView]) -> str:
    """The headline: what the file is, and whose original it comes from; a withdrawal comes first, and a later
    registration of someone else's content names who registered it first."""
    best = next((m for m in view.matches if m.verdict != "related"), None)
    if view.verdict == "unregistered" or best is None:
        if any(m.verdict == "related" for m in view.matches):
            return (
                "Not registered: no original was made into this file, "
                "but a registered photograph of the same scene exists"
            )
        return "Not registered: this file matches no original in the registry"
    registration = registrations.get(best.registration_id)
    when = f" on {day(registration.created_at)}" if registration is not None else ""
    composite = best.verdict == "altered" and best.transform is not None and best.transform.composite
    what = (
        "a composite made with part of"
        if composite
        else "a doctored version of"
        if best.verdict == "altered"
        else "an exact copy of"
        if best.exact
        else "a copy of"
    )
    if view.withdrawn:
        whose = f"an original {best.publisher} registered{when} and has since withdrawn"
        return f"Withdrawn by its publisher: {what} {whose}"
    first = f", first registered by {_first(best)}" if best.prior_registrations else ""
    tail = " and another picture" if composite else ""
    return f"{what[0].upper()}{what[1:]} an original registered by {best.publisher}{when}{tail}{first}"


def _first(match: views.MatchView) -> str:
    """'Daily Planet on 3 Nov 2026': the earliest registration of this content, by another publisher."""
    prior = match.prior_registrations[0]
    return f"{prior.publisher} on {day(prior.created_at)}"


def _share(part: float) -> str:
    return f"{round(part * 100)}%"


def _crop_words(crop: views.RectView, width: int, height: int) -> str:
    """'cropped to the left 60%' or 'cropped to 50% of the width and 70% of the height, in the middle'."""
    wide, tall = crop.w / width, crop.h / height
    sides = []
    if wide < 0.98:
        sides.append(("left" if crop.x <= width * 0.02 else "right" if crop.x + crop.w >= width * 0.98 else "", wide))
    if tall < 0.98:
        sides.append(("top" if crop.y <= height * 0.02 else "bottom" if crop.y + crop.h >= height * 0.98 else "", tall))
    if len(sides) == 1 and sides[0][0]:
        return f"cropped to the {sides[0][0]} {_share(sides[0][1])}"
    return f"cropped to {_share(wide)} of the width and {_share(tall)} of the height"


def transform_words(match: views.MatchView, original: views.RegistrationView | None, media_type: str) -> list[str]:
    """What was done to the original to make the query, one phrase each; empty when nothing was."""
    if match.verdict == "related":
        return ["nothing: a different photograph of the same scene, not made from this original"]
    transform = match.transform
    words = [] if match.variant == "identity" else [_VARIANTS.get(match.variant, match.variant.replace("_", " "))]
    if transform is not None:
        shown = None if original is None else original.fingerprints
        if transform.cropped and shown is not None and shown.width is not None and shown.height is not None:
            words.append(_crop_words(transform.crop, shown.width, shown.height))
        if abs(transform.scale - 1) > 0.02:
            words.append(f"resized to {_share(transform.scale)}")
        if abs(transform.aspect_change - 1) > 0.02:
            words.append("stretched" if transform.aspect_change > 1 else "squeezed")
        if abs(transform.rotation) >= 0.5 and match.variant == "identity":
            words.append(
                f"rotated {abs(transform.rotation):.0f}° {'counter-' if transform.rotation > 0 else ''}clockwise"
            )
        if transform.flipped and match.variant == "identity":
            words.append("mirrored")
        if transform.perspective:
            words.append("seen in perspective")
        if transform.framed:
            words.append("framed (padding, a page or a screenshot around it)")
        if transform.composite:
            words.append(f"put into another picture, where it fills {_share(_footprint_share(transform))} of this file")
        if transform.grayscale:
            words.append("turned black and white")
        elif transform.photometric_change:
            words.append("colours or brightness changed")
    if not match.exact:
        same_type = original is not None and original.content.media_type == media_type
        words.append("re-encoded" if same_type or original is None else f"re-encoded as {media_type}")
    return words


def _footprint_share(transform: views.TransformView) -> float:
    content = transform.content.w * transform.content.h
    return content / max(1, content + sum(rect.w * rect.h for rect in transform.added))


def score_words(match: views.MatchView) -> str:
    """What `score` measures, in words: the share of this file that is the original's content, unchanged."""
    share = _share(match.score)
    if match.verdict == "related":
        return "none: a different photograph of the same scene, not made from this original"
    if match.segments or match.spans:
        return f"{share} of the clip's frames match the original"
    if match.matched_share is not None:  # placed in time by the analysis, with no picture to measure (a sound)
        return f"{share} of this file is the original's, unchanged"
    if match.transform is None and not match.exact:
        return f"about {share}, from the hash alone (no analysis was made)"
    return f"{share} of this file is the original's content, unchanged"


def region_words(region: views.RegionView) -> str:
    return (
        f"a {region.w} by {region.h} pixel area at ({region.x}, {region.y}) of this file, "
        f"({region.original.x}, {region.original.y}) in the original: {region.share:.1%} of the picture"
    )


def warnings_for(match: views.MatchView) -> list[str]:
    """What must make a reader careful about trusting this match as a provenance claim."""
    said = []
    if not match.verified:
        said.append(f"{match.publisher} is not a currently verified publisher.")
    if match.revoked:
        said.append(f"{match.publisher} withdrew this registration (log entry {match.revocation_log_index}).")
    if match.prior_registrations:
        prior = match.prior_registrations[0]
        said.append(
            f"First registered by {_first(match)} (log entry {prior.log_index}, {prior.registration_id}): "
            f"this is a later registration of the same content by {match.publisher}."
        )
    if match.key_compromised:
        said.append(f"It was signed with a key {match.publisher} later reported compromised: do not rely on it.")
    return said
