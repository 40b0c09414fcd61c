"""The ``dualstack`` command: run the suite, build the report, diff two matrices.

Exit status of ``run`` (conformance/vocabulary.py ExitStatus): 0 every cell conforms or
is informational, unsupported or skipped; 1 a cell deviates from what the platform
documents, or the harness broke, or (with --require) a variant was skipped; 2 bad input
(an unknown option, an output path that cannot be written), nothing run; 3 the run could
not complete (pytest internal error, record not written); 130 interrupted (Ctrl-C or
SIGTERM): no record written or replaced. ``report``: 0 or 2. ``diff``: 0, 1 when a cell
changed its verdict, 2.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from conformance import __version__
from conformance.vocabulary import ExitStatus, UsageError


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="dualstack", description=(
        "Measure how this machine's IPv4/IPv6 dual-stack sockets behave, check it against what "
        "the OS documents, and record it."))
    parser.add_argument("-V", "--version", action="version", version=f"dualstack-conformance {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    run = commands.add_parser("run", help="run the conformance suite on this machine and write its run record",
                              description="Run the conformance suite with pytest and write the run record. "
                                          "Arguments after -- go to pytest unchanged (e.g. -- -k udp -x).",
                              epilog="exit status: 0 conforms, 1 a deviation or harness error, 2 bad input, "
                                     "3 the run could not complete, 130 interrupted (no record written or replaced). "
                                     "A run of selected cells (--cells) writes <key>.partial.json beside, never over, "
                                     "the complete record")
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
                          "every runtime); each run writes its own record and is skipped, with the reason, where the "
                          "runtime cannot start")
    run.add_argument("--cells", metavar="PATTERN", action="append", default=[],
                     help="run only the cells whose semantic id matches this glob (repeatable), "
                          "e.g. 'connect/udp/*'")
    run.add_argument("--label", metavar="NAME", default=None,
                     help="record this machine, as it is, under the variant name NAME (a machine set up outside "
                          "the suite, such as a container started with IPv6 disabled)")
    run.add_argument("--report", metavar="DIR", default=None,
                     help="afterwards, build the report into DIR from the records this run wrote "
                          "(dualstack report merges other records too), whatever the run's verdicts")
    run.add_argument("--require", action="store_true",
                     help="exit 1 when a variant or runtime asked for was skipped (CI: a job that ran nothing is not green)")
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

    from conformance.check import register as register_check  # its parser; main() hands it the command line
    register_check(commands)
    return parser


def parse(argv: list[str]) -> argparse.Namespace:
    own, extra = (argv[: argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = build_parser()
    args, unknown = parser.parse_known_args(own)
    if unknown:
        hint = "pytest arguments go after --" if args.command == "run" else f"see dualstack {args.command or ''} --help"
        raise UsageError(f"dualstack: unrecognized arguments: {' '.join(unknown)} ({hint.replace('  ', ' ')})")
    if args.command is None:
        raise UsageError("dualstack: a command is required: run, report or diff (see dualstack --help)")
    if getattr(args, "pytest_args", None):
        raise UsageError(f"dualstack {args.command}: unexpected argument {args.pytest_args[0]!r} "
                         "(pytest arguments go after --)")
    if extra and args.command != "run":
        raise UsageError(f"dualstack {args.command}: takes no arguments after --")
    args.pytest_args = extra
    return args


def check_folder(option: str, folder: str, *, create: bool = False) -> Path:
    """An output folder that exists (or whose parent does, with ``create``) and can be
    written; else a one-line UsageError naming it. Nothing is created here."""
    import tempfile

    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {folder}: not a folder")
    if not path.exists() and not (create and path.resolve().parent.is_dir()):
        raise UsageError(f"{option} {folder}: folder does not exist")
    where = path if path.exists() else path.resolve().parent
    try:  # access() says yes to root even where a write fails: try for real
        with tempfile.NamedTemporaryFile(dir=where, prefix=".dualstack-", suffix=".probe"):
            pass
    except OSError as exc:
        raise UsageError(f"{option} {folder}: not writable ({exc.strerror})") from exc
    return path.resolve()


def resolve_out(out: str, variant: str, *, several: bool = False, partial: bool = False,
                runtime: str = "host") -> Path:
    """Where one run's record goes: a .json file named by --out, or the file named by
    the record's column key inside the folder --out names."""
    from conformance.machine import os_name
    from conformance.run_record import fingerprint, record_name
    from conformance.runtimes import HOST, described_from_host

    path = Path(out)
    if path.is_dir() or out.endswith(("/", "\\")):
        folder = check_folder("dualstack run: --out", out)
        described = described_from_host(runtime) if runtime != HOST else None
        return folder / record_name(fingerprint(os_name(), variant, runtime, described), partial=partial)
    if several:
        raise UsageError(f"dualstack run: --out {out}: must be an existing folder when several variants or "
                         "runtimes run")
    if path.suffix != ".json":
        raise UsageError(f"dualstack run: --out {out}: neither an existing folder nor a .json file name")
    check_folder("dualstack run: --out", str(path.parent))
    if partial and is_complete_record(path):
        raise UsageError(f"dualstack run: --out {out}: holds a complete record, which a run of selected cells "
                         "would replace; name another file")
    return path.resolve()


