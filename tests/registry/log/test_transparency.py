"""The log as the registry keeps it: receipts that verify offline, consistent checkpoints, a caught tamperer."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import PublisherHandle, encode, make_publisher, photo, photo_bytes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from receipts import hostile_receipts
from sqlalchemy import text

from api.client import LocalTransport, new_statement, sign_statement
from registry import errors, matching, publishers, service, writes
from registry.keys import raw_public_key
from registry.log import merkle
from registry.log import store as log
from registry.log.audit import audit
from registry.log.note import Checkpoint, Signer, Verifier, open_note
from registry.log.receipts import receipt_json, unwrap_receipt, verify_receipt
from registry.runtime import Registry
from registry.settings import Settings
from registry.statements import new_nonce


def _register(  # type: ignore[no-untyped-def]
    registry: Registry,
    publisher: PublisherHandle,
    content: bytes,
    key: Ed25519PrivateKey | None = None,
    now: datetime | None = None,
):
    """Register as `publisher`, signing with `key` (default its first key), at the registry's time `now`."""
    key = key or publisher.private_key
    request = sign_statement(key, publisher.statement(content, key_id=_key_id(key)))
    with registry.session() as session:
        return service.register(
            session=session,
            registry=registry,
            statement=request.text,
            signature=request.signature,
            content=content,
            now=now,
        )


def _key_id(key: Ed25519PrivateKey) -> str:
    return hashlib.sha256(raw_public_key(key)).hexdigest()


def _rotate(registry: Registry, publisher: PublisherHandle, old: Ed25519PrivateKey, new: Ed25519PrivateKey) -> None:
    publisher.client(LocalTransport(registry), old).rotate_key(new)


def _check(registry: Registry, content: bytes):  # type: ignore[no-untyped-def]
    with registry.session() as session:
        return matching.check(session=session, registry=registry, content=content)


def test_receipt_verifies_offline_with_only_the_two_public_keys(registry: Registry, publisher: PublisherHandle) -> None:
    registration = _register(registry, publisher, photo_bytes("rocket"))
    vkey = registry.keyring.active_verifiers[0].vkey()
    receipt = receipt_json(registration.receipt)
    result = verify_receipt(receipt, [Verifier.from_vkey(vkey)], publisher_key=raw_public_key(publisher.private_key))
    assert (result.kind, result.log_index, result.entry["registration_id"]) == (
        "registration",
        registration.log_index,
        registration.id,
    )
    with pytest.raises(errors.VerificationFailed, match="different key"):
        verify_receipt(receipt, [Verifier.from_vkey(vkey)], publisher_key=b"\1" * 32)
    stranger = Ed25519PrivateKey.generate()
    with pytest.raises(errors.VerificationFailed, match="checkpoint"):
        verify_receipt(receipt, [Signer(registry.keyring.origin, stranger).verifier])


def test_older_receipts_stay_valid_and_fresh_ones_prove_against_the_latest_checkpoint(
    registry: Registry, publisher: PublisherHandle
) -> None:
    first = _register(registry, publisher, photo_bytes("rocket"))
    for name in ("coffee", "chelsea", "astronaut"):
        _register(registry, publisher, photo_bytes(name))
    verifiers = registry.keyring.verifiers
    old = verify_receipt(receipt_json(first.receipt), verifiers)
    with registry.session() as session:
        fresh = verify_receipt(
            receipt_json(service.registration_receipt(session=session, registration_id=first.id)), verifiers
        )
        consistency = log.consistency_proof(session, old.checkpoint.size, fresh.checkpoint.size)
    assert fresh.checkpoint.size > old.checkpoint.size
    merkle.verify_consistency(
        old.checkpoint.size, fresh.checkpoint.size, consistency, old.checkpoint.root_hash, fresh.checkpoint.root_hash
    )


@pytest.fixture(scope="module")
def module_registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    registry = Registry.open(Settings(data_dir=tmp_path_factory.mktemp("receipt") / "data"))
    registry.load()
    return registry


@pytest.fixture(scope="module")
def one_receipt(module_registry: Registry) -> tuple[bytes, Registry]:
    publisher = make_publisher(module_registry, "Receipt Desk")
    registration = _register(module_registry, publisher, photo_bytes("coffee"))
    return receipt_json(registration.receipt).encode(), module_registry


