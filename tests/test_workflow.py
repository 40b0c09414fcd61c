"""The GitHub Actions workflows, checked against the project: the tox envs they call
exist, every OS they run has expectations, every action is pinned to a Node 24 release,
a failed leg never keeps the matrix from being published, a scheduled run is never
cancelled, every record is uploaded under a name of its own, the jobs that disable
something check that their record says so, and the commands the README shows are real."""

import configparser
import re
from itertools import product

import pytest
import yaml

from conformance.cli import COMMANDS, build_parser
from conformance.datafiles import expectation_files
from tests.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "conformance.yml"
CHECKS = ROOT / ".github" / "workflows" / "checks.yml"
RUNNER_OS = {"ubuntu": "linux", "macos": "darwin", "windows": "windows"}


def load(path) -> dict:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


@pytest.fixture(scope="module")
def workflow() -> dict:
    return load(WORKFLOW)


@pytest.fixture(scope="module")
def checks() -> dict:
    return load(CHECKS)


def tox_envs() -> set[str]:
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "tox.ini")
    envs = {section.split(":", 1)[1] for section in config.sections() if section.startswith("testenv:")}
    for item in re.split(r",\s*(?![^{]*\})", config["tox"]["env_list"].strip()):
        parts = [p.split(",") if p else [""] for p in re.split(r"[{}]", item)]
        envs |= {"".join(combo) for combo in product(*parts)}
    return envs


def gh_mapping() -> dict[str, str]:
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "tox.ini")
    lines = [line.split("=") for line in config["gh"]["python"].strip().splitlines()]
    return {version.strip(): env.strip() for version, env in lines}


def steps(workflow):
    for job in workflow["jobs"].values():
        yield from job.get("steps", [])


def test_every_tox_env_the_workflow_calls_exists(workflow, checks):
    envs = tox_envs()
    for step in [*steps(workflow), *steps(checks)]:
        for called in re.findall(r"tox -e ([\w,.=-]+)", step.get("run", "")):
            assert set(called.split(",")) <= envs, called
    mapping = gh_mapping()
    pythons = workflow["jobs"]["suite"]["strategy"]["matrix"]["python"]
    assert set(pythons) <= set(mapping), "every Python of the matrix needs a [gh] mapping"
    assert set(mapping.values()) <= envs


def test_every_os_the_workflow_runs_has_expectations(workflow):
    documented = set(expectation_files())
    labels = workflow["jobs"]["suite"]["strategy"]["matrix"]["os"]
    for label in labels:
        assert RUNNER_OS[label.split("-")[0]] in documented, label
    for entry in workflow["jobs"]["bsd"]["strategy"]["matrix"]["include"]:
        assert entry["os"] in documented, entry["os"]


def test_every_action_is_pinned(workflow):
    uses = [step["uses"] for step in steps(workflow) if "uses" in step]
    assert uses
    for ref in uses:
        version = ref.split("@", 1)[1]
        assert re.fullmatch(r"[0-9a-f]{40}", version) or re.fullmatch(r"v\d+\.\d+\.\d+", version), ref


def test_least_privilege(workflow):
    assert workflow["permissions"] == {"contents": "read"}
    writers = {name for name, job in workflow["jobs"].items() if "permissions" in job}
    assert writers == {"publish"}
    assert workflow["jobs"]["publish"]["permissions"] == {"pages": "write", "id-token": "write"}


def test_the_matrix_does_not_stop_at_the_first_failure(workflow):
    assert workflow["jobs"]["suite"]["strategy"]["fail-fast"] is False
    assert workflow["jobs"]["bsd"]["continue-on-error"] is True
    measuring = {name for name, job in workflow["jobs"].items() if writes_records(job)}
    assert set(workflow["jobs"]["aggregate"]["needs"]) == measuring


