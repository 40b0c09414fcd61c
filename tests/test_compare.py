"""matrix.compare: two records of one machine, cell by cell, ignoring timings."""

from __future__ import annotations

import copy

from matrix.compare import compare


def record(*cells):
    return {"results": list(cells)}


CELL = {"id": "connect/tcp/bind=::/v6only=0/client=ipv4", "params": {"proto": "tcp"}, "verdict": "conforms",
        "observed": {"outcome": "ok", "peer": "::ffff:127.0.0.1", "notes": ["a"]}, "duration_ms": 1.0}


def test_timings_and_notes_do_not_count():
    other = copy.deepcopy(CELL)
    other["duration_ms"], other["observed"]["notes"] = 9.0, ["b"]
    assert compare(record(CELL), record(other)) == []


def test_an_observation_that_changed_is_named():
    other = copy.deepcopy(CELL)
    other["observed"]["outcome"] = "refused"
    (line,) = compare(record(CELL), record(other))
    assert line.startswith(CELL["id"]) and "refused" in line


def test_cells_only_one_record_has_are_listed():
    assert compare(record(CELL), record()) == [f"only in old: {CELL['id']}"]
