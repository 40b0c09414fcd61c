"""Ctrl-C in the middle of a run, at moments drawn at random, serially and under -n 2:
no process of the run survives, no socket stays bound, no temporary folder stays, and
the complete record in --out is never replaced by a half or partial one."""

from __future__ import annotations

import platform
import random

import pytest

from tests.interrupts import interrupt

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(platform.system() != "Linux", reason="counts what is left through /proc")]

MOMENTS = random.Random(20261127)


@pytest.mark.parametrize("workers", [False, True], ids=["serial", "n2"])
@pytest.mark.parametrize("whole_group", [False, True], ids=["signal-to-dualstack", "terminal-ctrl-c"])
def test_an_interrupted_run_leaves_nothing_behind(workers, whole_group):
    trial = interrupt(MOMENTS.uniform(0.5, 6.0), workers=workers, whole_group=whole_group)
    assert trial.clean, trial