def test_no_two_jobs_record_the_same_column(workflow):
    """The report refuses two records of one platform and variant: a job that runs
    every variant on an image and Python the suite job also runs drops its default."""
    suite = workflow["jobs"]["suite"]["strategy"]["matrix"]
    for name, job in workflow["jobs"].items():
        runs = " ".join(step.get("run", "") for step in job.get("steps", []))
        python = next((step["with"]["python-version"] for step in job.get("steps", [])
                       if "setup-python" in step.get("uses", "")), None)
        on_the_host = "--runtime" not in runs  # a runtime's records are columns of their own
        if "--variant all" in runs and on_the_host and job["runs-on"] in suite["os"] and python in suite["python"]:
            assert "rm -f reports/runs/*-default.json" in runs, name
    artifacts = [step["with"]["name"] for step in steps(workflow) if "upload-artifact" in step.get("uses", "")]
    assert len(artifacts) == len(set(artifacts))
    download = next(step for step in steps(workflow) if "download-artifact" in step.get("uses", ""))
    assert not download["with"].get("merge-multiple")  # same-named records of two jobs must not overwrite


def readme_commands() -> list[str]:
    blocks = re.findall(r"```(?:sh|bash)?\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith(("tox", "dualstack"))]


def test_every_command_the_readme_shows_exists():
    commands = readme_commands()
    assert any(c.startswith("tox -e tests") for c in commands)
    assert any(c.startswith("tox -e conformance") for c in commands)
    envs = tox_envs()
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for command in commands:
        words = command.split()
        if words[0] == "tox":
            assert words[2] in envs, command
            continue
        assert words[1] in COMMANDS, command
        known = {opt for action in subparsers[words[1]]._actions for opt in action.option_strings}
        for word in words[2:]:
            option = word.strip("[]").split("=")[0]
            if option.startswith("--"):
                assert option in known, f"{command}: {option}"


# --- GitHub's expressions, evaluated the way the runner does for these conditions ------

TOKEN = re.compile(r"\s*(?:(?P<str>'[^']*')|(?P<op>&&|\|\||==|!=|!|\(|\)|,)|(?P<name>[A-Za-z_][\w.-]*))")
STATUS_FUNCTIONS = ("success", "failure", "cancelled", "always")


def evaluate(expression, context: dict):
    """A condition or value as GitHub evaluates it: && and || return an operand, ! negates,
    status functions read the context, format() formats; names are context keys."""
    text = str(expression).strip()
    if text.startswith("${{"):
        text = text[3:-2]
    python, pos = [], 0
    while pos < len(text.rstrip()):
        match = TOKEN.match(text, pos)
        assert match, f"cannot read {text[pos:]!r}"
        pos = match.end()
        if match["str"] is not None:
            python.append(repr(match["str"][1:-1]))
        elif match["op"]:
            python.append({"&&": " and ", "||": " or ", "!": " not "}.get(match["op"], match["op"]))
        elif text[pos:pos + 1] == "(":
            python.append(f"fn_{match['name']}")
        elif match["name"] in ("true", "false"):
            python.append(str(match["name"] == "true").title())
        else:
            python.append(repr(context[match["name"]]))
    functions = {f"fn_{name}": (lambda n=name: context[f"{n}()"]) for name in STATUS_FUNCTIONS}
    functions["fn_format"] = lambda template, *args: template.format(*args)
    return eval("".join(python), functions)  # the expression of our own workflow file


def interpolate(value: str, context: dict) -> str:
    """A string with ${{ }} inside, as GitHub renders it."""
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: str(evaluate(m[1], context)), value)


def job_runs(job: dict, context: dict) -> bool:
    """Without a status function in its `if`, GitHub runs a job only when every job
    before it succeeded (an implicit success())."""
    condition = str(job.get("if", "true"))
    if not any(f"{name}()" in condition for name in STATUS_FUNCTIONS):
        condition = f"success() && ({condition.removeprefix('${{').removesuffix('}}')})"
    return bool(evaluate(condition, context))


ON_MAIN = {"github.ref": "refs/heads/main", "github.event.repository.default_branch": "main",
           "github.event_name": "push", "github.run_id": "42"}


