"""Portable errno names: the same name for the same failure on every OS."""

import errno

import pytest

from conformance.errnames import describe, portable_name

# Excerpts of errno.errorcode as CPython builds it on each OS.
WINDOWS = {10048: "WSAEADDRINUSE", 10049: "WSAEADDRNOTAVAIL", 10061: "WSAECONNREFUSED",
           10047: "WSAEAFNOSUPPORT", 10014: "WSAEFAULT", 22: "EINVAL", 100: "EADDRINUSE"}
DARWIN = {48: "EADDRINUSE", 49: "EADDRNOTAVAIL", 61: "ECONNREFUSED", 22: "EINVAL", 51: "ENETUNREACH"}
OPENBSD = {48: "EADDRINUSE", 47: "EAFNOSUPPORT", 22: "EINVAL"}


@pytest.mark.parametrize("code,table,name", [
    (10048, WINDOWS, "EADDRINUSE"),
    (10061, WINDOWS, "ECONNREFUSED"),
    (10014, WINDOWS, "EFAULT"),
    (22, WINDOWS, "EINVAL"),  # CPython folds WSAEINVAL into errno 22
    (48, DARWIN, "EADDRINUSE"),
    (61, DARWIN, "ECONNREFUSED"),
    (47, OPENBSD, "EAFNOSUPPORT"),
    (98, {98: "EADDRINUSE"}, "EADDRINUSE"),
])
def test_winsock_and_bsd_codes_map_to_posix_names(code, table, name):
    assert portable_name(code, table) == name


def test_unknown_code_is_kept_visible():
    assert portable_name(123456, {}) == "E?123456"


def test_native_errors_keep_their_raw_code():
    exc = OSError(errno.EADDRINUSE, "in use")
    assert describe(exc) == ("EADDRINUSE", errno.EADDRINUSE)


def test_winsock_error_reports_winerror_as_raw_code():
    exc = OSError(10048, "in use")
    exc.winerror = 10048  # what CPython sets on Windows
    assert describe(exc, WINDOWS) == ("EADDRINUSE", 10048)
