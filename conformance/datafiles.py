"""Reading the packaged data files (catalogue, rules, expectations)."""

from __future__ import annotations

import sys
from importlib import resources
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

DATA = resources.files("conformance") / "data"
__all__ = ["DATA", "expectation_files", "load_toml", "tomllib"]


def load_toml(name: str) -> dict[str, Any]:
    """Load a TOML file shipped in conformance/data (name relative to it)."""
    return tomllib.loads((DATA / name).read_text(encoding="utf-8"))


def expectation_files() -> list[str]:
    """Platform names that have an expectations file."""
    folder = DATA / "expectations"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))