def test_publish_runs_when_a_suite_leg_fails(workflow):
    """One leg failed (success() is false downstream), nothing was cancelled: the
    aggregate job merges what exists and publish publishes it."""
    after_a_failed_leg = dict(ON_MAIN, **{"success()": False, "failure()": True, "cancelled()": False,
                                          "always()": True, "needs.aggregate.result": "success"})
    assert "suite" in workflow["jobs"]["aggregate"]["needs"]
    assert job_runs(workflow["jobs"]["aggregate"], after_a_failed_leg)
    assert job_runs(workflow["jobs"]["publish"], after_a_failed_leg)
    failed_aggregate = dict(after_a_failed_leg, **{"needs.aggregate.result": "failure"})
    assert not job_runs(workflow["jobs"]["publish"], failed_aggregate)  # no half-built site
    cancelled = dict(after_a_failed_leg, **{"cancelled()": True})
    assert not job_runs(workflow["jobs"]["publish"], cancelled)
    pull_request = dict(after_a_failed_leg, **{"github.event_name": "pull_request", "github.ref": "refs/pull/7/merge"})
    assert not job_runs(workflow["jobs"]["publish"], pull_request)


def test_a_deviation_does_not_fail_the_run_step_but_a_broken_run_does(workflow):
    for name in ("suite", "linux-variants", "container-no-ipv6"):
        run = next(s["run"] for s in workflow["jobs"][name]["steps"] if "status=$?" in s.get("run", ""))
        assert 'if [ "$status" -ge 2 ]; then exit "$status"; fi' in run, name


def concurrency(workflow, **event) -> tuple[str, bool]:
    context = dict(ON_MAIN, **event)
    rule = workflow["concurrency"]
    return interpolate(rule["group"], context), bool(evaluate(rule["cancel-in-progress"], context))


def test_concurrency_never_cancels_a_scheduled_run(workflow):
    scheduled, cancels = concurrency(workflow, **{"github.event_name": "schedule", "github.run_id": "100"})
    pushed, push_cancels = concurrency(workflow, **{"github.run_id": "101"})
    next_push, _ = concurrency(workflow, **{"github.run_id": "102"})
    assert not cancels and scheduled != pushed  # a push to main cannot cancel it, nor can it a push
    assert push_cancels and pushed == next_push  # pushes of one ref still replace each other
    other_week, _ = concurrency(workflow, **{"github.event_name": "schedule", "github.run_id": "200"})
    assert other_week != scheduled


def writes_records(job: dict) -> bool:
    runs = " ".join(str(step.get("run", "")) + str(step.get("with", {}).get("run", "")) for step in job["steps"])
    return any(command in runs for command in ("tox -- ", "dualstack run", "conformance.cli run",
                                               "conformance.subjects.docker"))


def legs(job: dict) -> list[dict]:
    matrix = job.get("strategy", {}).get("matrix", {})
    axes = {k: v for k, v in matrix.items() if k not in ("include", "exclude")}
    combos = [dict(zip(axes, values, strict=True)) for values in product(*axes.values())] if axes else []
    return combos + list(matrix.get("include", [])) or [{}]


def rendered(text: str, leg: dict) -> str:
    return re.sub(r"\$\{\{\s*matrix\.([\w-]+)\s*\}\}", lambda m: str(leg[m[1]]), text)


def test_every_job_that_writes_a_record_uploads_it_under_a_unique_name(workflow):
    names = []
    for name, job in workflow["jobs"].items():
        if not writes_records(job):
            continue
        uploads = [s for s in job["steps"] if "upload-artifact" in s.get("uses", "")]
        assert len(uploads) == 1, name
        upload = uploads[0]
        assert "!cancelled()" in upload.get("if", ""), f"{name}: a failed run must still upload its record"
        assert upload["with"]["path"] == "reports/runs/*.json", name
        names += [rendered(upload["with"]["name"], leg) for leg in legs(job)]
    assert len(names) == len(set(names)), sorted(names)
    assert len(names) == 24 + 1 + 1 + 1 + 2 + 2  # suite legs, variants, runtimes, container, BSDs, Docker


def test_every_job_that_writes_a_record_is_judged_with_what_it_promised(workflow):
    for name, job in workflow["jobs"].items():
        if writes_records(job):
            judge = next(s for s in job["steps"] if s.get("name") == "Judge this leg")
            assert "!cancelled()" in judge["if"], name
            runs = " ".join(str(s.get("run", "")) + str(s.get("with", {}).get("run", "")) for s in job["steps"])
            assert "matrix.leg reports/runs --promise" in runs, name


def step_text(job: dict) -> str:
    return "\n".join(str(step.get("run", "")) for step in job["steps"])


