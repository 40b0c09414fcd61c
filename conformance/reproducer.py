"""Reproducers: a short stdlib-only snippet per scenario that a user can paste into
``python`` to see the behaviour on their own machine. Loopback only."""

from __future__ import annotations

from conformance.probe import CLIENTS
from conformance.scenario import Scenario, is_ipv6, subject_spec

FAMILY = {True: "socket.AF_INET6", False: "socket.AF_INET"}
TYPE = {"tcp": "socket.SOCK_STREAM", "udp": "socket.SOCK_DGRAM"}
V6ONLY = "socket.IPPROTO_IPV6, socket.IPV6_V6ONLY"


def _set_v6only(name: str, setting: str | None) -> list[str]:
    if setting in (None, "default"):
        return []
    return [f"{name}.setsockopt({V6ONLY}, {int(setting)})"]


def connect_snippet(s: Scenario, port: int = 0) -> str:
    """Port 0 lets the kernel pick; a test passes a port it holds, as for coexist_snippet."""
    proto, bind = s.proto, s["bind"]
    client_family, target = CLIENTS[s["client"]]
    lines = [
        "import socket",
        f"srv = socket.socket({FAMILY[is_ipv6(bind)]}, {TYPE[proto]})",
        *_set_v6only("srv", s.get("v6only")),
        f"cli = socket.socket({FAMILY[client_family == CLIENTS['ipv6'][0]]}, {TYPE[proto]})",
        *_set_v6only("cli", s.get("client_v6only")),
        "try:",
        f"    srv.bind(({bind!r}, {port}))",
    ]
    if is_ipv6(bind):
        lines.append(f"    print('server IPV6_V6ONLY:', srv.getsockopt({V6ONLY}))")
    if proto == "tcp":
        lines += [
            "    srv.listen()",
            "    cli.settimeout(5)",
            f"    cli.connect(({target!r}, srv.getsockname()[1]))",
            "    conn, peer = srv.accept()",
            "    print('ok: server saw', peer[0], 'accepted socket is', conn.getsockname()[0])",
            "    conn.close()",
        ]
    else:
        lines += [
            f"    cli.sendto(b'probe', ({target!r}, srv.getsockname()[1]))",
            "    srv.settimeout(0.5)",
            "    data, peer = srv.recvfrom(64)",
            "    print('ok: server saw', peer[0])",
            "    srv.sendto(b'reply', peer)",
            "    cli.settimeout(0.5)",
            "    print('reply reached the client:', cli.recvfrom(64)[0] == b'reply')",
            "except socket.timeout:",
            "    print('not delivered (nothing within 0.5 s)')",
        ]
    lines += [
        "except OSError as exc:",
        "    print('failed:', exc)",
        "finally:",
        "    cli.close()",
        "    srv.close()",
    ]
    return "\n".join(lines) + "\n"


def options_snippet(s: Scenario) -> str:
    check, type_ = s["check"], TYPE[s.proto]
    head = ["import socket"]
    if check == "default-v6only":
        body = [f"with socket.socket(socket.AF_INET6, {type_}) as s:",
                f"    print('default IPV6_V6ONLY:', s.getsockopt({V6ONLY}))"]
    elif check == "set-v6only-on-af-inet":
        body = [f"with socket.socket(socket.AF_INET, {type_}) as s:",
                "    try:",
                f"        s.setsockopt({V6ONLY}, 1)",
                "        print('ok')",
                "    except OSError as exc:",
                "        print('failed:', exc)"]
    elif check == "set-v6only":
        after = s["after"]
        body = [f"with socket.socket(socket.AF_INET6, {type_}) as s, socket.socket(socket.AF_INET6, {type_}) as peer:"]
        if after == "connect":
            body += ["    peer.bind(('::1', 0))"]
            body += ["    peer.listen()"] if s.proto == "tcp" else []
            body += ["    s.connect(peer.getsockname()[:2])"]
        else:
            body += ["    s.bind(('::', 0))"]
            body += ["    s.listen()"] if after == "listen" else []
        body += ["    try:",
                 f"        s.setsockopt({V6ONLY}, {int(s['value'])})",
                 "        print('ok')",
                 "    except OSError as exc:",
                 "        print('failed:', exc)",
                 f"    print('IPV6_V6ONLY now:', s.getsockopt({V6ONLY}))"]
    elif check == "has-dualstack-ipv6":
        body = ["print('has_dualstack_ipv6():', socket.has_dualstack_ipv6())",
                "with socket.socket(socket.AF_INET6) as s:",
                f"    s.setsockopt({V6ONLY}, 0)",
                "    s.bind(('::ffff:127.0.0.1', 0))",
                "    print('an IPv4-mapped bind works')"]
    else:
        dualstack = s["dualstack_ipv6"] == "true"
        body = [f"with socket.create_server(('::', 0), family=socket.AF_INET6, dualstack_ipv6={dualstack}) as s:",
                f"    print('IPV6_V6ONLY:', s.getsockopt({V6ONLY}))"]
    return "\n".join(head + body) + "\n"


