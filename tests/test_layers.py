"""The import contracts in pyproject.toml hold, and breaking one is caught.

``make test`` runs ``lint-imports`` itself; this test also shows that the contracts can fail:
a copy of the package with ``import bot.platforms`` added to the core must be refused.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "bot", tmp_path / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_copy_keeps_the_contracts(tmp_path: Path) -> None:
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_core_importing_a_platform_breaks_them(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    core = copy / "bot" / "conversation" / "__init__.py"
    core.write_text(core.read_text(encoding="utf-8") + "\nimport bot.platforms  # noqa\n")
    result = _lint(copy)
    assert result.returncode != 0
    assert "bot.conversation -> bot.platforms" in result.stdout
