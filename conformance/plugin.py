"""The pytest plugin that runs scenarios and writes the run record.

One owner for the record: the controller (the process without pytest-xdist, or xdist's
controller) measures this machine once, hands that measurement to every worker
(``workerinput``), judges nothing itself and writes the record once, at the end. Every
cell's result travels to it on the test report (``user_properties``). An interrupted
run writes no record at all; a run of selected cells writes one that says it is partial.
"""

from __future__ import annotations

import fnmatch
import json
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any

import pytest

from conformance import runtimes
from conformance.families import expect, observe
from conformance.known import judge_known
from conformance.machine import Machine, measure
from conformance.observation import Observation
from conformance.platform_model import Platform, load_platform
from conformance.result import deviation_message, result_entry
from conformance.run_record import build_record, record_exit_status
from conformance.scenario import Scenario
from conformance.verdict import judge
from conformance.vocabulary import VERDICT_ORDER, Outcome, Verdict
from matrix import record

RESULT_KEY = "dualstack_result"
MACHINE_KEY = "dualstack_machine"
machine_stash = pytest.StashKey[Machine]()


def pytest_addoption(parser):
    group = parser.getgroup("dualstack", "dualstack-conformance")
    group.addoption("--dualstack-record", metavar="PATH", default=None,
                    help="write the run record (JSON, schema dualstack-conformance/run/1) to PATH")
    group.addoption("--dualstack-record-as", metavar="PATH", default=None,
                    help="the path the record will be promoted to, for the summary (dualstack run passes it)")
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


def cell_id(item) -> str | None:
    callspec = getattr(item, "callspec", None)
    scenario = callspec.params.get("scenario") if callspec else None
    return scenario.id if isinstance(scenario, Scenario) else None


def pytest_collection_modifyitems(config, items):
    patterns = config.getoption("dualstack_cells")
    if not patterns:
        return
    keep, drop = [], []
    for item in items:
        cell = cell_id(item)
        (keep if cell is not None and any(fnmatch.fnmatchcase(cell, p) for p in patterns) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_configure(config):
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:  # an xdist worker: judge with the controller's measurement
        config.stash[machine_stash] = Machine.from_json(json.loads(workerinput[MACHINE_KEY]))
        return
    config.stash[machine_stash] = measure()
    config.pluginmanager.register(RunRecorder(config), "dualstack-recorder")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """xdist: hand the controller's measurement of this machine to a new worker."""
    node.workerinput[MACHINE_KEY] = json.dumps(node.config.stash[machine_stash].as_json())


@pytest.fixture(scope="session")
def dualstack_machine(pytestconfig) -> Machine:
    return pytestconfig.stash[machine_stash]


@pytest.fixture(scope="session")
def dualstack_platform(dualstack_machine, pytestconfig) -> Platform | None:
    return load_platform(dualstack_machine.os, pytestconfig.getoption("dualstack_expectations"))


@pytest.fixture
def check_scenario(request, dualstack_machine, dualstack_platform):
    """Observe a scenario, judge it, attach the result to the report, and fail the
    test on a deviation (skip it when unsupported or skipped)."""

    def run(scenario: Scenario) -> dict[str, Any]:
        expectation = expect(scenario, dualstack_platform, dualstack_machine)
        runtime = request.config.getoption("dualstack_runtime")
        cannot = runtimes.skipped_cell(runtime, scenario.id)  # a cell this runtime cannot judge, and why
        started = time.perf_counter()
        try:
            observation = Observation(outcome=Outcome.UNSUPPORTED, stage="precondition", notes=[cannot]) \
                if cannot is not None else observe(scenario, dualstack_machine, dualstack_platform)
        except Exception as exc:  # the harness broke: record it, then let pytest show it
            entry = result_entry(scenario, Observation(outcome=Outcome.ERROR), expectation, Verdict.ERROR, [],
                                 (time.perf_counter() - started) * 1000, reason=f"{type(exc).__name__}: {exc}")
            request.node.user_properties.append((RESULT_KEY, json.dumps(entry)))
            raise
        duration_ms = (time.perf_counter() - started) * 1000
        verdict, found = judge(observation, expectation)
        reason = None
        if observation.stage == "precondition":
            reason = "; ".join(observation.notes)
        elif verdict in (Verdict.UNSUPPORTED, Verdict.SKIPPED) and expectation.reasons:
            reason = expectation.reasons[0].because
        entry = result_entry(scenario, observation, expectation, verdict, found, duration_ms, reason)
        fails = judge_known(runtime, entry)
        request.node.user_properties.append((RESULT_KEY, json.dumps(entry)))
        if "known" in entry:
            pytest.xfail(f"known deviation of {runtime} ({entry['known']['cause']}): {entry['known']['source']}")
        if fails:
            pytest.fail(deviation_message(entry, dualstack_platform), pytrace=False)
        if verdict in (Verdict.UNSUPPORTED, Verdict.SKIPPED):
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
        self.cells = config.getoption("dualstack_cells")
        self.results: dict[str, dict] = {}
        self.started = datetime.now(timezone.utc)
        self.written: str | None = None
        self.write_error: str | None = None
        self.interrupted = False

    def pytest_runtest_logreport(self, report):
        for key, value in report.user_properties:
            if key == RESULT_KEY:
                entry = json.loads(value)
                self.results[entry["id"]] = entry

    def pytest_keyboard_interrupt(self, excinfo):
        self.interrupted = True

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            self.interrupted = True
        if not self.path or not self.results or self.interrupted:
            return  # an interrupted run leaves whatever record was there untouched
        workers = getattr(self.config.option, "numprocesses", None) or 0
        data = build_record(self.config.stash[machine_stash], sorted(self.results.values(), key=lambda e: e["id"]),
                            variant=self.variant, runtime=self.runtime, started=self.started, workers=int(workers),
                            exit_status=record_exit_status(int(exitstatus)), cells=self.cells)
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
        tr.write_line("verdicts: " + ", ".join(f"{counts[v]} {v}" for v in VERDICT_ORDER if counts[v]))
        known = sum(1 for e in self.results.values() if "known" in e)
        if known:
            tr.write_line(f"{known} of the deviations are known deviations of {self.runtime}, each with its source")
        for entry in sorted(self.results.values(), key=lambda e: e["id"]):
            if entry["verdict"] in (Verdict.DEVIATES, Verdict.ERROR):
                detail = "; ".join(f"{d['field']}: expected {d['expected']!r}, observed {d['observed']!r}"
                                   for d in entry.get("differences", [])) or entry.get("reason", "")
                if "known" in entry:
                    tr.write_line(f"  KNOWN {entry['id']}: {detail} ({entry['known']['cause']})")
                else:
                    tr.write_line(f"  {entry['verdict'].upper()} {entry['id']}: {detail}", red=True)
        skipped = Counter(e.get("reason") for e in self.results.values()
                          if e["verdict"] == Verdict.SKIPPED and e.get("reason"))
        for reason, count in skipped.most_common():
            tr.write_line(f"  skipped {count}: {reason}", yellow=True)
        if self.interrupted:
            tr.write_line("interrupted: no record written", red=True)
        if self.written:
            tr.write_line(f"record written to {self.config.getoption('dualstack_record_as') or self.written}")
        if self.write_error:
            tr.write_line(f"record NOT written: {self.write_error}", red=True)
