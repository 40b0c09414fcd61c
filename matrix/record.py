"""Run records: validate them against the shipped JSON Schema, read and write them.

A bad record is rejected with a one-line message naming the file and the field.
Writes are atomic (a temporary file in the same folder, then os.replace), so a reader
never sees half a record.
"""

from __future__ import annotations

import json
import os
import tempfile
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema

RUN_SCHEMA = "dualstack-conformance/run/1"


class RecordError(Exception):
    """A record that cannot be used; str() is a one-line message."""


@cache
def schema(name: str = "run-1") -> dict:
    text = (resources.files("matrix") / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


@cache
def _fast(name: str):
    """A compiled validator: about 12 times faster than jsonschema's on a full record.
    fastjsonschema knows draft 7, which is all these schemas use."""
    contract = dict(schema(name), **{"$schema": "http://json-schema.org/draft-07/schema#"})
    return fastjsonschema.compile(contract)


def _where(error: jsonschema.ValidationError) -> str:
    return "/".join(str(p) for p in error.absolute_path) or "(top level)"


def validate(data: Any, name: str = "run-1", origin: str = "record") -> None:
    """Raise RecordError naming the first invalid field."""
    contract = schema(name)
    wanted = contract["properties"]["schema"]["const"]
    if not isinstance(data, dict) or data.get("schema") != wanted:  # say so before any other field
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise RecordError(f"{origin}: schema {found!r} is not {wanted!r}")
    try:
        _fast(name)(data)
        return
    except fastjsonschema.JsonSchemaException as fast_error:
        message = str(fast_error)
    # invalid: let jsonschema name the first bad field in plain words
    validator = jsonschema.Draft202012Validator(contract, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        raise RecordError(f"{origin}: field {_where(errors[0])}: {errors[0].message[:200]}")
    raise RecordError(f"{origin}: {message[:200]}")


def load(path: str | os.PathLike, name: str = "run-1") -> dict:
    """Read and validate a record file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(f"{path}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    validate(data, name, origin=str(path))
    return data


def check_writable(path: str | os.PathLike) -> Path:
    """Fail early, before any work, when a file cannot be written at path."""
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise RecordError(f"{path}: folder {folder} does not exist")
    if path.is_dir():
        raise RecordError(f"{path}: is a folder, not a file")
    try:  # access() says yes to root even where a write fails: try for real
        fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise RecordError(f"{path}: folder {folder} is not writable ({exc.strerror})") from exc
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a record is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write(path: str | os.PathLike, data: dict, name: str = "run-1") -> None:
    """Validate, then write atomically."""
    validate(data, name, origin=str(path))
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=False) + "\n")
