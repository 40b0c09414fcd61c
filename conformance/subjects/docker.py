"""The blog's Docker claim, measured: a server in a container, bound to 0.0.0.0 or to [::],
published with ``-p`` on the host's 127.0.0.1 or ::1, probed from the host's IPv4 and
IPv6 loopback clients. Run it once with the daemon's IPv6 off and once with it on; each
run writes a run record whose variant names the daemon's setting, so the matrix shows it
as a column of its own.

    python -m conformance.subjects.docker --out DIR --daemon-ipv6 {on,off} [--image IMAGE]

``--daemon-ipv6`` is what the job set up; the record says what ``docker network inspect
bridge`` measured, and the run refuses to write a record when the two disagree (a column
that claims a setting the daemon did not have would be worse than none). Cells are
informational: Docker documents no loopback-publish result to judge them by, and the
research notes (os_facts.md, "Docker containers") say why the blog's claim is an
overgeneralisation. Traffic stays on this machine: host loopback, docker-proxy or NAT,
and the container's bridge address.

exit status: 0 record written, 1 the daemon's setting is not the one asked for, or docker
failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import select
import shlex
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from conformance import ports
from conformance.run_record import Cell

IMAGE = "python:3.12-slim"
CONTAINER_PORT = 8000
READY_DEADLINE = 60.0  # a container start, the image already pulled
PROBE_DEADLINE = 5.0
DOCKER_TIMEOUT = 60.0
SERVERS = ("0.0.0.0", "::")
PUBLISH = {"127.0.0.1": "127.0.0.1", "::1": "[::1]"}  # host address -> its spelling in -p
CLIENTS = {"ipv4": (socket.AF_INET, "127.0.0.1"), "ipv6": (socket.AF_INET6, "::1")}
ANSWER = b"ok\n"
# Inside the container: listen, say so, answer every connection with ANSWER. An AF_INET6
# socket on :: keeps the container's default IPV6_V6ONLY (bindv6only starts at 0 in a new
# network namespace), as a server that leaves the option alone does.
SERVER = (  # double quotes only: the reproducer passes it whole inside single shell quotes
    "import socket, sys\n"
    "host = sys.argv[1]\n"
    'family = socket.AF_INET6 if ":" in host else socket.AF_INET\n'
    f"server = socket.create_server((host, {CONTAINER_PORT}), family=family)\n"
    'print("listening", flush=True)\n'
    "while True:\n"
    "    conn, _ = server.accept()\n"
    '    conn.sendall(b"ok\\n")\n'
    "    conn.close()\n"
)
REASON = "Docker documents no result for a loopback-published port to judge this by; observed only"


class DockerFailed(Exception):
    """docker itself failed (not the server in the container); str() is the reason."""


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=DOCKER_TIMEOUT)
    if done.returncode != 0:
        raise DockerFailed(f"docker {args[0]}: {done.stderr.strip()[-300:]}")
    return done.stdout.strip()


def daemon_ipv6() -> bool:
    """Whether the default bridge network has IPv6, as the daemon reports it."""
    return docker("network", "inspect", "bridge", "--format", "{{.EnableIPv6}}") == "true"


def answer(family: int, host: str, port: int) -> str:
    """What a loopback client gets from a published port. docker-proxy accepts before it
    knows whether the container answers, so only the server's answer counts as ok; a
    connection the proxy closes without it is not-delivered."""
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(PROBE_DEADLINE)
            sock.connect((host, port))
            return "ok" if sock.recv(len(ANSWER)) == ANSWER else "not-delivered"
    except ConnectionRefusedError:
        return "refused"
    except ConnectionResetError:
        return "not-delivered"
    except TimeoutError:
        return "timeout"
    except OSError as exc:
        from conformance.errnames import describe
        return f"error:{describe(exc)[0]}"


def wait_listening(container: str, deadline: float) -> bool:
    """Bounded: follow the container's output until the server says it listens."""
    logs = subprocess.Popen(["docker", "logs", "--follow", container], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    assert logs.stdout is not None
    end = time.monotonic() + deadline
    try:
        while (remaining := end - time.monotonic()) > 0:
            readable, _, _ = select.select([logs.stdout], [], [], remaining)
            line = logs.stdout.readline() if readable else b""
            if readable and not line:
                return False  # the container is gone
            if line.strip() == b"listening":
                return True
        return False
    finally:
        logs.kill()
        logs.wait()


def observe(server: str, publish: str, image: str) -> dict[str, dict]:
    """client -> observed, for one container: the server on ``server``, published on the
    host's ``publish`` address."""
    with ports.free() as port:
        try:
            container = docker("run", "--detach", "--rm", "--publish", f"{PUBLISH[publish]}:{port}:{CONTAINER_PORT}",
                               image, "python", "-c", SERVER, server)
        except DockerFailed as exc:  # Docker refuses some publish addresses (moby/moby#48067)
            return {client: {"outcome": "start-error", "notes": [str(exc)]} for client in CLIENTS}
        try:
            if not wait_listening(container, READY_DEADLINE):
                return {client: {"outcome": "start-error", "notes": ["the server never said it listens"]}
                        for client in CLIENTS}
            return {client: _observed(answer(family, host, port)) for client, (family, host) in CLIENTS.items()}
        finally:
            with contextlib.suppress(DockerFailed, subprocess.SubprocessError):
                docker("rm", "--force", container)


def _observed(seen: str) -> dict:
    if seen.startswith("error:"):
        return {"outcome": "connect-error", "errno": seen.split(":", 1)[1]}
    return {"outcome": seen}


def reproducer(server: str, publish: str, client: str, image: str) -> str:
    family, host = CLIENTS[client]
    return (f"docker run --rm -d -p {PUBLISH[publish]}:8080:{CONTAINER_PORT} {image} python -c {shlex.quote(SERVER)} "
            f"{server}\n"
            f"python -c \"import socket; s = socket.socket(socket.{family.name}); "
            f"s.connect(('{host}', 8080)); print(s.recv(3))\"")


def results(image: str) -> list[Cell]:
    out: list[Cell] = []
    for server in SERVERS:
        for publish in PUBLISH:
            for client, observed in observe(server, publish, image).items():
                params = {"server": server, "publish": publish, "client": client}
                out.append({"id": f"docker/tcp/server={server}/publish={publish}/client={client}",
                            "family": "docker", "params": params, "observed": observed, "expected": None,
                            "verdict": "informational", "reason": REASON,
                            "reproducer": reproducer(server, publish, client, image)})
    return out


def label(ipv6: bool) -> str:
    return f"docker-daemon-ipv6-{'on' if ipv6 else 'off'}"


def main(argv: list[str] | None = None) -> int:
    from conformance.machine import measure
    from conformance.run_record import build_record, record_name
    from matrix import record

    parser = argparse.ArgumentParser(prog="python -m conformance.subjects.docker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, metavar="DIR", help="existing folder for the run record")
    parser.add_argument("--daemon-ipv6", required=True, choices=["on", "off"], help="what the job set up")
    parser.add_argument("--image", default=IMAGE, help=f"the container image (default: {IMAGE})")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if not out.is_dir():
        print(f"docker subjects: --out {out}: not a folder", file=sys.stderr)
        return 2
    started = datetime.now(timezone.utc)
    try:
        measured = daemon_ipv6()
        if measured != (args.daemon_ipv6 == "on"):
            print(f"docker subjects: the daemon's bridge has IPv6 {'on' if measured else 'off'}, "
                  f"not {args.daemon_ipv6} as the job set it up; no record written", file=sys.stderr)
            return 1
        cells = results(args.image)
        host = measure()
        facts = dataclasses.replace(host, knobs=dict(host.knobs, **{
            "docker.bridge.EnableIPv6": str(measured).lower(),
            "docker.version": docker("version", "--format", "{{.Server.Version}}")}))
    except (DockerFailed, OSError, subprocess.SubprocessError) as exc:
        print(f"docker subjects: {exc}", file=sys.stderr)
        return 1
    data = build_record(facts, cells, variant=label(measured), started=started, exit_status=0)
    path = out / record_name(data["platform"])
    record.write(path, dict(data))
    print(f"docker subjects: {len(cells)} cells, record {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
