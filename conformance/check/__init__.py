"""``dualstack check -- COMMAND``: do IPv4 and IPv6 clients reach *your* server?

    dualstack check [--variant NAME[,NAME...]|all] [--runtime NAME|all] [--expect ipv4,ipv6]
                    [--json [FILE]] [--udp] [--timeout S] [--port-env] -- COMMAND [ARGS...]

It runs COMMAND with ``{port}`` in its arguments, and ``PORT`` in its environment, set to
a free loopback port; waits, bounded by --timeout, until it listens (connect attempts and
the listing tool, as the subjects family does); probes it from the IPv4 (127.0.0.1),
IPv4-mapped (::ffff:127.0.0.1) and IPv6 (::1) clients: an HTTP GET whose answer is
recorded when the server speaks HTTP, else the connect alone, or with --udp a datagram;
records the listing tool's line for the port (``ss`` with its ``v6only:`` field, or
``netstat``); says in plain words what that means and, where one applies, the fix from
the report's portable recipes (conformance/data/check.toml); and ends the server and
everything it forked on every path, Ctrl-C included. Each variant and runtime asked for
is a separate environment.

The package, one idea a module:
    request       what is asked (the command, UDP, the timeout) and bad input
    environments  the variants and runtimes a check runs in (the --runtime plug point)
    server        one check in this process: start, wait, probe, list, end
    probe         the three clients' probes
    inside        a check inside another environment: the inner-process protocol
    answer        what the listeners and the clients' outcomes mean, and the fix
    result        the check-1 document and the exit status
    text          the readable answer
    command       the command line

This module is its public face: ``check()`` for Python callers (the pytest fixture of
conformance/pytest_dualstack.py), ``main()`` for the command, ``register()`` for the
dualstack parser. Exit statuses: conformance/check/result.py.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from conformance.check import result
from conformance.check.command import add_parser, parse
from conformance.check.environments import HOST, asked
from conformance.check.inside import answer_inside, check_in
from conformance.check.request import DEFAULT_TIMEOUT, Request, check_request, expected
from conformance.check.text import render
from conformance.interrupts import terminate_as_interrupt
from conformance.vocabulary import UsageError

__all__ = ["Checked", "UsageError", "check", "main", "register"]


@dataclass
class Checked:
    """What `check` answers: the result (check-1), its readable text, the exit status."""

    data: dict[str, Any]
    text: str = field(init=False)

    def __post_init__(self) -> None:
        self.text = render(self.data)

    @property
    def exit_status(self) -> int:
        status: int = self.data["exit_status"]
        return status


def check(command: list[str], *, variant: str = "default", runtime: str = HOST.name, expect: str = "ipv4,ipv6",
          udp: bool = False, timeout: float = DEFAULT_TIMEOUT, port_env: bool = False,
          cwd: str | None = None) -> Checked:
    """Check a server command in every environment asked for (raises UsageError on bad input)."""
    request = Request(tuple(command), udp, timeout, port_env, cwd or os.getcwd())
    check_request(request)
    clients, envs = expected(expect), asked(variant, runtime)
    return Checked(result.result(request, clients, [check_in(request, env) for env in envs]))


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """`dualstack check` in the dualstack parser's list of commands (dispatch: main)."""
    add_parser(commands)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        with terminate_as_interrupt():
            args, request = parse(argv)
            if args.inner:  # inside a variant or runtime: this environment only, as JSON
                answer_inside(request)
                return result.EXIT_OK
            if args.json not in (None, "-"):
                result.check_writable(args.json)
            checked = check(list(request.command), variant=args.variant, runtime=args.runtime, expect=args.expect,
                            udp=request.udp, timeout=request.timeout, port_env=request.port_env, cwd=request.cwd)
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return result.EXIT_USAGE
    except KeyboardInterrupt:
        print("dualstack check: interrupted; the server and everything it started were ended", file=sys.stderr)
        return result.EXIT_INTERRUPTED
    if args.json == "-":
        print(result.serialized(checked.data))
    else:
        print(checked.text, end="")
    if args.json not in (None, "-"):
        result.write(checked.data, args.json)
    return checked.exit_status
