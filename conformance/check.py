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
everything it forked on every path, Ctrl-C included.

Each variant (a Linux network namespace, conformance/variants.py) and runtime asked for is
a separate environment: there this module runs itself inside it (``--inner``) and hands
back that environment's result as one line of JSON. The default environment on the host
runs in this process.

The port rule: ``{port}`` must appear in the arguments, since whether a program reads
PORT cannot be seen from outside; ``--port-env`` says it does, and lifts the rule.

Exit status: 0 every client of --expect (default ipv4,ipv6) reached the server in every
environment checked; 1 one did not; 2 bad input (no {port} and no --port-env, a command
that does not exist, an unknown variant or runtime, no environment asked for could be
made here); 3 the server never listened in an environment (its output's last lines are
shown), or the check itself could not complete there. With several environments the
worst wins: 3, then 1, then 0.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from conformance import ports, subjects
from conformance.datafiles import load_toml
from conformance.errnames import describe
from conformance.vocabulary import CLIENTS, CONNECT_DEADLINE, UDP_DEADLINE, Client, Outcome, Word

EXIT_OK, EXIT_UNREACHED, EXIT_USAGE, EXIT_NOT_LISTENING = 0, 1, 2, 3
EXIT_INTERRUPTED = 130
SCHEMA = "dualstack-conformance/check/1"
DEFAULT_TIMEOUT = subjects.READY_DEADLINE
MAX_TIMEOUT = 300.0  # a readiness wait longer than this is a mistake, not a slow server
ANSWER_DEADLINE = 1.0  # how long an HTTP answer is awaited once the connect succeeded
INNER_MARGIN = 60.0  # namespace set-up, interpreter start and the kill grace, on top of --timeout
TAIL_LINES = 10
UNREACHABLE = {"ENETUNREACH", "EHOSTUNREACH"}
PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # where `python -m conformance...` finds this package
DATAGRAM = b"dualstack check\n"


class UsageError(Exception):
    """Bad input; str() is the one-line message."""


class Status(Word):
    """What became of the check in one environment."""

    CHECKED = "checked"  # it listened and the clients were probed
    NOT_LISTENING = "not-listening"  # it exited, or was not listening by the deadline
    SKIPPED = "skipped"  # the environment cannot be made here (the reason says why)
    ERROR = "error"  # the check itself broke in that environment


@dataclass(frozen=True)
class Request:
    """What to run and how to judge it; the same in every environment."""

    command: tuple[str, ...]  # as given, {port} still in it
    udp: bool = False
    timeout: float = DEFAULT_TIMEOUT
    port_env: bool = False
    cwd: str = "."


# --- runtimes: the one plug point ----------------------------------------------------

@dataclass(frozen=True)
class Runtime:
    """Where an environment's check runs: `wrap` turns the inner check's command line
    into one that runs inside the runtime; `unavailable` is None or the reason."""

    name: str
    unavailable: Callable[[], str | None]
    wrap: Callable[[list[str]], list[str]]


HOST = Runtime("host", lambda: None, lambda argv: argv)


def known_runtimes() -> dict[str, Runtime]:
    """The host, plus the sandboxes of conformance.runtimes (gVisor, UML) once that module
    is there: its NAMES, unavailable(name) and command(name, argv)."""
    known = {HOST.name: HOST}
    try:
        from conformance import runtimes as sandboxes  # type: ignore[attr-defined]
    except ImportError:
        return known
    for name in sandboxes.NAMES:
        known[name] = Runtime(name, functools.partial(sandboxes.unavailable, name),
                              functools.partial(sandboxes.command, name))
    return known


@dataclass(frozen=True)
class Environment:
    runtime: str
    variant: str

    @property
    def name(self) -> str:
        return self.variant if self.runtime == HOST.name else f"{self.runtime}/{self.variant}"


# --- the command line ----------------------------------------------------------------

