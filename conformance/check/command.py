"""The command line of ``dualstack check``: its options, the server command after ``--``,
and SIGTERM ending a check the way Ctrl-C does.

Bad input is one line and exit status 2, never a usage dump or a traceback.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, NoReturn

from conformance.check.environments import DEFAULT_VARIANT, HOST
from conformance.check.request import DEFAULT_TIMEOUT, Request, check_request
from conformance.vocabulary import CLIENTS, UsageError

DESCRIPTION = ("Run your server command on a free loopback port and tell whether IPv4, IPv4-mapped and IPv6 "
               "clients reach it, what it listens on, and what to change. Put {port} where the command takes "
               "its port, e.g. dualstack check -- python -m http.server --bind :: {port}")
EPILOG = ("exit status: 0 every expected client reached it everywhere checked, 1 one did not, 2 bad input, "
          "3 it never listened or the check could not complete, 130 interrupted (the server and everything it "
          "started were ended)")
USAGE = "dualstack check [options] -- COMMAND [ARGS...]"


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, no usage dump
        hint = "the server command goes after --" if "unrecognized arguments" in message else f"see {self.prog} --help"
        raise UsageError(f"{self.prog}: {message} ({hint})")


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--variant", metavar="NAME", default=DEFAULT_VARIANT,
                        help="default (this machine as it is), a Linux namespace variant (bindv6only=1, "
                             "disable_ipv6, no-ipv6-loopback, no-af-inet6), several joined by commas, or all")
    parser.add_argument("--runtime", metavar="NAME", default=HOST.name,
                        help="host (the default), a sandbox runtime where one is known, or all")
    parser.add_argument("--expect", metavar="CLIENTS", default="ipv4,ipv6",
                        help=f"the clients that must reach the server, joined by commas: {', '.join(CLIENTS)} "
                             "(default: ipv4,ipv6)")
    parser.add_argument("--json", metavar="FILE", nargs="?", const="-", default=None,
                        help="write the result as JSON (schema matrix/schemas/check-1.schema.json) to FILE, "
                             "or instead of the text to standard output when no FILE is given")
    parser.add_argument("--udp", action="store_true", help="the server is a UDP server: probe it with datagrams")
    parser.add_argument("--timeout", metavar="S", type=float, default=DEFAULT_TIMEOUT,
                        help=f"how long to wait for the server to listen (default: {DEFAULT_TIMEOUT:.0f} s)")
    parser.add_argument("--port-env", action="store_true",
                        help="the command reads its port from PORT, so {port} need not appear in its arguments")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cwd", default=None, help=argparse.SUPPRESS)
    return parser


def add_parser(commands: argparse._SubParsersAction[Any]) -> None:
    """`check` in the dualstack parser's list of commands."""
    add_arguments(commands.add_parser("check", help="is my server reachable over IPv4 and IPv6?", usage=USAGE,
                                      description=DESCRIPTION, epilog=EPILOG))


def build_parser() -> argparse.ArgumentParser:
    return add_arguments(Parser(prog="dualstack check", usage=USAGE, description=DESCRIPTION, epilog=EPILOG))


def parse(argv: list[str]) -> tuple[argparse.Namespace, Request]:
    cut = argv.index("--") if "--" in argv else len(argv)
    args = build_parser().parse_args(argv[:cut])  # first: --help and unknown options answer as usual
    if cut == len(argv):
        raise UsageError("dualstack check: give the server command after --, "
                         "e.g. dualstack check -- python -m http.server --bind :: {port}")
    request = Request(tuple(argv[cut + 1:]), args.udp, args.timeout, args.port_env,
                      args.cwd or os.getcwd())
    check_request(request)
    return args, request