def test_the_container_job_checks_its_record_says_ipv6_is_off(workflow):
    job = workflow["jobs"]["container-no-ipv6"]
    text = step_text(job)
    assert "--sysctl net.ipv6.conf.all.disable_ipv6=1" in text
    assert "jq -e '.facts.has_ipv6 == false' reports/runs/*.json" in text
    assert "iproute2" in text  # ss, for listeners no loopback client reaches
    assert "/opt/go/bin:/opt/node/bin" in text  # Go and Node subjects run there too


def test_the_docker_job_runs_with_and_without_the_daemons_ipv6_and_checks_both(workflow):
    job = workflow["jobs"]["docker"]
    assert sorted(leg["daemon-ipv6"] for leg in legs(job)) == ["off", "on"]
    text = step_text(job)
    assert "docker network inspect bridge --format '{{.EnableIPv6}}'" in text
    assert "--daemon-ipv6 ${{ matrix.daemon-ipv6 }}" in text
    assert """.facts.knobs["docker.bridge.EnableIPv6"] == $want""" in text


def test_ci_reaches_the_suite_everywhere(workflow):
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "tox.ini")
    assert "CI" in config["testenv"]["pass_env"].split()
    variants = step_text(workflow["jobs"]["linux-variants"])
    assert 'sudo -E env "PATH=$PATH"' in variants  # sudo's secure_path would drop setup-go's PATH
    assert "-e CI " in step_text(workflow["jobs"]["container-no-ipv6"])


def test_the_weekly_diff_fails_on_a_lost_exit_status_and_warns_on_a_changed_verdict(workflow):
    assert workflow["defaults"]["run"]["shell"] == "bash"  # GitHub runs it as bash -eo pipefail
    step = next(s for s in workflow["jobs"]["aggregate"]["steps"] if "dualstack diff" in s.get("run", ""))
    assert "| tee diff.md || status=$?" in step["run"] and "::warning title=Behaviour changed::" in step["run"]


# The first major of each action that runs on Node 24 (each action's release notes).
NODE24_MAJOR = {"checkout": 5, "setup-python": 6, "setup-go": 6, "setup-node": 5, "upload-artifact": 6,
                "download-artifact": 7, "upload-pages-artifact": 5, "deploy-pages": 5}


@pytest.mark.parametrize("path", [WORKFLOW, CHECKS], ids=lambda p: p.name)
def test_every_actions_pin_is_a_node_24_release(path):
    pins = re.findall(r"uses: actions/([\w-]+)@([0-9a-f]{40}) # v(\d+)", path.read_text())
    uses = re.findall(r"uses: actions/", path.read_text())
    assert pins and len(pins) == len(uses)  # every actions/* pin is a SHA with its version
    for action, _, major in pins:
        assert int(major) >= NODE24_MAJOR[action], action


def test_the_node_subject_runs_on_a_supported_node_and_macos_is_compared_with_itself(workflow):
    versions = {step["with"]["node-version"] for step in steps(workflow) if "setup-node" in step.get("uses", "")}
    assert versions and versions <= {22, 24}
    macs = [os for os in workflow["jobs"]["suite"]["strategy"]["matrix"]["os"] if os.startswith("macos")]
    assert sorted(macs) == ["macos-15", "macos-15-intel"]  # arm64 and x86_64 of one macOS


def test_the_projects_tests_run_on_every_push_and_pull_request_on_three_oses(checks):
    assert set(checks["on"]) == {"push", "pull_request"} and not checks["on"]["push"]  # every branch
    job = checks["jobs"]["checks"]
    oses = {leg["os"].split("-")[0] for leg in legs(job)}
    assert oses == {"ubuntu", "macos", "windows"}
    assert any(s.get("run") == "tox -e tests" and "if" not in s for s in job["steps"])
    lint = next(s for s in job["steps"] if s.get("run") == "tox -e lint")
    assert [leg["os"] for leg in legs(job) if leg["lint"]] == ["ubuntu-latest"] and lint["if"] == "${{ matrix.lint }}"


def test_dependabot_keeps_the_action_pins_current():
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    assert {u["package-ecosystem"] for u in config["updates"]} == {"github-actions"}
