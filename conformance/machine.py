"""What was measured on this machine: the preconditions the platform model reasons from.

(What a platform *documents* is a Fact of conformance/platform_model.py; what this
machine *is* is a Machine, recorded under "facts" in the run record.)

These are measured once per run, by the process that writes the record, and handed to
every pytest-xdist worker; never assumed:
whether AF_INET6 sockets can be created, whether 127.0.0.1, ::1 and
::ffff:127.0.0.1 can be bound, the default IPV6_V6ONLY of a fresh socket, and the
platform knob that sets it.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

KNOB_TIMEOUT = 5.0
# Linux settings recorded with every run: the default IPV6_V6ONLY, and IPv6 switched off.
LINUX_KNOBS = ("net.ipv6.bindv6only", "net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.lo.disable_ipv6")


@dataclass(frozen=True)
class Machine:
    os: str
    af_inet6: bool = True
    has_ipv4: bool = True
    has_ipv6: bool = True
    has_mapped: bool = True
    default_v6only: dict = field(default_factory=lambda: {"tcp": 0, "udp": 0})
    knobs: dict = field(default_factory=dict)
    python: tuple = tuple(sys.version_info[:2])  # the model needs it; the record has it in platform

    def as_dict(self) -> dict:
        data = asdict(self)
        del data["os"], data["python"]
        return data

    def as_json(self) -> dict:
        """Everything, for handing to another process (see from_json)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Machine:
        return cls(**{**data, "python": tuple(data["python"])})


def os_name(platform: str = sys.platform) -> str:
    """linux, darwin, windows, freebsd, openbsd, netbsd, ... from sys.platform."""
    if platform.startswith("win") or platform == "cygwin":
        return "windows"
    for name in ("linux", "darwin", "freebsd", "openbsd", "netbsd", "dragonfly", "sunos", "aix"):
        if platform.startswith(name):
            return name
    return platform


def _binds(family, address: str, v6only: int | None = None) -> bool:
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            if v6only is not None:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
            sock.bind((address, 0))
        return True
    except OSError:
        return False


def _default_v6only(proto_type) -> int | None:
    try:
        with socket.socket(socket.AF_INET6, proto_type) as sock:
            return int(bool(sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)))
    except OSError:
        return None


def read_knobs(os: str) -> dict[str, str]:
    """The system settings that decide the default IPV6_V6ONLY, where the OS has one."""
    if os == "linux":
        knobs = {}
        for key in LINUX_KNOBS:
            with contextlib.suppress(OSError):
                knobs[key] = Path("/proc/sys", key.replace(".", "/")).read_text().strip()
        return knobs
    if os in ("darwin", "freebsd", "netbsd"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(["sysctl", "-n", "net.inet6.ip6.v6only"], capture_output=True,
                                 text=True, timeout=KNOB_TIMEOUT, check=True).stdout.strip()
            return {"net.inet6.ip6.v6only": out}
    return {}


def measure() -> Machine:
    os = os_name()
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_STREAM).close()
        af_inet6 = True
    except OSError:
        af_inet6 = False
    return Machine(
        os=os,
        af_inet6=af_inet6,
        has_ipv4=_binds(socket.AF_INET, "127.0.0.1"),
        has_ipv6=af_inet6 and _binds(socket.AF_INET6, "::1", v6only=1),
        has_mapped=af_inet6 and _binds(socket.AF_INET6, "::ffff:127.0.0.1", v6only=0),
        default_v6only={"tcp": _default_v6only(socket.SOCK_STREAM),
                        "udp": _default_v6only(socket.SOCK_DGRAM)},
        knobs=read_knobs(os),
    )
