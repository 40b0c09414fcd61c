"""The ``dualstack`` command: run the suite, build the report, diff two matrices.

Exit status of ``run``: 0 every cell conforms or is informational, unsupported or
skipped; 1 a cell deviates from what the platform documents, or the harness broke;
2 bad input (an unknown option, an output path that cannot be written); 3 the run could
not complete (pytest internal error, record not written). ``report``: 0 or 2.
``diff``: 0, 1 when a cell changed its verdict, 2.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from conformance import __version__

EXIT_OK, EXIT_DEVIATES, EXIT_USAGE, EXIT_BROKEN = 0, 1, 2, 3
SUITE = Path(__file__).parent / "suite"
VARIANT_CHECK_TIMEOUT = 30.0


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        hint = "pytest arguments go after --" if "unrecognized arguments" in message else f"see {self.prog} --help"
        raise UsageError(f"{self.prog}: {message} ({hint})")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="dualstack", description=(
        "Measure how this machine's IPv4/IPv6 dual-stack sockets behave, check it against what "
        "the OS documents, and record it."))
    parser.add_argument("--version", action="version", version=f"dualstack-conformance {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    run = commands.add_parser("run", help="run the conformance suite on this machine and write its run record",
                              description="Run the conformance suite with pytest and write the run record. "
                                          "Arguments after -- go to pytest unchanged (e.g. -- -k udp -x).",
                              epilog="exit status: 0 conforms, 1 a deviation or harness error, 2 bad input, "
                                     "3 the run could not complete")
    run.add_argument("--out", metavar="PATH", default=".",
                     help="record file, or an existing folder to write <os>-<release>-py<X.Y>-<variant>.json "
                          "into (default: the current folder)")
    run.add_argument("-n", "--workers", metavar="N", default=None,
                     help="run cells in N pytest-xdist workers (a number or 'auto')")
    run.add_argument("--variant", metavar="NAME", default="default",
                     help="default (this machine as it is), a Linux namespace variant (bindv6only=1, "
                          "disable_ipv6, no-ipv6-loopback, no-af-inet6), or all; each variant writes its own "
                          "record and is skipped, with the reason, where namespaces cannot be made")
    run.add_argument("--runtime", metavar="NAME", default="host",
                     help="host (this machine's kernel), gvisor (runsc), uml (user-mode Linux 6.1), or all (host and "
                          "every runtime); each writes its own record and is skipped, with the reason, where it "
                          "cannot start")
    run.add_argument("--require", action="store_true",
                     help="exit 1 when a runtime or variant asked for was skipped (for CI)")
    run.add_argument("--cells", metavar="PATTERN", action="append", default=[],
                     help="run only the cells whose semantic id matches this glob (repeatable), "
                          "e.g. 'connect/udp/*'")
    run.add_argument("--label", metavar="NAME", default=None,
                     help="record this machine, as it is, under the variant name NAME (a machine set up outside "
                          "the suite, such as a container started with IPv6 disabled)")
    run.add_argument("--report", metavar="DIR", default=None,
                     help="afterwards, build the report into DIR from every record in the --out folder "
                          "(as dualstack report does), whatever the run's verdicts")
    run.add_argument("--expectations", metavar="DIR", default=None,
                     help="read <os>.toml expectations from DIR instead of the packaged ones")
    run.add_argument("pytest_args", nargs="*", metavar="-- PYTEST_ARGS", help="passed to pytest unchanged")

    report = commands.add_parser(
        "report", help="merge run records into the matrix and render the behaviour report",
        description="Validate run records, merge them into matrix.json and render behavior-report.md, "
                    "behavior-report.html (self-contained) and matrix.svg. Platforms with expectations but "
                    "no run appear as documented, not observed columns.",
        epilog="exit status: 0 written, 2 bad input (nothing in --out is changed)")
    report.add_argument("runs", nargs="*", metavar="RUN",
                        help="run record files, or folders of them (default: reports/runs)")
    report.add_argument("--out", metavar="DIR", default="reports", help="output folder (default: reports)")
    report.add_argument("--no-documented", action="store_true",
                        help="leave out the documented, not observed columns")
    report.add_argument("--step-summary", metavar="FILE", default=None,
                        help="also append the Markdown report to FILE, cut at whole sections to stay under "
                             "GitHub Actions' 1 MiB job-summary limit (in a workflow: \"$GITHUB_STEP_SUMMARY\")")

    diff = commands.add_parser(
        "diff", help="what changed between two matrices",
        description="Compare two matrix.json files: new, gone and changed cells. A removed test is "
                    "reported but is not a regression.",
        epilog="exit status: 0 no verdict changed, 1 a cell changed its verdict, 2 bad input")
    diff.add_argument("old", metavar="OLD", help="the earlier matrix.json")
    diff.add_argument("new", metavar="NEW", help="the later matrix.json")
    diff.add_argument("--format", choices=["text", "markdown"], default="text", help="output format (default: text)")
    return parser


def parse(argv: list[str]) -> argparse.Namespace:
    own, extra = (argv[: argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    args = build_parser().parse_args(own)
    if args.command is None:
        raise UsageError("dualstack: a command is required: run, report or diff (see dualstack --help)")
    if getattr(args, "pytest_args", None):
        raise UsageError(f"dualstack {args.command}: unexpected argument {args.pytest_args[0]!r} "
                         "(pytest arguments go after --)")
    if extra and args.command != "run":
        raise UsageError(f"dualstack {args.command}: takes no arguments after --")
    args.pytest_args = extra
    return args


def resolve_out(out: str, variant: str, *, folder_only: bool = False, runtime: str = "host") -> Path:
    from conformance.facts import measure
    from conformance.run_record import fingerprint, record_name
    from conformance.runtimes import described_from_host
    from matrix.record import RecordError, check_writable

    path = Path(out)
    if out.endswith(("/", "\\")) and not path.is_dir():
        raise RecordError(f"{out}: folder does not exist")
    if folder_only and not path.is_dir():
        raise RecordError(f"{out}: must be an existing folder when several variants run")
    if path.is_dir():
        path = path / record_name(fingerprint(measure(), variant, runtime, described_from_host(runtime)))
    check_writable(path)
    return path.resolve()


def check_expectations(folder: str) -> None:
    from conformance.facts import os_name
    from conformance.model import PlatformError, load_platform

    if not Path(folder).is_dir():
        raise UsageError(f"dualstack run: --expectations {folder}: not a folder")
    try:
        load_platform(os_name(), str(Path(folder).resolve()))
    except PlatformError as exc:
        raise UsageError(f"dualstack run: --expectations {exc}") from exc


LABEL = re.compile(r"^[a-z0-9][a-z0-9_=.-]*$")


def selected_variants(name: str, label: str | None = None) -> list[str]:
    from conformance.variants import catalogue

    known = ["default", *catalogue()]
    if label is not None:
        if name != "default":
            raise UsageError("dualstack run: --label names this machine as it is; it does not go with --variant")
        if not LABEL.match(label) or label in known or label == "all":
            raise UsageError(f"dualstack run: --label {label!r}: use lower-case letters, digits and _=.- "
                             f"and not one of {', '.join(known)}, all")
        return [label]
    if name == "all":
        return known
    if name not in known:
        raise UsageError(f"dualstack run: unknown --variant {name!r}; known: {', '.join(known)}, all")
    return [name]


def selected_runtimes(name: str) -> list[str]:
    from conformance.runtimes import HOST, names

    known = [HOST, *names()]
    if name == "all":
        return known
    if name not in known:
        raise UsageError(f"dualstack run: unknown --runtime {name!r}; known: {', '.join(known)}, all")
    return [name]


def pytest_command(args, out: Path, variant: str, runtime: str = "host") -> list[str]:
    command = [sys.executable, "-m", "pytest", str(SUITE), "--dualstack-record", str(out),
               "--dualstack-variant", variant, "--dualstack-runtime", runtime]
    if args.workers is not None:
        command += ["-n", args.workers]
    for pattern in args.cells:
        command += ["--dualstack-cells", pattern]
    if args.expectations is not None:
        command += ["--dualstack-expectations", str(Path(args.expectations).resolve())]
    return command + args.pytest_args


def variant_unavailable(variant: str, runtime: str = "host") -> str | None:
    """None when the variant's namespace can be made here (inside the runtime), else the one-line reason."""
    from conformance import runtimes

    command = [sys.executable, "-m", "conformance.variants", variant, "--check"]
    if runtime != runtimes.HOST:
        code, last = runtimes.try_inside(runtime, command, cwd=SUITE, deadline=VARIANT_CHECK_TIMEOUT)
        return None if code == 0 else last or f"exit status {code}"
    check = subprocess.run(command, capture_output=True, text=True, timeout=VARIANT_CHECK_TIMEOUT)
    if check.returncode == 0:
        return None
    return (check.stderr.strip().splitlines() or [f"exit status {check.returncode}"])[-1]