@pytest.mark.slow
@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(data=st.data())
def test_flipping_any_byte_of_a_receipt_breaks_verification(
    one_receipt: tuple[bytes, Registry], data: st.DataObject
) -> None:
    receipt, registry = one_receipt
    position = data.draw(st.integers(0, len(receipt) - 1))
    flip = data.draw(st.integers(1, 255))
    damaged = bytearray(receipt)
    damaged[position] ^= flip
    try:
        text = bytes(damaged).decode()
    except UnicodeDecodeError:
        return  # not even text: nothing could accept it
    with pytest.raises(errors.VerificationFailed):
        verify_receipt(text, registry.keyring.verifiers)


def test_hostile_numbers_and_nesting_in_a_receipt_fail_verification_and_nothing_else(
    one_receipt: tuple[bytes, Registry],
) -> None:
    """A 5,000-digit proof index was a bare ValueError (Python's int-string limit): a 500 from the /log page."""
    receipt, registry = one_receipt
    verify_receipt(unwrap_receipt(receipt.decode()), registry.keyring.verifiers)  # the seed itself verifies
    for name, hostile in hostile_receipts(receipt.decode()).items():
        with pytest.raises(errors.VerificationFailed):
            verify_receipt(unwrap_receipt(hostile), registry.keyring.verifiers)
            raise AssertionError(f"{name}: verified")


EVENT_KINDS = st.sampled_from(["registration", "content_revocation", "publisher_verification", "key_rotation"])


@pytest.mark.slow
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(batches=st.lists(st.lists(EVENT_KINDS, min_size=1, max_size=5), min_size=1, max_size=8))
def test_every_pair_of_issued_checkpoints_is_consistent(settings: Settings, batches: list[list[str]]) -> None:
    """Random event sequences, each write signing a checkpoint: any two checkpoints prove consistent."""
    registry = Registry.open(settings.model_copy(update={"data_dir": settings.data_dir.parent / new_nonce()}))
    now = datetime.now(UTC)
    with registry.session() as session:
        for batch in batches:
            events = [log.Event(kind, f"subject-{i}", {"n": i}) for i, kind in enumerate(batch)]
            with writes.write_transaction(session, registry):
                writes.record(session, registry, events, now)
        checkpoints = list(session.exec(text("SELECT size, note FROM log_checkpoint ORDER BY size")).all())
        assert [size for size, _ in checkpoints] == list(itertools.accumulate(len(batch) for batch in batches))
        heads = [Checkpoint.from_text(open_note(note, registry.keyring.verifiers)[0]) for _, note in checkpoints]
        for i, first in enumerate(heads):
            for second in heads[i:]:
                proof = log.consistency_proof(session, first.size, second.size)
                merkle.verify_consistency(first.size, second.size, proof, first.root_hash, second.root_hash)
    registry.engine.dispose()


def test_log_key_rotation_overlap_then_retirement(registry: Registry, publisher: PublisherHandle) -> None:
    before = _register(registry, publisher, photo_bytes("rocket"))
    (old,) = registry.keyring.active_verifiers
    new = registry.keyring.rotate()
    during = _register(registry, publisher, photo_bytes("coffee"))
    for verifier in (old, new):  # a client holding either key still verifies
        verify_receipt(receipt_json(during.receipt), [verifier])
    registry.keyring.retire(old.key_id.hex())
    after = _register(registry, publisher, photo_bytes("chelsea"))
    verify_receipt(receipt_json(after.receipt), [new])
    with pytest.raises(errors.VerificationFailed):
        verify_receipt(receipt_json(after.receipt), [old])
    verify_receipt(receipt_json(before.receipt), [old])
    with registry.session() as session:
        assert audit(session, registry.keyring).ok  # retired keys still vouch for the checkpoints they signed
    with pytest.raises(errors.InvalidRequest, match="only active"):
        registry.keyring.retire(new.key_id.hex())


def test_publisher_key_rotation_needs_both_keys(registry: Registry, publisher: PublisherHandle) -> None:
    new = Ed25519PrivateKey.generate()
    request = sign_statement(
        publisher.private_key,
        new_statement(
            {
                "type": "key_rotation",
                "publisher_id": publisher.id,
                "old_key_id": publisher.key_id,
                "new_public_key": base64.b64encode(raw_public_key(new)).decode(),
            }
        ),
    )
    with pytest.raises(errors.InvalidSignature):
        # the new key never signed: no proof of possession
        LocalTransport(registry).rotate_key(request, new_signature=request.signature)
    _rotate(registry, publisher, publisher.private_key, new)
    with pytest.raises(errors.Forbidden, match="retired key"):
        _register(registry, publisher, photo_bytes("rocket"))
    registration = _register(registry, publisher, photo_bytes("rocket"), key=new)
    assert registration.key_id == _key_id(new)
    verify_receipt(receipt_json(registration.receipt), registry.keyring.verifiers, publisher_key=raw_public_key(new))


