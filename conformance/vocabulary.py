"""The suite's vocabulary, defined once: verdicts, outcomes, the IPV6_V6ONLY setting,
the three clients and the deadlines every wait is bounded by.

Enums derive from ``str`` so that records, JSON and comparisons with plain strings
keep working unchanged (``Verdict.CONFORMS == "conforms"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Final


class Word(str, Enum):
    """A str enum whose str() is its value on every Python (3.10 prints the member name)."""

    def __str__(self) -> str:
        return str(self.value)


class Verdict(Word):
    """An observation judged against what the platform documents."""

    CONFORMS = "conforms"
    DEVIATES = "deviates"
    INFORMATIONAL = "informational"  # the platform documents nothing that decides the cell
    UNSUPPORTED = "unsupported"  # the platform documents that the cell cannot run
    SKIPPED = "skipped"  # a precondition of this machine is missing (a toolchain, ::1)
    ERROR = "error"  # the harness broke


# The order verdicts are listed and counted in, best first.
VERDICT_ORDER: Final = (Verdict.CONFORMS, Verdict.INFORMATIONAL, Verdict.UNSUPPORTED, Verdict.SKIPPED,
                        Verdict.DEVIATES, Verdict.ERROR)


class Outcome(Word):
    """What one probe saw, in a word (observed.outcome in the run record)."""

    OK = "ok"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"
    NOT_DELIVERED = "not-delivered"
    TIMEOUT = "timeout"
    BIND_ERROR = "bind-error"
    LISTEN_ERROR = "listen-error"
    CONNECT_ERROR = "connect-error"
    SEND_ERROR = "send-error"
    OPTION_ERROR = "option-error"  # a setsockopt that failed
    UNSUPPORTED = "unsupported"
    START_ERROR = "start-error"  # a server subject that exited before it listened
    RESOLVE_ERROR = "resolve-error"
    ERROR = "error"  # the harness broke before anything was observed


class V6only(Word):
    """The catalogue's IPV6_V6ONLY setting of a socket: left alone, cleared or set."""

    DEFAULT = "default"
    OFF = "0"
    ON = "1"

    @property
    def value_set(self) -> int | None:
        """The int passed to setsockopt, or None when the OS default is kept."""
        return None if self is V6only.DEFAULT else int(self.value)


def v6only(setting: str | None) -> V6only:
    """The catalogue spelling ("default", "0", "1"; None for no setting) as a V6only."""
    return V6only.DEFAULT if setting is None else V6only(setting)


@dataclass(frozen=True)
class Client:
    """A loopback client: the IP version it speaks and the address it connects to."""

    name: str
    ip_version: int  # the version on the wire: a mapped client speaks IPv4
    socket_family: int  # 4 or 6: the socket it opens
    address: str


CLIENTS: Final = {
    "ipv4": Client("ipv4", 4, 4, "127.0.0.1"),
    "mapped": Client("mapped", 4, 6, "::ffff:127.0.0.1"),
    "ipv6": Client("ipv6", 6, 6, "::1"),
}

# Upper bounds, reached only when something is broken. Windows answers a refused
# loopback connect only after its SYN retries (about 2 s), hence the margin.
CONNECT_DEADLINE: Final = 5.0
UDP_DEADLINE: Final = 1.0


class ExitStatus(IntEnum):
    """What the ``dualstack`` command exits with, and what a record's run.exit_status says."""

    OK = 0  # every cell conforms, or is informational, unsupported or skipped
    DEVIATES = 1  # a cell deviates from what the platform documents, or the harness broke
    USAGE = 2  # bad input: nothing was run or written
    BROKEN = 3  # the run could not complete (pytest internal error, record not written)
    INTERRUPTED = 130  # Ctrl-C or SIGTERM: no record was written or replaced


class UsageError(Exception):
    """Bad input to a command: str() is the one-line message; the command exits USAGE (2)
    having run and written nothing."""


def is_ipv6(address: str) -> bool:
    return ":" in address
