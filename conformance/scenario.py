"""Scenarios: one cell of the behaviour space, generated from the catalogue.

A scenario is pure data. Its semantic id (``connect/tcp/bind=::/v6only=0/client=ipv4``)
is stable across suite versions and is what the matrix joins on; its test id
(``tcp-bind=::-v6only=0-client=ipv4``) is what pytest shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from conformance.catalogue import load_toml


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


def is_ipv6(address: str) -> bool:
    return ":" in address


def connect_scenarios() -> Iterator[Scenario]:
    spec = load_toml("catalogue.toml")["connect"]
    for proto in spec["protos"]:
        for bind in spec["binds"]:
            for v6only in spec["v6only"] if is_ipv6(bind) else [None]:
                for client in spec["clients"]:
                    params = {"proto": proto, "bind": bind}
                    if v6only is not None:
                        params["v6only"] = v6only
                    params.update(client)
                    yield Scenario.of("connect", **params)


def checks(family: str, default_protos: list[str]) -> Iterator[Scenario]:
    """A family described as a list of checks, each for every proto unless it names its own."""
    spec = load_toml("catalogue.toml")[family]
    for check in spec["checks"]:
        fields = {k: v for k, v in check.items() if k != "protos"}
        for proto in check.get("protos", spec.get("protos", default_protos)):
            yield Scenario.of(family, proto=proto, **fields)


def options_scenarios() -> Iterator[Scenario]:
    return checks("options", ["tcp", "udp"])


def coexist_scenarios() -> Iterator[Scenario]:
    spec = load_toml("catalogue.toml")["coexist"]
    for proto in spec["protos"]:
        for ipv4 in spec["ipv4"]:
            for ipv6 in spec["ipv6"]:
                for v6only in spec["v6only"]:
                    for reuse in spec["reuse"]:
                        for order in spec["orders"]:
                            yield Scenario.of("coexist", proto=proto, ipv4=ipv4, ipv6=ipv6, v6only=v6only,
                                              reuse=reuse, order=order)


def names_scenarios() -> Iterator[Scenario]:
    return checks("names", ["tcp"])


def subject_specs() -> list[dict]:
    return load_toml("subjects.toml")["subject"]


def subjects_scenarios() -> Iterator[Scenario]:
    for spec in subject_specs():
        yield Scenario.of("subjects", proto="tcp", server=spec["server"], setup=spec["setup"])


def subject_spec(scenario: Scenario) -> dict:
    return next(s for s in subject_specs() if s["server"] == scenario["server"] and s["setup"] == scenario["setup"])


FAMILIES = {
    "connect": connect_scenarios,
    "options": options_scenarios,
    "coexist": coexist_scenarios,
    "names": names_scenarios,
    "subjects": subjects_scenarios,
}


def all_scenarios() -> list[Scenario]:
    return [s for make in FAMILIES.values() for s in make()]
