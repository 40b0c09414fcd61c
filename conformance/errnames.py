"""Portable errno names.

Records say ``EADDRINUSE``, never ``98``, ``48`` or ``WSAEADDRINUSE``: the number
differs per OS, the name does not. On Windows a socket error carries the Winsock code
(``WSAEADDRINUSE`` = 10048); CPython folds a few of them (EINVAL, EACCES, EFAULT,
EINTR, EBADF, EMFILE) into the C errno, the rest keep the Winsock number. Both roads
lead to the same POSIX name here; the raw code is kept next to it.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping

WINSOCK_PREFIX = "WSA"


def portable_name(code: int, errorcode: Mapping[int, str] = errno.errorcode) -> str:
    """The POSIX name of ``code`` as this platform's errno table spells it."""
    name = errorcode.get(code)
    if name is None:
        return f"E?{code}"
    if name.startswith(WINSOCK_PREFIX + "E"):
        return name[len(WINSOCK_PREFIX):]
    return name


def raw_code(exc: OSError) -> int | None:
    """The code the OS reported: the Winsock error on Windows, errno elsewhere."""
    return getattr(exc, "winerror", None) or exc.errno


def describe(exc: OSError, errorcode: Mapping[int, str] = errno.errorcode) -> tuple[str | None, int | None]:
    """(portable name, raw code) for an OSError; (None, None) when it has no code."""
    code = raw_code(exc)
    if code is None:
        return None, None
    return portable_name(code, errorcode), code
