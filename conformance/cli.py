"""The ``dualstack`` command.

Exit status: 0 every cell conforms or is informational, unsupported or skipped;
1 a cell deviates from what the platform documents, or the harness broke;
2 bad input (an unknown option, an output path that cannot be written);
3 the run could not complete (pytest internal error, record not written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conformance import __version__

EXIT_OK, EXIT_DEVIATES, EXIT_USAGE, EXIT_BROKEN = 0, 1, 2, 3
SUITE = Path(__file__).parent / "suite"


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
                     help="platform variant name recorded in the run (default: default)")
    run.add_argument("--cells", metavar="PATTERN", action="append", default=[],
                     help="run only the cells whose semantic id matches this glob (repeatable), "
                          "e.g. 'connect/udp/*'")
    run.add_argument("--expectations", metavar="DIR", default=None,
                     help="read <os>.toml expectations from DIR instead of the packaged ones")
    run.add_argument("pytest_args", nargs="*", metavar="-- PYTEST_ARGS", help="passed to pytest unchanged")
    return parser


def parse(argv: list[str]) -> argparse.Namespace:
    own, extra = (argv[: argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    args = build_parser().parse_args(own)
    if args.command is None:
        raise UsageError("dualstack: a command is required: run (see dualstack --help)")
    if getattr(args, "pytest_args", None):
        raise UsageError(f"dualstack {args.command}: unexpected argument {args.pytest_args[0]!r} "
                         "(pytest arguments go after --)")
    args.pytest_args = extra
    return args


def resolve_out(out: str, variant: str) -> Path:
    from conformance.facts import measure
    from conformance.run_record import fingerprint, record_name
    from matrix.record import RecordError, check_writable

    path = Path(out)
    if out.endswith(("/", "\\")) and not path.is_dir():
        raise RecordError(f"{out}: folder does not exist")
    if path.is_dir():
        path = path / record_name(fingerprint(measure(), variant))
    check_writable(path)
    return path


def check_expectations(folder: str) -> None:
    from conformance.facts import os_name
    from conformance.model import PlatformError, load_platform

    try:
        load_platform(os_name(), str(Path(folder).resolve()))
    except PlatformError as exc:
        raise UsageError(f"dualstack run: --expectations {exc}") from exc


def command_run(args) -> int:
    import pytest

    from matrix.record import RecordError

    if args.workers is not None and not (args.workers == "auto" or args.workers.isdigit()):
        raise UsageError(f"dualstack run: --workers takes a number or 'auto', not {args.workers!r}")
    try:
        out = resolve_out(args.out, args.variant)
    except RecordError as exc:
        raise UsageError(f"dualstack run: --out {exc}") from exc
    pytest_args = [str(SUITE), "--dualstack-record", str(out), "--dualstack-variant", args.variant]
    if args.workers is not None:
        pytest_args += ["-n", args.workers]
    for pattern in args.cells:
        pytest_args += ["--dualstack-cells", pattern]
    if args.expectations is not None:
        if not Path(args.expectations).is_dir():
            raise UsageError(f"dualstack run: --expectations {args.expectations}: not a folder")
        check_expectations(args.expectations)
        pytest_args += ["--dualstack-expectations", str(Path(args.expectations).resolve())]
    code = pytest.main(pytest_args + args.pytest_args)
    if code == pytest.ExitCode.USAGE_ERROR:
        return EXIT_USAGE
    if code in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) and out.exists():
        print(f"dualstack: record {out}")
        return EXIT_OK if code == pytest.ExitCode.OK else EXIT_DEVIATES
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        print("dualstack: no cell was selected; no record written", file=sys.stderr)
        return EXIT_USAGE
    print(f"dualstack: the run did not complete (pytest exit {int(code)}); no record written", file=sys.stderr)
    return EXIT_BROKEN


COMMANDS = {"run": command_run}


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
