"""The pytest plugin that runs scenarios and writes the run record.

Workers (pytest-xdist) and the controller each measure the machine's facts and judge
their cells; every cell's result travels to the controller on the test report
(``user_properties``), and only the controller writes the record, once per run.
"""

from __future__ import annotations

import fnmatch
import json
import time
from collections import Counter
from datetime import datetime, timezone

import pytest

from conformance import probe, runtimes
from conformance.facts import measure
from conformance.known import judge_known
from conformance.model import expect, load_platform
from conformance.observation import Observation
from conformance.result import deviation_message, result_entry
from conformance.run_record import build_record
from conformance.verdict import judge
from matrix import record

RESULT_KEY = "dualstack_result"


def pytest_addoption(parser):
    group = parser.getgroup("dualstack", "dualstack-conformance")
    group.addoption("--dualstack-record", metavar="PATH", default=None,
                    help="write the run record (JSON, schema dualstack-conformance/run/1) to PATH")
    group.addoption("--dualstack-variant", metavar="NAME", default="default",
                    help="name of the platform variant this run is (default: default)")
    group.addoption("--dualstack-cells", metavar="PATTERN", action="append", default=[],
                    help="run only cells whose semantic id matches this glob (repeatable), "
                         "e.g. 'connect/udp/*' or 'connect/tcp/bind=::/v6only=default/client=ipv4'")
    group.addoption("--dualstack-expectations", metavar="DIR", default=None,
                    help="read <os>.toml expectations from DIR instead of the packaged ones")
    group.addoption("--dualstack-runtime", metavar="NAME", default=runtimes.HOST,
                    help="the runtime this run is inside (host, gvisor, uml): named in the record; its known "
                         "deviations (conformance/data/known/NAME.toml) are recorded and do not fail")


WALK_ID = "model/any/check=state-machine"


def cell_id(item) -> str:
    """The semantic id of a suite test: its scenario's, or the state machine's."""
    scenario = getattr(item, "callspec", None) and item.callspec.params.get("scenario")
    return scenario.id if scenario is not None else WALK_ID


def pytest_collection_modifyitems(config, items):
    runtime = config.getoption("dualstack_runtime")
    for item in items:
        reason = runtimes.skipped_cell(runtime, cell_id(item))
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=reason))
    patterns = config.getoption("dualstack_cells")
    if not patterns:
        return
    keep, drop = [], []
    for item in items:
        (keep if any(fnmatch.fnmatchcase(cell_id(item), p) for p in patterns) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # the controller, or a run without xdist
        config.pluginmanager.register(RunRecorder(config), "dualstack-recorder")


@pytest.fixture(scope="session")
def dualstack_facts():
    return measure()


@pytest.fixture(scope="session")
def dualstack_platform(dualstack_facts, pytestconfig):
    return load_platform(dualstack_facts.os, pytestconfig.getoption("dualstack_expectations"))


@pytest.fixture
def check_scenario(request, dualstack_facts, dualstack_platform):
    """Observe a scenario, judge it, attach the result to the report, and fail the
    test on a deviation (skip it when unsupported or skipped)."""

    def run(scenario):
        expectation = expect(scenario, dualstack_platform, dualstack_facts)
        started = time.perf_counter()
        try:
            observation = probe.observe(scenario)
        except Exception as exc:  # the harness broke: record it, then let pytest show it
            entry = result_entry(scenario, Observation(outcome="error"), expectation, "error", [],
                                 (time.perf_counter() - started) * 1000, reason=f"{type(exc).__name__}: {exc}")
            request.node.user_properties.append((RESULT_KEY, json.dumps(entry)))
            raise
        duration_ms = (time.perf_counter() - started) * 1000
        verdict, found = judge(observation, expectation)
        reason = None
        if observation.stage == "precondition":
            reason = "; ".join(observation.notes)
        elif verdict in ("unsupported", "skipped") and expectation.reasons:
            reason = expectation.reasons[0].because
        entry = result_entry(scenario, observation, expectation, verdict, found, duration_ms, reason)
        runtime = request.config.getoption("dualstack_runtime")
        fails = judge_known(runtime, entry)
        request.node.user_properties.append((RESULT_KEY, json.dumps(entry)))
        if "known" in entry:
            pytest.xfail(f"known deviation of {runtime} ({entry['known']['cause']}): {entry['known']['source']}")
        if fails:
            pytest.fail(deviation_message(entry, dualstack_platform), pytrace=False)
        if verdict in ("unsupported", "skipped"):
            pytest.skip(f"{verdict}: {reason}")
        return entry

    return run


class RunRecorder:
    """Controller-side: collects results from reports, writes the record, summarises."""

    def __init__(self, config):
        self.config = config
        self.path = config.getoption("dualstack_record")
        self.variant = config.getoption("dualstack_variant")
        self.runtime = config.getoption("dualstack_runtime")
        self.results: dict[str, dict] = {}
        self.started = datetime.now(timezone.utc)
        self.written: str | None = None
        self.write_error: str | None = None

    def pytest_runtest_logreport(self, report):
        for key, value in report.user_properties:
            if key == RESULT_KEY:
                entry = json.loads(value)
                self.results[entry["id"]] = entry

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        if not self.path or not self.results:
            return
        workers = getattr(self.config.option, "numprocesses", None) or 0
        data = build_record(measure(), sorted(self.results.values(), key=lambda e: e["id"]),
                            variant=self.variant, runtime=self.runtime, started=self.started, workers=int(workers),
                            exit_status=int(exitstatus))
        try:
            record.write(self.path, data)
            self.written = self.path
        except (record.RecordError, OSError) as exc:
            self.write_error = str(exc)
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR

    def pytest_terminal_summary(self, terminalreporter):
        if not self.results:
            return
        tr = terminalreporter
        counts = Counter(e["verdict"] for e in self.results.values())
        tr.section("dualstack-conformance")
        order = ["conforms", "informational", "unsupported", "skipped", "deviates", "error"]
        tr.write_line("verdicts: " + ", ".join(f"{counts[v]} {v}" for v in order if counts[v]))
        known = sum(1 for e in self.results.values() if "known" in e)
        if known:
            tr.write_line(f"{known} of the deviations are known deviations of {self.runtime}, each with its source")
        for entry in sorted(self.results.values(), key=lambda e: e["id"]):
            if entry["verdict"] in ("deviates", "error"):
                detail = "; ".join(f"{d['field']}: expected {d['expected']!r}, observed {d['observed']!r}"
                                   for d in entry.get("differences", [])) or entry.get("reason", "")
                if "known" in entry:
                    tr.write_line(f"  KNOWN {entry['id']}: {detail} ({entry['known']['cause']})")
                else:
                    tr.write_line(f"  {entry['verdict'].upper()} {entry['id']}: {detail}", red=True)
        if self.written:
            tr.write_line(f"record written to {self.written}")
        if self.write_error:
            tr.write_line(f"record NOT written: {self.write_error}", red=True)
