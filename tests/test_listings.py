"""The listing tools' output as each OS prints it (real samples, see
tests/fixtures/listings/README.md): a listener on the port is found, cut to what stays the
same from run to run (protocol, address, state: no queue counters, no PID), and nothing
else on the line or in the table is taken for it."""

from pathlib import Path

import pytest

from conformance.subjects.listings import listening, listing_command

LISTINGS = Path(__file__).parent / "fixtures" / "listings"


def sample(name: str) -> str:
    return (LISTINGS / name).read_text()


@pytest.mark.parametrize("name, platform, port, expected", [
    ("macos-netstat-an.txt", "darwin", 8809, ["tcp46 *.8809 LISTEN"]),
    ("freebsd-netstat-na.txt", "freebsd14", 3080, ["tcp6 *.3080 LISTEN"]),
    ("opnsense-netstat-an.txt", "freebsd14", 6556, ["tcp4 *.6556 LISTEN"]),  # not the TIME_WAIT line
    ("openbsd-netstat-a.txt", "openbsd7", 5556, ["tcp *.5556 LISTEN"]),
    ("openbsd-netstat-a.txt", "openbsd7", 8021, ["tcp localhost.8021 LISTEN"]),
    ("windows-netstat-aon.txt", "win32", 80, ["TCP 127.0.0.2:80 LISTENING"]),  # not 8042
    ("windows-netstat-ano-listening.txt", "win32", 443, ["TCP 0.0.0.0:443 LISTENING"]),
])
def test_the_listener_on_the_port_is_found(name, platform, port, expected):
    assert listening(sample(name), port, platform) == expected


@pytest.mark.parametrize("name, platform", [("macos-netstat-an.txt", "darwin"),
                                            ("openbsd-netstat-a.txt", "openbsd7"),
                                            ("windows-netstat-aon.txt", "win32")])
def test_a_port_nothing_listens_on_lists_nothing(name, platform):
    assert listening(sample(name), 9, platform) == []


def test_windows_listeners_compare_across_runs_whatever_their_pid():
    """The owning PID changes on every run; a listener line that kept it would make every
    Windows subject cell 'change' in every diff."""
    first = sample("windows-netstat-ano-listening.txt")
    second = first.replace("64200", "1312").replace("18364", "7")
    assert listening(first, 80, "win32") == listening(second, 80, "win32") == ["TCP 0.0.0.0:80 LISTENING"]


def test_connections_on_the_port_are_not_listeners():
    assert listening(sample("opnsense-netstat-an.txt"), 33734, "freebsd14") == []


@pytest.mark.parametrize("platform, tool", [("darwin", "netstat"), ("freebsd14", "netstat"),
                                            ("openbsd7", "netstat"), ("win32", "netstat")])
def test_every_os_of_the_matrix_has_a_listing_tool(platform, tool):
    assert listing_command(platform)[0][0] == tool
