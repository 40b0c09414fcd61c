"""The probes of a user's server from the three loopback clients: IPv4 (127.0.0.1),
IPv4-mapped (::ffff:127.0.0.1) and IPv6 (::1).

TCP: the connect, then an HTTP GET whose answer's first line is recorded (a server that
does not speak HTTP is still reached: the connect is what counts). UDP: a datagram; a
reply, or silence, means a socket took it, a refusal (ICMP port unreachable) comes back
as ECONNREFUSED.
"""

from __future__ import annotations

import contextlib
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from conformance.errnames import describe
from conformance.sockets import client_socket_family, connect_outcome
from conformance.subjects import HTTP_REQUEST
from conformance.vocabulary import CLIENTS, CONNECT_DEADLINE, UDP_DEADLINE, Client, Outcome

ANSWER_DEADLINE = 1.0  # how long an HTTP answer is awaited once the connect succeeded
DATAGRAM = b"dualstack check\n"


def client_socket(client: Client, kind: int) -> socket.socket:
    sock = socket.socket(client_socket_family(client), kind)
    if client.name == "mapped":  # the mapped client must be dual-stack itself (Windows defaults to v6only:1)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    return sock


def failure(exc: OSError) -> dict[str, Any]:
    """A failed probe: its outcome and the errno's name (a refusal by datagram comes as
    ECONNRESET on Windows, and is named as the refusal it is)."""
    outcome = connect_outcome(exc)
    if outcome == Outcome.REFUSED:
        return {"outcome": outcome, "error": "ECONNREFUSED"}
    return {"outcome": outcome, "error": None if outcome == Outcome.TIMEOUT else describe(exc)[0]}


def probe(port: int, client: Client, udp: bool) -> dict[str, Any]:
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
        sock.sendall(HTTP_REQUEST)
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


def probe_all(port: int, udp: bool) -> dict[str, dict[str, Any]]:
    """The three clients at once: a silent server costs one answer deadline, not three."""
    with ThreadPoolExecutor(len(CLIENTS)) as pool:
        answers = dict(zip(CLIENTS, pool.map(lambda c: probe(port, c, udp), CLIENTS.values()), strict=True))
    return {name: {"address": CLIENTS[name].address, "answer": None, **answer} for name, answer in answers.items()}
