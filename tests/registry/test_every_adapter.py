"""What every kind adapter in `registry.kinds.ADAPTERS` and every algorithm a lookup takes must pass: a new kind or
algorithm is held to all of this without editing this file (the kind adds a sample to `tests/kindsamples.py`, a
whole-file hash its golden value).

- each adapter agrees with its kind in `fingerprint.kinds.KINDS`: the whole-file hashes it declares (at their bit
  lengths) are those its kind's reference fingerprint holds beyond the registered algorithms', and its primary
  algorithm is a registered one that the fingerprint has and the views show;
- its facts block survives JSON as the API sends and keeps it;
- a timed kind's declared seconds (which make a long file a job) are its fingerprint's duration;
- its file suffixes are its alone (the CLI picks a directory's files by them);
- every canonical hash of a registered sample (and its sha256) looks the registration up at distance 0, through the
  database and the indexes;
- every whole-file hash has a golden value on its kind's sample (`tests/data/golden/whole_file_hashes.json`);
- every algorithm a lookup or a hash check takes refuses hex of the wrong length, or not hex, with
  `InvalidRequest` (a 400), and takes a value of the right length.

That the adapters and kinds have the same names, the kind-neutral views and the check path that names no kind are
`tests/registry/test_kinds.py`; what every kind and every image algorithm must pass on the fingerprint side,
`tests/fingerprint/test_every_kind.py` and `tests/fingerprint/test_every_algorithm.py`.

Regenerate the golden values only after a deliberate change to a whole-file hash (the tests never write the file):

    PYTHONPATH=$PWD:$PWD/tests python tests/registry/test_every_adapter.py --write-golden
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from kindsamples import LIMITS, reference, sample, slow_if

from fingerprint.algorithms import ALGORITHMS
from registry import matching, views
from registry.errors import InvalidRequest
from registry.kinds import ADAPTERS, hash_check_kind, whole_file_hashes
from registry.runtime import Registry

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden" / "whole_file_hashes.json"
REGENERATE = "PYTHONPATH=$PWD:$PWD/tests python tests/registry/test_every_adapter.py --write-golden"
NAMES = sorted(ADAPTERS)
FINGERPRINTED = [slow_if(kind, kind) for kind in NAMES]  # a video's cases are slow
WHOLE_FILE = sorted(whole_file_hashes())


def _kind_of(alg: str) -> str:
    return next(name for name, kind in ADAPTERS.items() if alg in kind.whole_file_hashes)


WHOLE_FILE_PARAMS = [slow_if(_kind_of(alg), alg) for alg in WHOLE_FILE]


@pytest.mark.parametrize("kind", FINGERPRINTED)
def test_an_adapters_hashes_are_its_kinds(kind: str) -> None:
    """The whole-file hashes the adapter declares are exactly the fingerprint's hashes no registered algorithm
    makes, at the declared lengths."""
    fp = reference(kind)
    beyond = {record.alg: record.value.bits for record in fp.hashes if record.alg not in ALGORITHMS}
    assert beyond == dict(ADAPTERS[kind].whole_file_hashes)


@pytest.mark.parametrize("kind", FINGERPRINTED)
def test_the_primary_hash_is_a_registered_algorithm_the_views_show(kind: str) -> None:
    adapter = ADAPTERS[kind]
    assert adapter.primary_alg in matching.lookup_algorithms()
    fp = reference(kind)
    record = fp.primary().get(adapter.primary_alg)
    assert record is not None, f"{kind}'s fingerprint has no {adapter.primary_alg} hash"
    fields = adapter.check_fields(fp)
    assert fields.primary_hash == views.PrimaryHashView(
        algorithm=adapter.primary_alg, value=record.value.hex(), quality=record.quality
    )
    assert adapter.registration_fields(fp.primary(), fp.facts)["primary_hash"] == fields.primary_hash


@pytest.mark.parametrize("kind", FINGERPRINTED)
def test_the_facts_block_survives_json(kind: str) -> None:
    facts = ADAPTERS[kind].facts_view(reference(kind).facts)
    assert facts is not None and facts.kind == kind
    shown = facts.model_dump(mode="json")
    assert type(facts).model_validate_json(facts.model_dump_json()).model_dump(mode="json") == shown
    # as a check keeps and reads it back: the generic block keeps every field of the kind's
    again = views.KindFactsView.model_validate(json.loads(json.dumps(shown)))
    assert again.model_dump(mode="json") == shown


@pytest.mark.parametrize("kind", FINGERPRINTED)
def test_a_timed_kinds_declared_seconds_are_its_duration(kind: str) -> None:
    """What decides a job (`seconds`, from the container alone) agrees with what the fingerprint measured."""
    adapter, facts = ADAPTERS[kind], reference(kind).facts
    assert adapter.timed == ("duration" in facts)
    if adapter.timed:
        assert abs(adapter.seconds(sample(kind), LIMITS) - float(facts["duration"])) <= 0.1


def test_file_suffixes_pick_one_kind() -> None:
    seen: dict[str, str] = {}
    for name, adapter in ADAPTERS.items():
        assert adapter.file_suffixes, f"{name} names no file suffix"
        for suffix in adapter.file_suffixes:
            assert suffix.startswith(".") and suffix == suffix.lower(), suffix
            assert seen.setdefault(suffix, name) == name, f"{suffix} is both {seen[suffix]}'s and {name}'s"


def golden_values() -> dict[str, str]:
    """The pinned whole-file hash of each algorithm's kind's sample: algorithm -> hex."""
    loaded: dict[str, str] = json.loads(GOLDEN.read_text())
    return loaded


def test_the_golden_file_names_every_whole_file_hash_and_no_other() -> None:
    assert sorted(golden_values()) == WHOLE_FILE, f"golden values out of date: {REGENERATE}"


@pytest.mark.parametrize("alg", WHOLE_FILE_PARAMS)
def test_whole_file_golden_values(alg: str) -> None:
    pinned = golden_values().get(alg)
    assert pinned is not None, f"no golden value for {alg!r}: {REGENERATE}"
    assert reference(_kind_of(alg)).primary()[alg].value.hex() == pinned


def _bits(alg: str) -> int:
    return 256 if alg == "sha256" else ALGORITHMS[alg].bits if alg in ALGORITHMS else whole_file_hashes()[alg]


def _bad_values(alg: str) -> list[str]:
    digits = _bits(alg) // 4
    return ["0" * (digits - 1), "0" * (digits + 2), "g" * digits, " " * digits, ""]


def test_every_lookup_algorithm_refuses_bad_hex_and_takes_good(registry: Registry) -> None:
    with registry.session() as session:
        for alg in matching.lookup_algorithms():
            for bad in _bad_values(alg):
                with pytest.raises(InvalidRequest):
                    matching.lookup(session=session, registry=registry, alg=alg, value=bad)
            found = matching.lookup(session=session, registry=registry, alg=alg, value="0" * (_bits(alg) // 4))
            assert found.matches == []


def test_a_hash_check_refuses_bad_hex_and_takes_good_for_every_algorithm(registry: Registry) -> None:
    """Beside the required primary hash, any lookup algorithm's value: bad ones are a 400, never a server error."""
    primary = hash_check_kind().primary_alg
    good = {alg: "0" * (_bits(alg) // 4) for alg in matching.lookup_algorithms()}
    with registry.session() as session:
        for alg in good:
            for bad in _bad_values(alg):
                with pytest.raises(InvalidRequest):
                    matching.check_hashes(session=session, registry=registry, hashes={**good, alg: bad})
            view = matching.check_hashes(
                session=session, registry=registry, hashes={primary: good[primary], alg: good[alg]}
            )
            assert view.verdict == "unregistered"


@pytest.mark.parametrize("kind", FINGERPRINTED)
def test_each_stored_hash_looks_its_registration_up_at_distance_zero(
    kind: str, registry: Registry, register: Callable[[bytes], str]
) -> None:
    """Through the database and the indexes: every canonical hash of a registered sample, and its sha256, finds it."""
    registration_id = register(sample(kind))
    fp = reference(kind)
    wanted = {alg: record.value.hex() for alg, record in fp.primary().items()} | {"sha256": fp.sha256}
    assert set(wanted) <= set(matching.lookup_algorithms())
    with registry.session() as session:
        for alg, value in wanted.items():
            found = matching.lookup(session=session, registry=registry, alg=alg, value=value, max_distance=0)
            assert [(m.registration_id, m.distance) for m in found.matches] == [(registration_id, 0)], alg


def write_golden() -> None:
    values = {alg: reference(_kind_of(alg)).primary()[alg].value.hex() for alg in WHOLE_FILE}
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(values, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}: {', '.join(WHOLE_FILE)}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-golden"]:
        sys.exit(f"usage: {REGENERATE}")
    write_golden()
