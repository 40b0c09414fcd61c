"""The runtime axis: the same suite on other network stacks that run on this machine.

- ``host``: this machine's kernel, as every run so far;
- ``gvisor``: gVisor's ``runsc``, an application kernel with its own TCP/IP stack;
- ``uml``: user-mode Linux, Debian 12's 6.1 LTS kernel run as an ordinary process.

``python -m conformance.runtimes NAME [--check] --writable DIR -- COMMAND...`` runs
COMMAND inside the runtime, in the current folder, with DIR writable at its own path
(where the run record goes) and everything else of the host read-only or a throw-away
copy. Its exit status is COMMAND's; it exits SKIP (77) with a one-line reason when the
runtime cannot start here. Whatever the runtime leaves (its state, its processes) is
under a temporary folder and ended before this process returns, Ctrl-C included.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from conformance.datafiles import DATA, load_toml
from conformance.scratch import SHARED_TMP

SKIP = 77  # as conformance.variants: the automake convention for "skipped"
BROKEN = 3  # the runtime stopped before the command finished
HOST = "host"
VERSION_TIMEOUT = 10.0
STOP_DEADLINE = 10.0  # for a runtime to end after it was asked to
CHECK_DEADLINE = 60.0  # for a runtime to start and run /bin/true


class RuntimeUnavailable(Exception):
    """The runtime cannot start here; str() is the one-line reason."""


def known() -> dict[str, dict]:
    """The runtimes of conformance/data/runtimes.toml, host first."""
    return load_toml("runtimes.toml")


def names() -> list[str]:
    """Every runtime but the host, in catalogue order."""
    return [name for name in known() if name != HOST]


def spec(name: str) -> dict:
    listed = known()
    if name not in listed:
        raise ValueError(f"unknown runtime {name!r}; known: {', '.join(listed)}")
    return listed[name]


def missing_package(name: str) -> str | None:
    """The one-line reason when the runtime's package is not installed, else None."""
    entry = spec(name)
    if "binary" not in entry:
        return None
    if sys.platform != "linux":
        return f"{name} runs on Linux only"
    if shutil.which(entry["binary"]) is None:
        return f"{entry['binary']} is not on PATH (apt-get install {entry['package']})"
    if name == "uml":
        release = uml_release()
        if release is None:
            return f"no kernel modules under {entry['modules']} (apt-get install {entry['package']})"
        if shutil.which("insmod") is None:
            return "insmod is not on PATH (apt-get install kmod)"
    return None


def unavailable(name: str) -> str | None:
    """None when the runtime starts here, else the one-line reason: its package is
    missing, or it could not run /bin/true (ptrace or namespaces refused, say)."""
    reason = missing_package(name)
    if reason is not None or name == HOST:
        return reason
    try:
        code, last = try_inside(name, ["true"], deadline=CHECK_DEADLINE)
    except subprocess.TimeoutExpired:
        return f"{name} did not run /bin/true within {CHECK_DEADLINE:.0f} s"
    return None if code == 0 else last or f"{name} could not run /bin/true (exit status {code})"


def try_inside(name: str, argv: list[str], cwd: Path | None = None, deadline: float | None = None) -> tuple[int, str]:
    """Run a short check inside the runtime, its output kept: (exit status, the last
    line it printed before the runtime's own closing lines). In this process, so that
    Ctrl-C ends the runtime and removes its scratch before it goes on."""
    closing = spec(name).get("closing_lines", [])
    with tempfile.TemporaryDirectory(prefix="dualstack-check-") as folder, \
            tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as log:
        code = run(name, argv, Path(folder), cwd=cwd or Path(folder), output=log, deadline=deadline)
        log.seek(0)
        lines = [line.strip() for line in log.read().splitlines() if line.strip() and line.strip() not in closing]
    return code, lines[-1] if lines else ""


def runsc_version() -> str | None:
    """`runsc --version`'s first line without its name: "0.0~20221219.0"."""
    try:
        out = subprocess.run([spec("gvisor")["binary"], "--version"], capture_output=True, text=True,
                             timeout=VERSION_TIMEOUT).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    first = out.strip().splitlines()[:1]
    return first[0].removeprefix("runsc version ").strip() if first else None


def uml_release() -> str | None:
    """The kernel release Debian's user-mode-linux package ships (its module folder)."""
    folder = Path(spec("uml")["modules"])
    releases = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    return releases[-1] if releases else None


