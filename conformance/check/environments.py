"""Where a check runs: the environments asked for with --variant and --runtime.

An environment is a runtime (the host, or a sandbox of conformance/runtimes.py) and a
variant (this machine as it is, or a Linux network namespace of conformance/variants.py).
The default environment on the host runs in this process; every other one runs the
check inside itself (conformance/check/inside.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from conformance import runtimes, variants
from conformance.scratch import scratch_folder
from conformance.vocabulary import UsageError

DEFAULT_VARIANT = "default"


@dataclass(frozen=True)
class Runtime:
    """Where an environment's check runs: `wrap` turns the inner check's command line
    into one that runs inside the runtime; `unavailable` is None or the reason."""

    name: str
    unavailable: Callable[[], str | None]
    wrap: Callable[[list[str]], list[str]]


HOST = Runtime("host", lambda: None, lambda argv: argv)


def known_runtimes() -> dict[str, Runtime]:
    """The host, plus the sandboxes of conformance/runtimes.py (gVisor, UML)."""
    known = {HOST.name: HOST}
    for name in runtimes.names():
        known[name] = Runtime(name, functools.partial(runtimes.unavailable, name), functools.partial(inside, name))
    return known


def inside(runtime: str, argv: list[str]) -> list[str]:
    """The inner check's command line, run inside the runtime. It answers on its
    standard output; the one folder the runtime lets it write is this user's scratch."""
    return runtimes.command_inside(runtime, argv, scratch_folder("check"))


@dataclass(frozen=True)
class Environment:
    runtime: str
    variant: str

    @property
    def name(self) -> str:
        return self.variant if self.runtime == HOST.name else f"{self.runtime}/{self.variant}"

    @property
    def here(self) -> bool:
        """The host as it is: checked in this process."""
        return self.runtime == HOST.name and self.variant == DEFAULT_VARIANT


HERE = Environment(HOST.name, DEFAULT_VARIANT)


def asked(variant: str, runtime: str) -> list[Environment]:
    """--variant and --runtime (a name, names joined by commas, or all) as environments."""
    names = [DEFAULT_VARIANT, *variants.known()]
    chosen = names if variant == "all" else [v.strip() for v in variant.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in names]
    if unknown or not chosen:
        raise UsageError(f"dualstack check: unknown --variant {(unknown or [variant])[0]!r}; "
                         f"known: {', '.join(names)}, all")
    known = known_runtimes()
    if runtime != "all" and runtime not in known:
        raise UsageError(f"dualstack check: unknown --runtime {runtime!r}; known: {', '.join(known)}, all")
    return [Environment(r, v) for r in (known if runtime == "all" else [runtime]) for v in chosen]


def describe(environment: Environment) -> str:
    """An environment in words."""
    if environment.variant == DEFAULT_VARIANT:
        what = "this machine as it is"
    else:
        what = variants.known()[environment.variant].description
    return what if environment.runtime == HOST.name else f"in the {environment.runtime} runtime, {what}"