def run_one(args, variant: str, out: Path, runtime: str = "host") -> tuple[int, str | None]:
    """(pytest exit code, skip reason) for one variant in one runtime."""
    from conformance import runtimes
    from conformance.variants import catalogue

    command = pytest_command(args, out, variant, runtime)
    if variant in catalogue():
        reason = variant_unavailable(variant, runtime)
        if reason is not None:
            return 0, reason
        command = [sys.executable, "-m", "conformance.variants", variant, "--", *command]
    if runtime != runtimes.HOST:  # in-process, so that Ctrl-C ends the runtime before we return
        try:
            return runtimes.run(runtime, command, out.parent, cwd=SUITE), None
        except runtimes.RuntimeUnavailable as exc:
            return 0, str(exc)
    # from the suite's folder: a `conformance` folder in the caller's cwd (a checkout) must
    # not shadow the installed package that `python -m pytest` runs
    return subprocess.run(command, cwd=SUITE).returncode, None


def command_run(args) -> int:
    from conformance.runtimes import HOST, unavailable
    from matrix import record

    if args.workers is not None and not (args.workers == "auto" or args.workers.isdigit()):
        raise UsageError(f"dualstack run: --workers takes a number or 'auto', not {args.workers!r}")
    variants = selected_variants(args.variant, args.label)
    chosen = selected_runtimes(args.runtime)
    if args.expectations is not None:
        check_expectations(args.expectations)
    missing = {runtime: unavailable(runtime) for runtime in chosen}
    # one run per runtime and variant, named "variant" on the host and "runtime/variant" elsewhere
    runs = {(variant if runtime == HOST else f"{runtime}/{variant}"): (runtime, variant)
            for runtime in chosen for variant in variants}
    try:
        outs = {name: resolve_out(args.out, variant, folder_only=len(runs) > 1, runtime=runtime)
                for name, (runtime, variant) in runs.items() if missing[runtime] is None}
    except record.RecordError as exc:
        raise UsageError(f"dualstack run: --out {exc}") from exc

    before = {v: out.stat().st_mtime_ns if out.exists() else None for v, out in outs.items()}

    def written_now(name: str) -> bool:  # an older record at the same path does not count
        out = outs.get(name)
        return out is not None and out.exists() and out.stat().st_mtime_ns != before[name]

    status: list[dict[str, str | None]] = []
    codes: list[int] = []
    for name, (runtime, variant) in runs.items():
        code, reason = (0, missing[runtime]) if missing[runtime] else run_one(args, variant, outs[name], runtime)
        if reason is not None:
            status.append({"name": name, "status": "skipped", "reason": reason})
            continue
        ran = code in (0, 1) and written_now(name)
        status.append({"name": name, "status": "ran" if ran else "failed",
                       "reason": None if ran else f"pytest exit {code}"})
        codes.append(code)
    written = [out for name, out in outs.items() if written_now(name)]
    if len(runs) > 1:
        for out in written:  # every record of this run says which variants ran and why not
            data = record.load(out)
            data["variants"] = status
            record.write(out, data)
        print("dualstack: variants:")
        for s in status:
            print(f"  {s['name']:<18} {s['status']}" + (f": {s['reason']}" if s["reason"] else ""))
    elif status[0]["status"] == "skipped":
        print(f"dualstack: variant {status[0]['name']} skipped: {status[0]['reason']}")
    for out in written:
        print(f"dualstack: record {out}")
    if args.report is not None and written:
        folder = written[0].parent
        command_report(argparse.Namespace(runs=[str(p) for p in sorted(folder.glob("*.json"))], out=args.report,
                                          no_documented=False, step_summary=None))
    skipped = [str(s["name"]) for s in status if s["status"] == "skipped"]
    if args.require and skipped:
        print(f"dualstack: --require: skipped {', '.join(skipped)}", file=sys.stderr)
        return max(exit_status(codes), EXIT_DEVIATES)
    return exit_status(codes)