def describe(name: str) -> dict:
    """platform.runtime of a record made inside the runtime ``name``. "release" is a
    kernel release or None: gVisor's uname is a fixed fake (4.4.0), kept apart as
    "uname" so it never passes as a kernel release."""
    spec(name)
    if name == "gvisor":
        return {"name": name, "version": runsc_version(), "release": None, "uname": platform.release()}
    # inside UML the running kernel is the 6.1 one: uname says what booted
    return {"name": name, "version": platform.version(), "release": platform.release()}


def described_from_host(name: str) -> dict:
    """What describe() will say inside, as far as the host can tell before the run:
    enough to name the record (UML's release is its module folder's)."""
    if name == "uml":
        return {"name": name, "version": None, "release": uml_release()}
    return {**describe(name), "uname": None} if name == "gvisor" else describe(name)


def on_platform(description: dict) -> dict:
    """platform.release and .version of a run inside a runtime: the kernel's where it is
    one; for gVisor, which has none, the runtime's own name and version."""
    name, version = description["name"], description["version"] or "unknown"
    if description["release"] is not None:
        return {"release": description["release"], "version": description["version"] or ""}
    return {"release": f"{name}-{version}", "version": f"{name} {version}"}


def skipped_cell(name: str, cell_id: str) -> str | None:
    """The reason a cell cannot be judged inside this runtime (runtimes.toml), or None."""
    for skip in spec(name).get("skip", []):
        if any(fnmatch.fnmatchcase(cell_id, glob) for glob in skip["cells"]):
            return " ".join(skip["reason"].split())
    return None


def command_inside(name: str, argv: list[str], writable: Path) -> list[str]:
    """The command that runs argv inside the runtime, in the current folder, with
    ``writable`` writable at its own path. The host runs argv as it is."""
    if name == HOST:
        return list(argv)
    spec(name)
    return [sys.executable, "-m", "conformance.runtimes", name, "--writable", str(Path(writable).resolve()),
            "--", *argv]


def run_environment(name: str) -> dict[str, str]:
    """The environment inside: ours, with the temporary folder the runtime's own (also
    for what outlives one session there: the sandbox is new each time) and the runtime's
    own settings (runtimes.toml) first."""
    own = spec(name).get("environment", {})
    env = {k: v for k, v in os.environ.items() if k not in ("TMPDIR", "TEMP", "TMP", SHARED_TMP, *own)}
    tmp = spec(name)["tmpdir"]
    return {**env, "TMPDIR": tmp, SHARED_TMP: tmp, **own}


# --- gVisor -----------------------------------------------------------------------

def gvisor_bundle(argv: list[str], cwd: str, writable: Path) -> dict:
    """An OCI bundle's config.json: the host's root read-only under an in-memory
    overlay (as `runsc do` has it), ``writable`` bound read-write at its own path."""
    return {
        "ociVersion": "1.0.0",
        "process": {
            "user": {"uid": 0, "gid": 0},
            "args": argv,
            "env": [f"{k}={v}" for k, v in run_environment("gvisor").items()],
            "cwd": cwd,
            "capabilities": {kind: spec("gvisor")["capabilities"]
                             for kind in ("bounding", "effective", "inheritable", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 4096}],
        },
        "root": {"path": "/", "readonly": False},
        "hostname": "gvisor",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": str(writable), "type": "bind", "source": str(writable), "options": ["rbind", "rw"]},
        ],
        "linux": {"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]},
    }


@contextlib.contextmanager
def gvisor(argv: list[str], cwd: str, writable: Path, scratch: Path) -> Iterator[list[str]]:
    entry = spec("gvisor")
    bundle, state = scratch / "bundle", scratch / "state"
    bundle.mkdir()
    state.mkdir()
    (bundle / "config.json").write_text(json.dumps(gvisor_bundle(argv, cwd, writable)))
    runsc = [entry["binary"], f"--root={state}", *entry["flags"]]
    container = f"dualstack-{os.getpid()}"
    try:
        yield [*runsc, "run", f"--bundle={bundle}", container]
    finally:  # a container still there (Ctrl-C) is killed with its sandbox and gofer
        subprocess.run([*runsc, "delete", "--force", container], capture_output=True, timeout=STOP_DEADLINE)


# --- user-mode Linux ------------------------------------------------------------------

def uml_job(argv: list[str], cwd: str, writable: Path, status_dir: Path) -> str:
    """The job file uml-init.sh sources: data as shell assignments, quoted."""
    exports = "\n".join(f"    export {k}={shlex.quote(v)}" for k, v in run_environment("uml").items()
                        if k.isidentifier())
    return "\n".join([
        f"modules={shlex.quote(' '.join(spec('uml')['load']))}",
        f"writable={shlex.quote(str(writable))}",
        f"status_dir={shlex.quote(str(status_dir))}",
        f"cwd={shlex.quote(cwd)}",
        "job_environment() {",
        exports or "    :",
        "}",
        f"set -- {shlex.join(argv)}",
        "",
    ])