class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        hint = "the server command goes after --" if "unrecognized arguments" in message else f"see {self.prog} --help"
        raise UsageError(f"{self.prog}: {message} ({hint})")


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--variant", metavar="NAME", default="default",
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


DESCRIPTION = ("Run your server command on a free loopback port and tell whether IPv4, IPv4-mapped and IPv6 "
               "clients reach it, what it listens on, and what to change. Put {port} where the command takes "
               "its port, e.g. dualstack check -- python -m http.server --bind :: {port}")
EPILOG = ("exit status: 0 every expected client reached it everywhere checked, 1 one did not, 2 bad input, "
          "3 it never listened")


def register(commands) -> None:
    """`dualstack check` in the dualstack parser's list of commands (dispatch: main)."""
    add_arguments(commands.add_parser("check", help="is my server reachable over IPv4 and IPv6?",
                                      description=DESCRIPTION, epilog=EPILOG))


def build_parser() -> Parser:
    return add_arguments(Parser(prog="dualstack check", description=DESCRIPTION, epilog=EPILOG))  # type: ignore[return-value]


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


def check_request(request: Request) -> None:
    """Bad input in one line, before anything runs."""
    if not request.command:
        raise UsageError("dualstack check: no command after --")
    if not 0 < request.timeout <= MAX_TIMEOUT:
        raise UsageError(f"dualstack check: --timeout {request.timeout:g}: give seconds above 0, at most "
                         f"{MAX_TIMEOUT:.0f}")
    if not request.port_env and not any("{port}" in part for part in request.command):
        raise UsageError("dualstack check: put {port} where the command takes its port (or give --port-env "
                         "if it reads PORT from its environment)")
    if executable(request.command[0], request.cwd) is None:
        raise UsageError(f"dualstack check: cannot run {request.command[0]!r}: no such command")


def executable(name: str, cwd: str) -> str | None:
    """The program a command name runs, as the OS would find it from cwd."""
    if os.sep in name or (os.altsep and os.altsep in name):
        path = Path(cwd, name)
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    return shutil.which(name)


def expected(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in CLIENTS]
    if unknown or not names:
        raise UsageError(f"dualstack check: --expect {text!r}: name clients among {', '.join(CLIENTS)}")
    return names


def environments(variant: str, runtime: str) -> list[Environment]:
    from conformance.variants import known

    variants = ["default", *known()]
    asked = variants if variant == "all" else [v.strip() for v in variant.split(",") if v.strip()]
    unknown = [v for v in asked if v not in variants]
    if unknown or not asked:
        raise UsageError(f"dualstack check: unknown --variant {(unknown or [variant])[0]!r}; "
                         f"known: {', '.join(variants)}, all")
    known = known_runtimes()
    if runtime != "all" and runtime not in known:
        later = "" if len(known) > 1 else " (gvisor and uml come with conformance/runtimes.py)"
        raise UsageError(f"dualstack check: unknown --runtime {runtime!r}; known: {', '.join(known)}, all{later}")
    return [Environment(r, v) for r in (known if runtime == "all" else [runtime]) for v in asked]


# --- one environment, in this process --------------------------------------------------

