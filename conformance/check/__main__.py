"""``python -m conformance.check``: the same as ``dualstack check`` (and the inner check a
variant or runtime runs, conformance/check/inside.py)."""

import sys

from conformance.check import main

sys.exit(main())
