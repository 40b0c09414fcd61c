"""Scenarios: one cell of the behaviour space; each family generates its own from its
section of the scenario catalogue (conformance/data/catalogue.toml).

A scenario is pure data. Its semantic id (``connect/tcp/bind=::/v6only=0/client=ipv4``)
is stable across suite versions and is what the matrix joins on; its test id
(``tcp-bind=::-v6only=0-client=ipv4``) is what pytest shows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from conformance.datafiles import load_toml


@dataclass(frozen=True)
class Scenario:
    family: str
    params: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, family: str, **params: str) -> Scenario:
        return cls(family, tuple(params.items()))

    def __getitem__(self, key: str) -> str:
        return dict(self.params)[key]

    def get(self, key: str, default: str | None = None) -> str | None:
        return dict(self.params).get(key, default)

    @property
    def proto(self) -> str:
        return self["proto"]

    @property
    def id(self) -> str:
        rest = [f"{k}={v}" for k, v in self.params if k != "proto"]
        return "/".join([self.family, self.proto, *rest])

    @property
    def test_id(self) -> str:
        rest = [f"{k}={v}" for k, v in self.params if k != "proto"]
        return "-".join([self.proto, *rest])

    def as_dict(self) -> dict[str, str]:
        return dict(self.params)


def catalogue(family: str) -> dict[str, Any]:
    """The family's section of the scenario catalogue (conformance/data/catalogue.toml)."""
    section: dict[str, Any] = load_toml("catalogue.toml")[family]
    return section


def combinations(family: str, axes: dict[str, list[Any]]) -> Iterator[Scenario]:
    """A scenario for every combination of the axes' values, in the order given; a value
    that is a table adds its keys (a connect client and its own v6only setting)."""
    for values in itertools.product(*axes.values()):
        params: dict[str, str] = {}
        for name, value in zip(axes, values, strict=True):
            params.update(value if isinstance(value, dict) else {name: value})
        yield Scenario.of(family, **params)


def checks(family: str, default_protos: list[str]) -> Iterator[Scenario]:
    """A family described as a list of checks, each for every proto unless it names its own."""
    spec = catalogue(family)
    for check in spec["checks"]:
        fields = {k: v for k, v in check.items() if k != "protos"}
        for proto in check.get("protos", spec.get("protos", default_protos)):
            yield Scenario.of(family, proto=proto, **fields)