@contextlib.contextmanager
def uml(argv: list[str], cwd: str, writable: Path, scratch: Path) -> Iterator[list[str]]:
    entry = spec("uml")
    if " " in str(scratch):
        raise RuntimeUnavailable(f"the temporary folder {scratch} has a space, which a kernel command line cannot carry")
    status_dir = scratch / "status"
    status_dir.mkdir()
    job = scratch / "job.sh"
    job.write_text(uml_job(argv, cwd, writable, status_dir))
    init = Path(str(DATA / "runtimes" / entry["init"]))
    umid = f"dualstack-{os.getpid()}"
    kernel = [entry["binary"], f"mem={entry['memory']}", "root=/dev/root", "rootfstype=hostfs", "rootflags=/", "ro",
              "init=/bin/sh", "con=null", "con0=fd:0,fd:1", f"uml_dir={scratch}", f"umid={umid}", "quiet",
              f"DUALSTACK_JOB={job}", *(f"{k}={v}" for k, v in entry.get("environment", {}).items()),
              "--", str(init)]  # the script is sh's argument: an installed copy need not be executable
    refusals = [arg for what in entry.get("refuse", []) for arg in ("--refuse", what)]
    yield [sys.executable, "-m", "conformance.seccomp", *refusals, "--", *kernel]


def uml_status(scratch: Path) -> int | None:
    try:
        return int((scratch / "status" / "status").read_text())
    except (OSError, ValueError):
        return None


# --- running ------------------------------------------------------------------------

SOCKET_PATH_ROOM = 40  # runsc and UML make Unix sockets under the scratch folder: 108 bytes at most


def socket_temp() -> str:
    """Where the runtime's own state goes: the shared temp folder (never the run's own
    TMPDIR, which lies inside the folder bound writable into the sandbox), or /tmp when
    its path leaves too little room for the Unix socket paths the runtime makes under it
    (tox's and pytest's temp folders are deep)."""
    folder = os.environ.get(SHARED_TMP) or tempfile.gettempdir()
    return folder if len(folder) <= SOCKET_PATH_ROOM else "/tmp"


def end(process: subprocess.Popen) -> None:
    """End the runtime's whole process group: first asked, then killed."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run(name: str, argv: list[str], writable: Path, cwd: Path | None = None, output: IO[str] | None = None,
        deadline: float | None = None) -> int:
    """Run argv inside the runtime, in ``cwd`` (default: the current folder), its
    output to ``output`` (default: ours); its exit status, or BROKEN when the runtime
    stopped first. Raises RuntimeUnavailable, or TimeoutExpired after ``deadline``.
    Ctrl-C or the deadline ends the runtime before the exception goes on."""
    reason = missing_package(name)
    if reason is not None:
        raise RuntimeUnavailable(reason)
    if not writable.is_dir():
        raise RuntimeUnavailable(f"--writable {writable}: not a folder")
    launch = {"gvisor": gvisor, "uml": uml}[name]
    with tempfile.TemporaryDirectory(prefix=f"dualstack-{name}-", dir=socket_temp()) as folder:
        scratch = Path(folder)
        with launch(argv, str(Path(cwd or os.getcwd()).resolve()), writable.resolve(), scratch) as command:
            # its own process group, so that every process the runtime starts is ended with it;
            # its temp files (runsc's sockets, UML's memory file) in the scratch folder too
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=output,
                                       start_new_session=True, env={**os.environ, "TMPDIR": folder})
            try:
                code = process.wait(timeout=deadline)
            finally:
                end(process)
        if name == "uml":
            status = uml_status(scratch)
            if status is None:
                print(f"conformance.runtimes: user-mode Linux stopped before the command finished "
                      f"(linux.uml exit status {code})", file=output or sys.stderr)
                return BROKEN
            return status
        return code


def main(argv: list[str]) -> int:
    usage = "usage: python -m conformance.runtimes NAME --writable DIR -- COMMAND..."
    if len(argv) < 4 or argv[1] != "--writable" or "--" not in argv:
        print(usage, file=sys.stderr)
        return 2
    name, writable, command = argv[0], Path(argv[2]), argv[argv.index("--") + 1:]
    if name not in names() or not command:
        print(f"conformance.runtimes: unknown runtime {name!r}; known: {', '.join(names())}" if command else usage,
              file=sys.stderr)
        return 2
    # Ctrl-C or a kill: end the runtime (the finally clauses above), then stop
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return run(name, command, writable)
    except RuntimeUnavailable as exc:
        print(str(exc), file=sys.stderr)
        return SKIP
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