def coexist_snippet(s: Scenario, port: int = 0) -> str:
    """Port 0 lets the first bind pick; a test passes a port it holds so that nothing
    else on the machine (an ephemeral client port in the other family) can collide."""
    type_, reuse = TYPE[s.proto], s["reuse"]
    pairs = [("v4", s["ipv4"]), ("v6", s["ipv6"])]
    if s["order"] == "ipv6-first":
        pairs.reverse()
    (first, first_addr), (second, second_addr) = pairs
    lines = ["import socket",
             f"v4 = socket.socket(socket.AF_INET, {type_})",
             f"v6 = socket.socket(socket.AF_INET6, {type_})",
             "try:"]
    if reuse != "none":
        lines += ["    for s in (v4, v6):",
                  f"        s.setsockopt(socket.SOL_SOCKET, socket.{reuse}, 1)"]
    lines += ["    " + line for line in _set_v6only("v6", s["v6only"])]
    lines += [f"    {first}.bind(({first_addr!r}, {port}))",
              f"    port = {first}.getsockname()[1]",
              f"    {second}.bind(({second_addr!r}, port))",
              "    print('both bound to port', port)"]
    if s.proto == "tcp":
        lines += [f"    {first}.listen()", f"    {second}.listen()", "    print('both listening')"]
    lines += ["except (OSError, AttributeError) as exc:",
              "    print('failed:', exc)",
              "finally:",
              "    v4.close()",
              "    v6.close()"]
    return "\n".join(lines) + "\n"


NAMES_SNIPPETS = {
    "passive-order": "print(socket.getaddrinfo(None, 8080, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE))",
    "localhost": "print(socket.getaddrinfo('localhost', 8080, socket.AF_UNSPEC, socket.SOCK_STREAM))",
    "ai-v4mapped": "print(socket.getaddrinfo('127.0.0.1', 8080, socket.AF_INET6, socket.SOCK_STREAM, 0, "
                   "socket.AI_V4MAPPED))",
    "ai-all": "print(socket.getaddrinfo('localhost', 8080, socket.AF_INET6, socket.SOCK_STREAM, 0, "
              "socket.AI_V4MAPPED | socket.AI_ALL))",
    "inet-pton-mapped": "print(socket.inet_pton(socket.AF_INET6, '::ffff:127.0.0.1').hex())",
    "inet-ntop-mapped": "print(socket.inet_ntop(socket.AF_INET6, bytes(10) + b'\\xff\\xff' + bytes([127, 0, 0, 1])))",
    "ipaddress-ipv4-mapped": "import ipaddress\nprint([str(ipaddress.ip_address(a).ipv4_mapped) for a in "
                             "('::ffff:127.0.0.1', '::ffff:7f00:1', '0:0:0:0:0:ffff:7f00:1')])",
    "ipaddress-str": "import ipaddress\nprint(ipaddress.ip_address('::ffff:7f00:1'))",
}


def names_snippet(s: Scenario) -> str:
    if s["check"] == "bind-127.0.0.2":
        return (f"import socket\nwith socket.socket(socket.AF_INET, {TYPE[s.proto]}) as s:\n"
                "    s.bind(('127.0.0.2', 0))\n    print(s.getsockname())\n")
    return "import socket\n" + NAMES_SNIPPETS[s["check"]] + "\n"


SUBJECT_TOOLS = {"{python}": "python", "{go}": "go run conformance/subjects/listen.go",
                 "{node}": "node", "{here}/": "conformance/subjects/"}


def subjects_snippet(s: Scenario) -> str:
    spec = subject_spec(s)
    command = " ".join(spec["command"]).replace("{port}", "8080")
    for token, tool in SUBJECT_TOOLS.items():
        command = command.replace(token, tool)
    return ("# start the server in another terminal, as its users do:\n"
            f"#   {command}\n"
            "import socket\n"
            "for family, host in ((socket.AF_INET, '127.0.0.1'), (socket.AF_INET6, '::ffff:127.0.0.1'),\n"
            "                     (socket.AF_INET6, '::1')):\n"
            "    with socket.socket(family) as s:\n"
            "        s.settimeout(5)\n"
            "        print(host, 'ok' if s.connect_ex((host, 8080)) == 0 else 'refused or failed')\n")


SNIPPETS = {
    "connect": connect_snippet,
    "options": options_snippet,
    "coexist": coexist_snippet,
    "names": names_snippet,
    "subjects": subjects_snippet,
}


def reproducer(scenario: Scenario) -> str:
    return SNIPPETS[scenario.family](scenario)
