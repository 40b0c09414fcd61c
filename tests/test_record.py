"""The run record contract: its schema rejects what it must, and writes are atomic."""

import copy
import json
from datetime import datetime, timezone

import pytest

from conformance.machine import measure
from conformance.run_record import build_record, record_name
from matrix import record

RESULT = {
    "id": "connect/tcp/bind=::/v6only=default/client=ipv4",
    "family": "connect",
    "params": {"proto": "tcp", "bind": "::", "v6only": "default", "client": "ipv4"},
    "observed": {"outcome": "ok", "peer": "::ffff:127.0.0.1", "effective_v6only": 0},
    "expected": {"outcome": "ok", "because": "b", "source": "https://example.invalid", "sources": []},
    "verdict": "conforms",
    "reproducer": "import socket\n",
    "duration_ms": 0.4,
}


@pytest.fixture
def good():
    return build_record(measure(), [copy.deepcopy(RESULT)], variant="default",
                        started=datetime.now(timezone.utc))


def test_a_built_record_validates(good):
    record.validate(good)
    assert record_name(good["platform"]).endswith("-default.json")


@pytest.mark.parametrize("mutate,field", [
    (lambda r: r["results"][0].update(verdict="maybe"), "field results/0/verdict"),
    (lambda r: r["results"][0]["observed"].update(errno="98"), "field results/0/observed/errno"),
    (lambda r: r["facts"].pop("has_mapped"), "field facts"),
    (lambda r: r["platform"].update(variant="Bad Name!"), "field platform/variant"),
    (lambda r: r["results"][0].update(verdict="deviates", expected={"because": "x"}), "results/0/expected"),
])
def test_a_violating_record_is_rejected_naming_the_field(good, mutate, field):
    mutate(good)
    with pytest.raises(record.RecordError, match=field):
        record.validate(good, origin="run.json")


def test_another_schema_version_is_named(good):
    good["schema"] = "dualstack-conformance/run/2"
    with pytest.raises(record.RecordError, match="run/2.*is not"):
        record.validate(good)


def test_load_names_the_file_of_a_broken_record(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"schema": ')
    with pytest.raises(record.RecordError, match=r"broken.json: not JSON"):
        record.load(path)


def test_invalid_record_is_not_written(tmp_path, good):
    path = tmp_path / "run.json"
    path.write_text("previous")
    good["results"][0]["verdict"] = "maybe"
    with pytest.raises(record.RecordError):
        record.write(path, good)
    assert path.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_write_is_atomic_and_valid(tmp_path, good):
    path = tmp_path / "run.json"
    record.write(path, good)
    assert json.loads(path.read_text())["results"][0]["id"] == RESULT["id"]
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]