def exit_status(codes: list[int]) -> int:
    """The worst outcome over the runs, in the CLI's terms."""
    if any(c == 4 for c in codes):
        return EXIT_USAGE
    if any(c == 5 for c in codes):
        print("dualstack: no cell was selected; no record written", file=sys.stderr)
        return EXIT_USAGE
    if any(c not in (0, 1) for c in codes):
        print(f"dualstack: a run did not complete (pytest exit {max(codes)})", file=sys.stderr)
        return EXIT_BROKEN
    return EXIT_DEVIATES if 1 in codes else EXIT_OK


REPORT_FILES = ("matrix.json", "behavior-report.md", "behavior-report.html", "matrix.svg")


def command_report(args) -> int:
    import json

    from conformance.documented import documented_columns
    from matrix import merge, record, render

    given = [Path(p) for p in args.runs] or [Path("reports/runs")]
    paths = [f for p in given for f in (sorted(p.glob("*.json")) if p.is_dir() else [p])]
    if not paths:
        raise UsageError("dualstack report: no run records given and none in reports/runs/")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"dualstack report: --out {out}: not a folder")
    if args.step_summary and not Path(args.step_summary).resolve().parent.is_dir():
        raise UsageError(f"dualstack report: --step-summary {args.step_summary}: its folder does not exist")
    try:
        runs = merge.load_runs(paths)  # every input is checked before anything is written
    except record.RecordError as exc:
        raise UsageError(f"dualstack report: {exc}") from exc
    observed_os = {data["platform"]["os"] for _, data in runs}
    documented = {} if args.no_documented else documented_columns(observed_os)
    matrix = merge.merge(runs, documented)
    record.validate(matrix, "matrix-1", origin="matrix")
    rendered = {
        "matrix.json": json.dumps(matrix, indent=1, ensure_ascii=False) + "\n",
        "behavior-report.md": render.markdown(matrix),
        "behavior-report.html": render.html(matrix),
        "matrix.svg": render.svg(matrix),
    }
    out.mkdir(parents=True, exist_ok=True)
    for name in REPORT_FILES:
        record.write_text_atomic(out / name, rendered[name])
    observed = sum(1 for c in matrix["columns"] if c["kind"] == "observed")
    print(f"dualstack: {len(matrix['rows'])} cells x {observed} observed run(s)"
          + (f" + {len(documented)} documented platform(s)" if documented else ""))
    for name in REPORT_FILES:
        print(f"dualstack: wrote {out / name}")
    if args.step_summary:
        with open(args.step_summary, "a", encoding="utf-8") as summary:
            summary.write(render.step_summary(rendered["behavior-report.md"]))
        print(f"dualstack: appended the report to {args.step_summary}")
    return EXIT_OK


def command_diff(args) -> int:
    from matrix import diff, record

    try:
        old, new = diff.load_matrix(args.old), diff.load_matrix(args.new)
    except record.RecordError as exc:
        raise UsageError(f"dualstack diff: {exc}") from exc
    result = diff.diff(old, new)
    print(diff.as_markdown(result) if args.format == "markdown" else diff.as_text(result), end="")
    return EXIT_DEVIATES if any(c["verdict_changed"] for c in result["changed"]) else EXIT_OK


COMMANDS = {"run": command_run, "report": command_report, "diff": command_diff}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parse(argv)
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("dualstack: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