def start(argv: list[str], port: int, cwd: str, output: Path) -> subprocess.Popen:
    """The server in a process group (a session on POSIX) of its own, so that it and
    everything it forks are ended together; its output, both streams, into one file."""
    kwargs = {"start_new_session": True} if os.name == "posix" else {
        "creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    env = dict(os.environ, PORT=str(port), PYTHONUNBUFFERED="1")
    with open(output, "wb") as out:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                env=env, **kwargs)


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """A second Ctrl-C (or TERM) must not cut the clean-up short and leave the server running."""
    try:
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread (a test's worker thread): nothing to hold off
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def check_here(request: Request, environment: Environment) -> dict:
    """Start, wait, probe, list, and always end the server and its group."""
    began = time.monotonic()
    with ports.free() as port, tempfile.TemporaryDirectory(prefix="dualstack-check-") as logs:
        output = Path(logs) / "output"
        argv = [part.replace("{port}", str(port)) for part in request.command]
        try:
            process = start(argv, port, request.cwd, output)
        except OSError as exc:  # checked before, but the environment's PATH or files may differ
            return outcome(environment, Status.ERROR, f"cannot run {argv[0]}: {exc.strerror}", began, port)
        try:
            state = wait_listening(process, port, request)
            if state == Outcome.OK:
                clients = probe_all(port, request.udp)
                listed = listing(port, request.udp)
                if process.poll() is None:
                    return observed(environment, port, clients, listed, began)
                reason = f"exited right after it started listening (exit status {process.poll()})"
            elif state == Outcome.START_ERROR:
                reason = f"exited with status {process.poll()} before it listened"
            else:
                reason = f"not listening on port {port} after {request.timeout:g} s"
        finally:
            with uninterrupted():
                subjects.kill(process)
        tail = output.read_text(errors="replace").splitlines()[-TAIL_LINES:]
        return outcome(environment, Status.NOT_LISTENING, reason, began, port, tail)


def wait_listening(process: subprocess.Popen, port: int, request: Request) -> str:
    """ok, start-error or timeout. TCP: the subjects family's wait. UDP has no connect
    that answers, so the listing tool decides (or, where there is none, a datagram that
    is not refused)."""
    if not request.udp:
        return subjects.wait_ready(process, port, request.timeout)
    end = time.monotonic() + request.timeout
    while time.monotonic() < end:
        if process.poll() is not None:
            return Outcome.START_ERROR
        listed = udp_listeners(port)
        if listed or (listed is None and probe(port, CLIENTS["ipv4"], udp=True)["outcome"] == Outcome.OK):
            return Outcome.OK
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=subjects.POLL)  # returns at once if the server dies
    return Outcome.TIMEOUT


def client_socket(client: Client, kind: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET if client.socket_family == 4 else socket.AF_INET6, kind)
    if client.name == "mapped":  # the mapped client must be dual-stack itself (Windows defaults to v6only:1)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    return sock


def failure(exc: OSError) -> dict:
    if isinstance(exc, ConnectionRefusedError):
        return {"outcome": Outcome.REFUSED, "error": "ECONNREFUSED"}
    if isinstance(exc, TimeoutError):
        return {"outcome": Outcome.TIMEOUT, "error": None}
    name = describe(exc)[0]
    return {"outcome": Outcome.UNREACHABLE if name in UNREACHABLE else Outcome.CONNECT_ERROR, "error": name}


