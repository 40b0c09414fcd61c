"""The weekly diff's case on one machine, for `tox -e ci-rehearsal`: the same runner image
after an update that brought another kernel build.

    python kernel_update.py RUNS OUT        copy every record of RUNS into OUT, release rebuilt
    python kernel_update.py --check OLD NEW the two matrices have the same cells: 0 new, 0 gone
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from matrix import diff

SUFFIX = "-rebuilt"


def rebuild(runs: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(runs.glob("*.json")):
        data = json.loads(path.read_text())
        data["platform"]["release"] += SUFFIX
        (out / path.name).write_text(json.dumps(data))


def check(old: Path, new: Path) -> int:
    result = diff.diff(diff.load_matrix(old), diff.load_matrix(new))
    print(diff.as_text(result).splitlines()[0], f"({len(result['releases'])} release(s) moved)")
    return 0 if not result["new"] and not result["gone"] and result["releases"] else 1


if __name__ == "__main__":
    if sys.argv[1] == "--check":
        sys.exit(check(Path(sys.argv[2]), Path(sys.argv[3])))
    rebuild(Path(sys.argv[1]), Path(sys.argv[2]))
