"""What the platform's own listing tool says is listening on a port: `ss` (with its
`v6only:` field) on Linux, `netstat -an` on macOS and the BSDs, `netstat -ano` on
Windows; each line cut to what identifies the socket and stays the same from run to run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys


def listing_command(platform: str, proto: str = "tcp") -> list[list[str]] | None:
    """The platform's own listing tool for TCP listeners or UDP sockets (None: none we read)."""
    if platform.startswith("linux"):
        return [["ss", f"-{proto[0]}lneH"]] if shutil.which("ss") else None
    if platform == "darwin" or platform.startswith(("freebsd", "openbsd")):
        return [["netstat", "-an", "-p", proto]]
    if platform == "win32":
        return [["netstat", "-ano", "-p", f"{proto.upper()}v6"], ["netstat", "-ano", "-p", proto.upper()]]
    return None


def listening(text: str, port: int, platform: str, proto: str = "tcp") -> list[str]:
    """The listeners on ``port`` in the tool's output, each cut to what identifies it and
    stays the same from run to run: protocol, local address, state (BSD/macOS/Windows; a
    UDP socket has none) or local address and v6only (ss). Queue counters and Windows'
    owning PID are dropped."""
    if platform.startswith("linux"):
        # TCP: LISTEN lines only; where ss cannot ask the kernel over netlink (gVisor has no
        # NETLINK_SOCK_DIAG) it reads /proc/net/tcp and lists bound, unconnected sockets too
        lines = [line for line in text.splitlines() if line.strip()]
        summaries = [_ss_summary(line) for line in lines if proto != "tcp" or line.split()[0] == "LISTEN"]
        return [s for s in summaries if re.search(rf"[.:]{port}\b", s.split()[0])]
    # Windows: Proto Local Foreign State PID. BSD and macOS: Proto Recv-Q Send-Q Local Foreign State,
    # the protocol tcp4/tcp6/tcp46 (macOS, FreeBSD) or tcp/tcp6 (OpenBSD). A UDP line has no State.
    local, state, listen = (1, 3, "LISTENING") if platform == "win32" else (3, -1, "LISTEN")
    port_at_end = re.compile(rf"[.:]{port}$")
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or not fields[0].lower().startswith(proto) or not port_at_end.search(fields[local]):
            continue
        if proto == "udp":
            found.append(" ".join([fields[0], fields[local]]))
        elif fields[state] == listen:
            found.append(" ".join([fields[0], fields[local], fields[state]]))
    return found


def listeners(port: int, proto: str = "tcp") -> list[str] | None:
    """What the platform's own listing tool shows for the port: the TCP listeners, or the
    UDP sockets bound to it (None: no tool here)."""
    commands = listing_command(sys.platform, proto)
    if commands is None:
        return None
    try:
        text = "".join(subprocess.run(command, capture_output=True, text=True, timeout=10).stdout
                       for command in commands)
    except (OSError, subprocess.SubprocessError):
        return None
    return listening(text, port, sys.platform, proto)


def _ss_summary(line: str) -> str:
    """`ss -tlne` line -> its local address and v6only field: `*:8080 v6only:0`."""
    fields = line.split()
    local = fields[3] if len(fields) > 3 else line
    v6only = next((f for f in fields if f.startswith("v6only:")), "")
    return f"{local} {v6only}".strip()