def _before_and_after_a_compromise(registry: Registry, publisher: PublisherHandle) -> tuple[datetime, bytes]:
    """Rocket registered 90 s ago, coffee 10 s ago: a compromise 60 s ago falls between them."""
    now = datetime.now(UTC)
    _register(registry, publisher, photo_bytes("rocket"), now=now - timedelta(seconds=90))
    late_content = encode(photo("coffee"), "PNG")
    _register(registry, publisher, late_content, now=now - timedelta(seconds=10))
    return now, late_content


def test_key_revocation_flags_what_the_key_signed_after_compromise(
    registry: Registry, publisher: PublisherHandle
) -> None:
    now, late_content = _before_and_after_a_compromise(registry, publisher)
    new = Ed25519PrivateKey.generate()
    _rotate(registry, publisher, publisher.private_key, new)
    client = publisher.client(LocalTransport(registry), new)
    revocation = client.revoke_key(publisher.key_id, now - timedelta(seconds=60))
    assert revocation.key_id == publisher.key_id
    assert _check(registry, late_content).matches[0].key_compromised  # registered after the compromise
    assert not _check(registry, photo_bytes("rocket")).matches[0].key_compromised  # before it

    with pytest.raises(errors.InvalidRequest, match="rotate to a new key first"):
        client.revoke_key(_key_id(new), now)


def test_content_revocation_is_reported_and_the_original_entry_still_proves(
    registry: Registry, publisher: PublisherHandle
) -> None:
    registration = _register(registry, publisher, photo_bytes("chelsea"))
    with registry.session() as session:
        client = publisher.client(LocalTransport(registry, session))
        revocation = client.revoke_registration(registration.id, "published in error")
        with pytest.raises(errors.Conflict, match="already revoked"):
            client.revoke_registration(registration.id)
        fresh = service.registration_receipt(session=session, registration_id=registration.id)
    match = _check(registry, photo_bytes("chelsea")).matches[0]
    assert match.revoked and match.revocation_log_index == revocation.log_index
    verify_receipt(receipt_json(fresh), registry.keyring.verifiers)
    verify_receipt(receipt_json(revocation.receipt), registry.keyring.verifiers)


def test_other_publishers_cannot_revoke(registry: Registry, publisher: PublisherHandle) -> None:
    registration = _register(registry, publisher, photo_bytes("chelsea"))
    other = make_publisher(registry, "Rival")
    with pytest.raises(errors.NotFound):
        other.client(LocalTransport(registry)).revoke_registration(registration.id)


def _revoke_lost(registry: Registry, publisher: PublisherHandle, key_id: str, since: datetime, **kw):  # type: ignore[no-untyped-def]
    with registry.session() as session:
        return publishers.revoke_lost_key(
            session=session,
            registry=registry,
            publisher_id=publisher.id,
            revoked_key_id=key_id,
            compromised_since=since,
            reason="laptop stolen",
            revoked_by="ops",
            **kw,
        )


def test_operator_revokes_a_lost_current_key_and_installs_its_replacement(
    registry: Registry, publisher: PublisherHandle
) -> None:
    now, late_content = _before_and_after_a_compromise(registry, publisher)
    with pytest.raises(errors.InvalidRequest, match="give the new_public_key"):
        _revoke_lost(registry, publisher, publisher.key_id, now - timedelta(seconds=60))

    new = Ed25519PrivateKey.generate()
    revocation = _revoke_lost(
        registry, publisher, publisher.key_id, now - timedelta(seconds=60), new_public_key=raw_public_key(new)
    )
    assert revocation.key_id == publisher.key_id
    assert _check(registry, late_content).matches[0].key_compromised  # signed after the compromise
    assert not _check(registry, photo_bytes("rocket")).matches[0].key_compromised  # before it
    with pytest.raises(errors.Forbidden, match="retired key"):
        _register(registry, publisher, photo_bytes("chelsea"))  # the lost key signs nothing more
    assert _register(registry, publisher, photo_bytes("chelsea"), key=new).key_id == _key_id(new)
    with pytest.raises(errors.Conflict, match="revoked already"):
        _revoke_lost(registry, publisher, publisher.key_id, now)

    with registry.session() as session:
        entry = json.loads(log.entries(session, revocation.log_index, revocation.log_index + 1)[0].entry)
        assert publishers.get_publisher(session=session, publisher_id=publisher.id).key_id == _key_id(new)
        assert audit(session, registry.keyring).ok
    assert entry["kind"] == "operator_key_revocation" and entry["reason"] == "laptop stolen"
    assert (entry["revoked_key_id"], entry["new_key_id"]) == (publisher.key_id, _key_id(new))
    with registry.engine.begin() as connection:
        connection.execute(text("DELETE FROM key_revocation"))
    with registry.session() as session:
        problems = audit(session, registry.keyring).problems
    assert any("(key_revocation) has no matching row" in problem for problem in problems)


