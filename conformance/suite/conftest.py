"""Hypothesis profiles for the suite: quick by default, thorough in CI (the CI
environment variable, as GitHub Actions and .ci/run set it). No example database is
written: every run starts fresh and leaves nothing next to the suite."""

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

# Hypothesis keeps a cache beside the working directory even without an example
# database; the suite's goes to the temp dir (a run's own, under dualstack run).
set_hypothesis_home_dir(str(Path(tempfile.gettempdir()) / "dualstack-hypothesis"))

settings.register_profile("quick", max_examples=50, stateful_step_count=20, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=250, stateful_step_count=30, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("DUALSTACK_HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "quick"))
