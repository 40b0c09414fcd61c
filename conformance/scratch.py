"""Scratch folders under the temp dir that outlive one run: port lock files, the built Go
subject. One per user: a folder another user made first (root's, say) is not writable,
and a run must not fail on a machine it shares."""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path


@functools.cache  # asked for every port drawn; a process keeps its user (a variant execs anew)
def user() -> str:
    """Who runs this, as the machine knows them. Inside a variant's user namespace an
    ordinary user is uid 0, so the uid is mapped back through /proc/self/uid_map."""
    if not hasattr(os, "getuid"):
        return os.environ.get("USERNAME", "")  # Windows: the temp dir is per user already
    uid = os.getuid()
    try:
        for line in Path("/proc/self/uid_map").read_text().splitlines():
            inside, outside, count = map(int, line.split())
            if inside <= uid < inside + count:
                return str(outside + uid - inside)
    except (OSError, ValueError):  # not Linux
        pass
    return str(uid)


# dualstack run gives each session a TMPDIR of its own, removed after it, so that
# nothing an interrupted run leaves is left for long; what outlives runs goes here.
SHARED_TMP = "DUALSTACK_SHARED_TMP"


def scratch_folder(purpose: str) -> Path:
    shared = os.environ.get(SHARED_TMP) or tempfile.gettempdir()
    folder = Path(shared) / f"dualstack-conformance-{purpose}-{user()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder
