"""The database side of the log: node reads stay key lookups, appends match the pure implementation."""

from __future__ import annotations

from datetime import UTC, datetime

from registry.log import merkle
from registry.log import store as log
from registry.runtime import Registry
from registry.writes import record, write_transaction


def test_node_reads_are_primary_key_lookups_not_scans(registry: Registry) -> None:
    """A row-value IN made SQLite scan the whole node table: 200 ms per proof at a million entries."""
    query = log._nodes_query(3)
    compiled = query.compile(registry.engine)
    params = compiled.construct_params({"l0": 0, "p0": 0, "l1": 1, "p1": 0, "l2": 0, "p2": 3})
    with registry.engine.connect() as connection:
        plan = connection.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {compiled}", tuple(params[name] for name in compiled.positiontup)
        ).all()
    details = " | ".join(str(row[-1]) for row in plan)
    assert "SEARCH log_node USING" in details and "SCAN log_node" not in details


def test_batched_appends_store_the_same_tree_as_the_reference(registry: Registry) -> None:
    now = datetime.now(UTC)
    with registry.session() as session:
        for batch in (1, 7, 1, 16, 3):
            with write_transaction(session, registry):
                record(session, registry, [log.Event("test", f"s{i}", {"i": i}) for i in range(batch)], now)
        rows = log.entries(session, 0, 1000)
        reference = merkle.root_from_leaf_hashes([row.leaf_hash for row in rows])
        size = log.size(session)
        assert size == 28 and merkle.root(size, log.DbNodes(session)) == reference
        for index in (0, 13, 27):
            proof = log.inclusion_proof(session, index, size)
            merkle.verify_inclusion(rows[index].leaf_hash, index, size, proof, reference)