def probe(port: int, client: Client, udp: bool) -> dict:
    """One client: its socket, the connect, then what the server answers."""
    try:
        sock = client_socket(client, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
    except OSError as exc:
        return failure(exc)
    with sock:
        sock.settimeout(CONNECT_DEADLINE)
        try:
            sock.connect((client.address, port))
            answer = datagram_answer(sock) if udp else http_answer(sock)
        except OSError as exc:
            return failure(exc)
    return {"outcome": Outcome.OK, "error": None, "answer": answer}


def http_answer(sock: socket.socket) -> str:
    """The first line of the answer to a GET, or what the server did instead."""
    sock.settimeout(ANSWER_DEADLINE)
    try:
        sock.sendall(subjects.HTTP_REQUEST)
        first = sock.recv(256)
    except TimeoutError:
        return f"connected; no answer to an HTTP GET within {ANSWER_DEADLINE:g} s"
    except OSError as exc:
        return f"connected; then {describe(exc)[0]}"
    if not first:
        return "connected; closed without answering an HTTP GET"
    line = first.split(b"\r\n", 1)[0].decode("ascii", "replace")
    return line if line.startswith("HTTP/") else "connected; answered, not in HTTP"


def datagram_answer(sock: socket.socket) -> str:
    """A reply, or silence, means a socket took the datagram; a refusal (ICMP port
    unreachable) comes back as ECONNREFUSED, or on Windows as ECONNRESET."""
    sock.settimeout(UDP_DEADLINE)
    sock.send(DATAGRAM)
    try:
        sock.recv(512)
    except TimeoutError:
        return f"no reply within {UDP_DEADLINE:g} s, and not refused: a socket took the datagram"
    except ConnectionResetError as exc:
        raise ConnectionRefusedError(*exc.args) from exc
    return "replied"


def probe_all(port: int, udp: bool) -> dict[str, dict]:
    """The three clients at once: a silent server costs one answer deadline, not three."""
    with ThreadPoolExecutor(len(CLIENTS)) as pool:
        answers = dict(zip(CLIENTS, pool.map(lambda c: probe(port, c, udp), CLIENTS.values()), strict=True))
    return {name: {"address": CLIENTS[name].address, "answer": None, **answer} for name, answer in answers.items()}


def listing(port: int, udp: bool) -> list[str] | None:
    return udp_listeners(port) if udp else subjects.listeners(port)


UDP_LISTING = {  # platform -> command lines whose output is searched for the port
    "linux": [["ss", "-ulneH", "sport = :{port}"]],
    "darwin": [["netstat", "-an", "-p", "udp"]],
    "freebsd": [["netstat", "-an", "-p", "udp"]],
    "win32": [["netstat", "-ano", "-p", "UDPv6"], ["netstat", "-ano", "-p", "UDP"]],
}


def udp_listeners(port: int) -> list[str] | None:
    """The listing tool's lines for a UDP port (subjects.listeners knows TCP only)."""
    platform = next((p for p in UDP_LISTING if sys.platform.startswith(p)), None)
    if platform is None or shutil.which(UDP_LISTING[platform][0][0]) is None:
        return None
    text = ""
    for command in UDP_LISTING[platform]:
        try:
            text += subprocess.run([part.replace("{port}", str(port)) for part in command], capture_output=True,
                                   text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return None
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    if platform == "linux":
        return [subjects._ss_summary(line) for line in lines]
    # the local address: Windows `UDP [::]:P *:* pid`, BSD `udp46 0 0 *.P *.*`
    column, separator = (1, ":") if platform == "win32" else (3, ".")
    return [line for line in lines if len(line.split()) > column
            and line.split()[column].rsplit(separator, 1)[-1] == str(port)]


# --- what it means ---------------------------------------------------------------------

@dataclass(frozen=True)
class Listener:
    address: str  # "::", "0.0.0.0", "::1", "127.0.0.1", ...
    v6only: int | None  # for IPv6 sockets where the tool shows it


def parse_listener(line: str) -> Listener | None:
    """One line of ss (as subjects.listeners sums it up), BSD/macOS netstat or Windows
    netstat -> the socket's address and, where shown, its v6only setting."""
    fields = line.split()
    if not fields:
        return None
    if fields[0] in ("TCP", "UDP") and len(fields) > 1:  # Windows: TCP [::]:P [::]:0 LISTENING pid
        return Listener(fields[1].rsplit(":", 1)[0].strip("[]"), None)
    if fields[0].startswith(("tcp", "udp")) and len(fields) > 3:  # BSD: tcp46 0 0 *.P *.* LISTEN
        host, family = fields[3].rsplit(".", 1)[0], fields[0][3:]
        if host == "*":
            host = "0.0.0.0" if family == "4" else "::"
        return Listener(host, {"46": 0, "6": 1}.get(family))
    host = fields[0].rsplit(":", 1)[0]  # ss: *:P v6only:0, [::]:P v6only:1, 0.0.0.0:P
    v6only = next((int(f.split(":")[1]) for f in fields[1:] if f.startswith("v6only:")), None)
    return Listener("::" if host == "*" else host.strip("[]").split("%")[0], v6only)


def shape(lines: list[str] | None) -> str:
    """The listeners in a word (the shapes of conformance/data/check.toml)."""
    listeners = [lst for lst in map(parse_listener, lines or []) if lst is not None]
    ipv6 = [lst for lst in listeners if ":" in lst.address]
    ipv4 = [lst for lst in listeners if ":" not in lst.address]
    if not listeners:
        return "unknown"
    if ipv4 and ipv6:
        return "two-sockets"
    if ipv4:
        return "ipv4-only"
    if any(lst.address == "::" and lst.v6only == 0 for lst in ipv6):
        return "dual-stack"
    if all(lst.v6only == 1 or lst.address == "::1" for lst in ipv6):
        return "ipv6-only"
    return "ipv6"


@functools.cache
def rules() -> list[dict]:
    return load_toml("check.toml")["rule"]


def reach(client: dict) -> str:
    return client["outcome"] if client["outcome"] in (Outcome.OK, Outcome.REFUSED) else "other"


def meaning(clients: dict[str, dict], listener_shape: str) -> dict:
    """The first rule of check.toml that matches: what it means, the fix, its recipes."""
    seen = {"shape": listener_shape, "ipv4": reach(clients["ipv4"]), "ipv6": reach(clients["ipv6"])}
    words = {"ipv4": clients["ipv4"]["outcome"], "ipv6": clients["ipv6"]["outcome"],
             "ipv4_error": clients["ipv4"]["error"], "ipv6_error": clients["ipv6"]["error"]}
    rule = next(r for r in rules() if all(r[key] == value for key, value in seen.items() if key in r))
    return {"means": rule["means"].format(**words), "fix": rule.get("fix"), "recipes": rule.get("recipes", [])}


# --- results -------------------------------------------------------------------------

def outcome(environment: Environment, status: Status, reason: str | None, began: float | None = None,
            port: int | None = None, tail: list[str] | None = None) -> dict:
    """An environment's result where the clients were not probed."""
    return {"name": environment.name, "runtime": environment.runtime, "variant": environment.variant,
            "status": status, "reason": reason, "port": port,
            "seconds": None if began is None else round(time.monotonic() - began, 3),
            "clients": {}, "listeners": [], "listing": None, "shape": None, "means": None, "fix": None,
            "recipes": [], "output_tail": tail or []}


def observed(environment: Environment, port: int, clients: dict[str, dict], listed: list[str] | None,
             began: float) -> dict:
    listener_shape = shape(listed)
    return dict(outcome(environment, Status.CHECKED, None, began, port), clients=clients, listeners=listed or [],
                listing=listed is not None, shape=listener_shape, **meaning(clients, listener_shape))


def exit_status(envs: list[dict], expect: tuple[str, ...]) -> int:
    statuses = {env["status"] for env in envs}
    if statuses & {Status.NOT_LISTENING, Status.ERROR}:
        return EXIT_NOT_LISTENING
    if Status.CHECKED not in statuses:
        return EXIT_USAGE  # nothing asked for could be made here: not a pass
    missed = [env for env in envs if env["status"] == Status.CHECKED
              and any(env["clients"][name]["outcome"] != Outcome.OK for name in expect)]
    return EXIT_UNREACHED if missed else EXIT_OK


def result(request: Request, expect: tuple[str, ...], envs: list[dict]) -> dict:
    return {"schema": SCHEMA, "command": list(request.command), "proto": "udp" if request.udp else "tcp",
            "expect": list(expect), "exit_status": exit_status(envs, expect), "environments": envs}


# --- the readable answer ------------------------------------------------------------

CLIENT_WORDS = {"ipv4": "IPv4", "mapped": "IPv4-mapped", "ipv6": "IPv6"}


def describe_environment(env: dict) -> str:
    from conformance.variants import known

    if env["variant"] == "default":
        what = "this machine as it is"
    else:
        what = known()[env["variant"]].description
    return what if env["runtime"] == HOST.name else f"in the {env['runtime']} runtime, {what}"


def render_environment(env: dict) -> list[str]:
    lines = [f"{env['name']}: {describe_environment(env)}" + (f" (port {env['port']})" if env["port"] else "")]
    if env["status"] != Status.CHECKED:
        lines.append(f"  {env['status']}: {env['reason']}")
        if env["output_tail"]:
            lines.append("  last lines of its output:")
            lines += [f"    | {line}" for line in env["output_tail"]]
        return lines
    for name, client in env["clients"].items():
        said = "reached it" if client["outcome"] == Outcome.OK else (client["error"] or client["outcome"])
        if client["outcome"] == Outcome.REFUSED:
            said = "refused"
        lines.append(f"  {CLIENT_WORDS[name]:<12} {client['address']:<17} {said}"
                     + (f"  ({client['answer']})" if client["answer"] else ""))
    if not env["listing"]:
        lines.append("  listens on:  (no listing tool here: ss or netstat)")
    else:
        lines.append(f"  listens on:  {'; '.join(env['listeners']) or '(no line for the port)'}")
    lines.append(f"  means:       {env['means']}")
    if env["fix"]:
        recipes = "; ".join(f"{r['kind']} on {r['bind']} with v6only {r['v6only']}" for r in env["recipes"])
        lines.append(f"  fix:         {env['fix']}" + (f" (portable recipes: {recipes})" if recipes else ""))
    return lines


def missed(env: dict, expect: list[str]) -> list[str]:
    """The expected clients that did not reach the server in a checked environment."""
    return [CLIENT_WORDS[n] for n in expect if env["clients"][n]["outcome"] != Outcome.OK]


def verdict_line(data: dict) -> str:
    envs = data["environments"]
    checked = [e for e in envs if e["status"] == Status.CHECKED]
    skipped = [f"{e['name']} ({e['reason']})" for e in envs if e["status"] == Status.SKIPPED]
    also = f"; skipped: {', '.join(skipped)}" if skipped else ""
    status = data["exit_status"]
    if status == EXIT_OK:
        expect = " and ".join(CLIENT_WORDS[n] for n in data["expect"])
        return f"result: ok: {expect} clients reached it in every environment checked ({len(checked)}){also}"
    if status == EXIT_UNREACHED:
        where = [f"{' and '.join(missed(e, data['expect']))} in {e['name']}" for e in checked
                 if missed(e, data["expect"])]
        return f"result: not reached: {'; '.join(where)}{also}"
    if status == EXIT_NOT_LISTENING:
        broken = [e["name"] for e in envs if e["status"] in (Status.NOT_LISTENING, Status.ERROR)]
        return f"result: never listened (or the check broke) in: {', '.join(broken)}{also}"
    return f"result: nothing checked: no environment asked for can be made here{also}"


def shown(part: str) -> str:
    """A command-line word as the user typed it: quoted only where the shell needs it."""
    return shlex.quote(part) if not part or any(c.isspace() or c in "'\"\\$`;&|<>" for c in part) else part


def render(data: dict) -> str:
    command = " ".join(shown(part) for part in data["command"])
    out = [f"command: {command}" + (" (UDP)" if data["proto"] == "udp" else ""), ""]
    for env in data["environments"]:
        out += [*render_environment(env), ""]
    return "\n".join([*out, verdict_line(data)]) + "\n"


# --- environments made elsewhere: a variant, a runtime ---------------------------------------

def inner_command(request: Request, environment: Environment, runtime: Runtime) -> list[str]:
    argv = [sys.executable, "-m", "conformance.check", "--inner", "--cwd", request.cwd,
            "--timeout", repr(request.timeout), *(["--udp"] if request.udp else []),
            *(["--port-env"] if request.port_env else []), "--", *request.command]
    if environment.variant != "default":
        argv = [sys.executable, "-m", "conformance.variants", environment.variant, "--", *argv]
    return runtime.wrap(argv)


def check_inside(request: Request, environment: Environment, runtime: Runtime) -> dict:
    """This module, run inside the environment; its last line of output is the result."""
    from conformance.variants import SKIP

    reason = runtime.unavailable()
    if reason is not None:
        return outcome(environment, Status.SKIPPED, reason)
    began = time.monotonic()
    # from the package's folder: a `conformance` folder in the user's cwd must not shadow
    # this package (the server itself still starts in the user's cwd: --cwd)
    process = subprocess.Popen(inner_command(request, environment, runtime), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PACKAGE_ROOT,
                               start_new_session=os.name == "posix")
    try:
        stdout, stderr = process.communicate(timeout=request.timeout + INNER_MARGIN)
    except subprocess.TimeoutExpired:
        return outcome(environment, Status.ERROR, f"the check did not finish in {request.timeout + INNER_MARGIN:g} s",
                       began)
    finally:
        with uninterrupted():
            subjects.kill(process)  # its SIGTERM handler ends the server first
    said = (stderr.strip().splitlines() or [f"exit status {process.returncode}"])[-1]
    if process.returncode == SKIP:
        return outcome(environment, Status.SKIPPED, said)
    try:
        data = json.loads(stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return outcome(environment, Status.ERROR, f"the check broke there: {said}", began)
    return dict(data, name=environment.name, runtime=environment.runtime, variant=environment.variant)


def check_in(request: Request, environment: Environment) -> dict:
    runtime = known_runtimes()[environment.runtime]
    if runtime is HOST and environment.variant == "default":
        return check_here(request, environment)
    return check_inside(request, environment, runtime)


# --- entry points -----------------------------------------------------------------------

@dataclass
class Checked:
    """What `check` answers: the result (check-1), its readable text, the exit status."""

    data: dict
    text: str = field(init=False)

    def __post_init__(self):
        self.text = render(self.data)

    @property
    def exit_status(self) -> int:
        return self.data["exit_status"]


def check(command: list[str], *, variant: str = "default", runtime: str = HOST.name, expect: str = "ipv4,ipv6",
          udp: bool = False, timeout: float = DEFAULT_TIMEOUT, port_env: bool = False,
          cwd: str | None = None) -> Checked:
    """Check a server command in every environment asked for (raises UsageError on bad input)."""
    request = Request(tuple(command), udp, timeout, port_env, cwd or os.getcwd())
    check_request(request)
    clients, envs = expected(expect), environments(variant, runtime)
    return Checked(result(request, clients, [check_in(request, env) for env in envs]))


def terminate(signum, frame):  # SIGTERM: unwind like Ctrl-C, so every finally ends its server
    raise KeyboardInterrupt


@contextlib.contextmanager
def ended_like_ctrl_c() -> Iterator[None]:
    """TERM unwinds like Ctrl-C while the check runs; the caller's handler is put back."""
    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread: the caller handles signals
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        with ended_like_ctrl_c():
            args, request = parse(argv)
            if args.inner:  # inside a variant or runtime: this environment only, as JSON
                print(json.dumps(check_here(request, Environment(HOST.name, "default"))))
                return EXIT_OK
            if args.json not in (None, "-"):
                check_json_path(args.json)
            checked = check(list(request.command), variant=args.variant, runtime=args.runtime, expect=args.expect,
                            udp=request.udp, timeout=request.timeout, port_env=request.port_env, cwd=request.cwd)
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("dualstack check: interrupted; the server and everything it started were ended", file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.json == "-":
        print(json.dumps(checked.data, indent=1))
    else:
        print(checked.text, end="")
    if args.json not in (None, "-"):
        from matrix.record import write_text_atomic
        write_text_atomic(args.json, json.dumps(checked.data, indent=1) + "\n")
    return checked.exit_status


def check_json_path(path: str) -> None:
    from matrix.record import RecordError, check_writable

    try:
        check_writable(path)
    except RecordError as exc:
        raise UsageError(f"dualstack check: --json {exc}") from exc


if __name__ == "__main__":
    sys.exit(main())
