"""The import layers (faces < training < export < live < evaluation) and no circles inside a package, by import-linter."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.cli_support import ROOT


def test_import_linter_contracts_are_kept():
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    result = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout
