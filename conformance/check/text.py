"""The readable answer of a check, drawn from its document: per environment, which
clients reached the server, what it listens on, what that means and the fix; last, one
line with the result.
"""

from __future__ import annotations

import shlex
from typing import Any

from conformance.check.environments import Environment, describe
from conformance.check.result import EXIT_NOT_LISTENING, EXIT_OK, EXIT_UNREACHED, Status
from conformance.vocabulary import Outcome

CLIENT_WORDS = {"ipv4": "IPv4", "mapped": "IPv4-mapped", "ipv6": "IPv6"}


def render(data: dict[str, Any]) -> str:
    command = " ".join(shown(part) for part in data["command"])
    out = [f"command: {command}" + (" (UDP)" if data["proto"] == "udp" else ""), ""]
    for env in data["environments"]:
        out += [*render_environment(env), ""]
    return "\n".join([*out, verdict_line(data)]) + "\n"


def shown(part: str) -> str:
    """A command-line word as the user typed it: quoted only where the shell needs it."""
    return shlex.quote(part) if not part or any(c.isspace() or c in "'\"\\$`;&|<>" for c in part) else part


def render_environment(env: dict[str, Any]) -> list[str]:
    where = describe(Environment(env["runtime"], env["variant"]))
    lines = [f"{env['name']}: {where}" + (f" (port {env['port']})" if env["port"] else "")]
    if env["status"] != Status.CHECKED:
        lines.append(f"  {env['status']}: {env['reason']}")
        if env["output_tail"]:
            lines.append("  last lines of its output:")
            lines += [f"    | {line}" for line in env["output_tail"]]
        return lines
    for name, client in env["clients"].items():
        said = "reached it" if client["outcome"] == Outcome.OK else (client["error"] or client["outcome"])
        if client["outcome"] == Outcome.REFUSED:
            said = "refused"
        lines.append(f"  {CLIENT_WORDS[name]:<12} {client['address']:<17} {said}"
                     + (f"  ({client['answer']})" if client["answer"] else ""))
    if not env["listing"]:
        lines.append("  listens on:  (no listing tool here: ss or netstat)")
    else:
        lines.append(f"  listens on:  {'; '.join(env['listeners']) or '(no line for the port)'}")
    lines.append(f"  means:       {env['means']}")
    if env["fix"]:
        recipes = "; ".join(f"{r['kind']} on {r['bind']} with v6only {r['v6only']}" for r in env["recipes"])
        lines.append(f"  fix:         {env['fix']}" + (f" (portable recipes: {recipes})" if recipes else ""))
    return lines


def missed(env: dict[str, Any], expect: list[str]) -> list[str]:
    """The expected clients that did not reach the server in a checked environment."""
    return [CLIENT_WORDS[n] for n in expect if env["clients"][n]["outcome"] != Outcome.OK]


def verdict_line(data: dict[str, Any]) -> str:
    envs = data["environments"]
    checked = [e for e in envs if e["status"] == Status.CHECKED]
    skipped = [f"{e['name']} ({e['reason']})" for e in envs if e["status"] == Status.SKIPPED]
    also = f"; skipped: {', '.join(skipped)}" if skipped else ""
    status = data["exit_status"]
    if status == EXIT_OK:
        expect = " and ".join(CLIENT_WORDS[n] for n in data["expect"])
        return f"result: ok: {expect} clients reached it in every environment checked ({len(checked)}){also}"
    if status == EXIT_UNREACHED:
        where = [f"{' and '.join(missed(e, data['expect']))} in {e['name']}" for e in checked
                 if missed(e, data["expect"])]
        return f"result: not reached: {'; '.join(where)}{also}"
    if status == EXIT_NOT_LISTENING:
        broken = [e["name"] for e in envs if e["status"] in (Status.NOT_LISTENING, Status.ERROR)]
        return f"result: never listened (or the check broke) in: {', '.join(broken)}{also}"
    return f"result: nothing checked: no environment asked for can be made here{also}"
