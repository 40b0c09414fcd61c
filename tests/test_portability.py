"""What a Windows or macOS runner would trip over first, checked here: every module must
import where Linux- or POSIX-only modules are missing, and the Linux-only work must say
so in one line instead of failing."""

import subprocess
import sys

from tests.conftest import ROOT

POSIX_ONLY = ("fcntl", "resource", "pwd", "grp", "termios")

IMPORT_EVERYTHING = f"""
import sys, pkgutil, importlib
for name in {POSIX_ONLY!r}:
    sys.modules[name] = None  # what Windows has: importing them raises ImportError
import conformance, matrix
for package in (conformance, matrix):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        # pytest's modules are loaded by pytest; a __main__ runs its command when imported
        if not info.name.startswith("conformance.suite") and not info.name.endswith(".__main__"):
            importlib.import_module(info.name)
from conformance.cli import selected_variants
print(selected_variants("default"), len(selected_variants("all")))
"""


def test_every_module_imports_without_the_posix_only_ones():
    out = subprocess.run([sys.executable, "-c", IMPORT_EVERYTHING], capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["['default']", "5"]


def test_a_variant_elsewhere_than_linux_is_skipped_with_the_reason(monkeypatch, capsys):
    from conformance import variants
    monkeypatch.setattr(variants.sys, "platform", "win32")
    assert variants.main(["bindv6only=1", "--check"]) == variants.SKIP
    assert capsys.readouterr().err.strip() == "network-namespace variants need Linux"