def is_complete_record(path: Path) -> bool:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and isinstance(data.get("run"), dict) and not data["run"].get("partial")


def check_expectations(folder: str) -> None:
    from conformance.machine import os_name
    from conformance.platform_model import PlatformError, load_platform

    if not Path(folder).is_dir():
        raise UsageError(f"dualstack run: --expectations {folder}: not a folder")
    try:
        platform = load_platform(os_name(), str(Path(folder).resolve()))
    except PlatformError as exc:
        raise UsageError(f"dualstack run: --expectations {exc}") from exc
    if platform is None:
        raise UsageError(f"dualstack run: --expectations {folder}: has no {os_name()}.toml for this platform")


LABEL = re.compile(r"^[a-z0-9][a-z0-9_=.-]*$")


def selected_variants(name: str, label: str | None = None) -> list[str]:
    from conformance.variants import known as known_variants

    known = ["default", *known_variants()]
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


def command_run(args) -> int:
    from conformance import run, runtimes

    if args.workers is not None and not (args.workers == "auto" or args.workers.isdigit()):
        raise UsageError(f"dualstack run: --workers takes a number or 'auto', not {args.workers!r}")
    variants, chosen = selected_variants(args.variant, args.label), selected_runtimes(args.runtime)
    if args.expectations is not None:
        check_expectations(args.expectations)
    partial, several = bool(args.cells), len(variants) * len(chosen) > 1
    missing = {runtime: runtimes.unavailable(runtime) for runtime in chosen}
    plan = [run.Planned(variant if runtime == runtimes.HOST else f"{runtime}/{variant}", runtime, variant,
                        resolve_out(args.out, variant, several=several, partial=partial, runtime=runtime),
                        missing[runtime])
            for runtime in chosen for variant in variants]
    report_to = check_folder("dualstack run: --report", args.report, create=True) if args.report is not None else None

    status, codes, written = run.run_all(args, plan)
    if several:
        print("dualstack: runs:")
        for s in status:
            print(f"  {s['name']:<24} {s['status']}" + (f": {s['reason']}" if s["reason"] else ""))
    for out in written:
        print(f"dualstack: record {out}" + (" (partial: selected cells only)" if partial else ""))
    if report_to is not None and written:
        command_report(argparse.Namespace(runs=[str(p) for p in written], out=str(report_to),
                                          no_documented=False, step_summary=None))
    status_code = run.exit_status(codes)
    skipped = [str(s["name"]) for s in status if s["status"] == "skipped"]
    if args.require and skipped and status_code == ExitStatus.OK:
        print(f"dualstack: --require: skipped {', '.join(skipped)}", file=sys.stderr)
        return ExitStatus.DEVIATES
    return status_code


REPORT_FILES = ("matrix.json", "behavior-report.md", "behavior-report.html", "matrix.svg")


def complete_records(folder: Path) -> list[Path]:
    """The complete run records in a folder; partial ones are named, then left out."""
    from conformance.run_record import PARTIAL_SUFFIX

    found = sorted(folder.glob("*.json"))
    partial = [p.name for p in found if p.name.endswith(PARTIAL_SUFFIX)]
    if partial:
        print(f"dualstack: left out {len(partial)} partial record(s) in {folder}: {', '.join(partial)}")
    return [p for p in found if not p.name.endswith(PARTIAL_SUFFIX)]


def command_report(args) -> int:
    import json

    from conformance.documented import documented_columns
    from conformance.run_record import PARTIAL_SUFFIX
    from matrix import merge, picture, record, render

    given = [Path(p) for p in args.runs] or [Path("reports/runs")]
    paths = [f for p in given for f in (complete_records(p) if p.is_dir() else [p])]
    if not paths:
        where = ", ".join(str(p) for p in given)
        raise UsageError(f"dualstack report: no run records in {where}")
    for path in paths:
        if path.name.endswith(PARTIAL_SUFFIX):
            raise UsageError(f"dualstack report: {path}: a partial record (a run of selected cells); "
                             "the report holds complete runs only")
    out = check_folder("dualstack report: --out", args.out, create=True)
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
        "matrix.svg": picture.svg(matrix),
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
    return ExitStatus.OK


def command_diff(args) -> int:
    from matrix import diff, record

    try:
        old, new = diff.load_matrix(args.old), diff.load_matrix(args.new)
    except record.RecordError as exc:
        raise UsageError(f"dualstack diff: {exc}") from exc
    result = diff.diff(old, new)
    print(diff.as_markdown(result) if args.format == "markdown" else diff.as_text(result), end="")
    return ExitStatus.DEVIATES if any(c["verdict_changed"] for c in result["changed"]) else ExitStatus.OK


COMMANDS = {"run": command_run, "report": command_report, "diff": command_diff}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["check"]:  # its own parsing and exit statuses: what follows -- is the server's command
        from conformance.check import main as check
        return check(argv[1:])
    try:
        args = parse(argv)
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return ExitStatus.USAGE
    except KeyboardInterrupt:
        print("dualstack: interrupted: no record written or replaced", file=sys.stderr)
        return ExitStatus.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
