"""dualstack-conformance: how IPv4/IPv6 dual-stack sockets really behave, per platform."""

__version__ = "0.1.0"