def test_operator_revokes_a_retired_key_without_replacing_the_current_one(
    registry: Registry, publisher: PublisherHandle
) -> None:
    new = Ed25519PrivateKey.generate()
    _rotate(registry, publisher, publisher.private_key, new)
    with pytest.raises(errors.InvalidRequest, match="omit new_public_key"):
        _revoke_lost(registry, publisher, publisher.key_id, datetime.now(UTC), new_public_key=raw_public_key(new))
    with pytest.raises(errors.NotFound, match="no key"):
        _revoke_lost(registry, make_publisher(registry, "Rival"), publisher.key_id, datetime.now(UTC))
    _revoke_lost(registry, publisher, publisher.key_id, datetime.now(UTC) - timedelta(days=1))
    with registry.session() as session:
        assert publishers.get_publisher(session=session, publisher_id=publisher.id).key_id == _key_id(new)
        assert audit(session, registry.keyring).ok
    assert registry.audit_log(full=False).ok and registry.audit_log(full=False).ok  # the mark counts it


def test_ended_verification_stops_registration_but_not_revocation(
    registry: Registry, publisher: PublisherHandle
) -> None:
    registration = _register(registry, publisher, photo_bytes("coffee"))
    with registry.session() as session:
        view = publishers.set_verification(
            session=session,
            registry=registry,
            publisher_id=publisher.id,
            verification=publishers.Verification("m", "e", "ops", datetime.now(UTC)),
        )
    assert not view.verified
    with pytest.raises(errors.Forbidden, match="expired"):
        _register(registry, publisher, photo_bytes("rocket"))
    publisher.client(LocalTransport(registry)).revoke_registration(registration.id, "withdrawn after lapse")
    assert _check(registry, photo_bytes("coffee")).matches[0].revoked
    with registry.session() as session:
        kinds = [json.loads(row.entry)["kind"] for row in log.entries(session, 0, 100)]
    assert kinds == ["publisher_verification", "registration", "publisher_verification", "content_revocation"]


TAMPERS = {
    "leaf content": "UPDATE log_entry SET entry = replace(entry, 'registration_id', 'registration_iD') "
    "WHERE kind = 'registration'",
    "leaf hash": "UPDATE log_entry SET leaf_hash = randomblob(32) WHERE kind = 'registration'",
    "tree node": "UPDATE log_node SET hash = randomblob(32) WHERE level = 0 AND position = 0",
    "registration row": "UPDATE registration SET signature = 'AAAA' || substr(signature, 5)",
    "deleted registration": "DELETE FROM media_hash; DELETE FROM local_features; DELETE FROM registration",
    "deleted entry": "DELETE FROM log_entry WHERE log_index = (SELECT max(log_index) FROM log_entry)",
    "checkpoint": "UPDATE log_checkpoint SET note = replace(note, '\n1\n', '\n2\n')",
}


@pytest.mark.slow
@pytest.mark.parametrize("tamper", TAMPERS)
def test_audit_and_start_up_catch_a_tampered_store(
    settings: Settings, registry: Registry, publisher: PublisherHandle, tamper: str
) -> None:
    _register(registry, publisher, photo_bytes("rocket"))
    _register(registry, publisher, photo_bytes("coffee"))
    with registry.session() as session:
        assert audit(session, registry.keyring).ok
    with registry.engine.begin() as connection:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        for sql in TAMPERS[tamper].split("; "):
            connection.exec_driver_sql(sql)
    with registry.session() as session:
        report = audit(session, registry.keyring)
    assert not report.ok and report.problems

    restarted = Registry.open(settings)
    restarted.load()
    assert restarted.log_problem
    with pytest.raises(errors.LogTampered, match="refuses writes"):
        _register(restarted, publisher, photo_bytes("chelsea"))
    restarted.close()
