"""Known deviations: gVisor is judged by Linux's documents; a difference its own source
explains is recorded as such and does not fail the run, any other difference does."""

import fnmatch
import re

import pytest

from conformance.families import all_scenarios
from conformance.known import deviations, judge_known, known_deviation

MAPPED_ON_V6ONLY = "connect/tcp/bind=::ffff:127.0.0.1/v6only=1/client=ipv4"
EHOSTUNREACH = {"field": "errno", "expected": "EINVAL", "observed": "EHOSTUNREACH"}


def deviating(cell: str, *differences: dict) -> dict:
    return {"id": cell, "verdict": "deviates", "differences": list(differences)}


def test_a_difference_gvisors_source_explains_is_known_and_does_not_fail():
    entry = deviating(MAPPED_ON_V6ONLY, EHOSTUNREACH)
    assert judge_known("gvisor", entry) is False
    assert entry["verdict"] == "deviates"  # still not what Linux documents
    assert entry["known"]["cause"] == "mapped-address-on-v6only-socket"
    assert entry["known"]["source"].startswith("https://github.com/google/gvisor/blob/release-20221219.0/")
    assert "EHOSTUNREACH" in entry["known"]["reason"]


def test_an_unexplained_difference_fails():
    entry = deviating(MAPPED_ON_V6ONLY, EHOSTUNREACH, {"field": "peer", "expected": "::ffff:127.0.0.1",
                                                       "observed": "127.0.0.1"})
    assert judge_known("gvisor", entry) is True
    assert "known" not in entry


def test_the_same_field_with_another_value_is_not_explained():
    other_errno = {"field": "errno", "expected": "EINVAL", "observed": "EADDRINUSE"}
    assert known_deviation("gvisor", MAPPED_ON_V6ONLY, [other_errno]) is None


def test_the_explanation_holds_only_for_the_cells_it_names():
    assert known_deviation("gvisor", "connect/tcp/bind=::/v6only=1/client=ipv4", [EHOSTUNREACH]) is None


def test_the_host_and_uml_have_no_known_deviations_they_are_linux():
    for runtime in ("host", "uml"):
        entry = deviating(MAPPED_ON_V6ONLY, EHOSTUNREACH)
        assert judge_known(runtime, entry) is True


def test_a_cell_that_conforms_never_fails_and_gets_no_explanation():
    entry = {"id": MAPPED_ON_V6ONLY, "verdict": "conforms"}
    assert judge_known("gvisor", entry) is False and "known" not in entry


@pytest.mark.parametrize("entry", deviations("gvisor"), ids=lambda e: e["cause"])
def test_every_known_deviation_names_real_cells_and_a_pinned_gvisor_source(entry):
    ids = [s.id for s in all_scenarios()]
    for glob in entry["cells"]:
        assert any(fnmatch.fnmatchcase(i, glob) for i in ids), f"{glob} matches no cell of the catalogue"
    assert re.match(r"https://github\.com/google/gvisor/(blob/(release-[0-9.]+|[0-9a-f]{40})/|issues/\d+)",
                    entry["source"])
    assert entry["reason"].strip() and entry["differences"]
