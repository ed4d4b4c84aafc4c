"""Everything the README shows runs: its Python snippets, and its command-line examples.

Every ```python block is executed (skipped, not failed, when it imports an optional library
that is not installed). Every ``lr-callbacks ...`` line of a ```bash block runs in a tmp dir that
holds ``run.csv``, a small finished run for ``diagnose`` and ``report``; the ``demo`` line is
skipped here because the full demo has its own test (tests/test_demo.py).
"""

from __future__ import annotations

import math
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README.read_text(), flags=re.S)
PYTHON = [code for lang, code in BLOCKS if lang == "python"]
CLI = [
    line
    for lang, code in BLOCKS
    if lang == "bash"
    for line in code.splitlines()
    if line.startswith("lr-callbacks ")
]
OPTIONAL = {"torch", "lightning", "transformers", "keras", "wandb", "tensorboard", "matplotlib", "sklearn"}


def test_the_readme_has_snippets_to_check() -> None:
    assert len(PYTHON) >= 2 and len(CLI) >= 5
    assert {line.split()[1] for line in CLI} >= {"show", "plot", "diagnose", "report", "demo"}


@pytest.mark.parametrize("code", PYTHON, ids=[f"python-{i}" for i in range(len(PYTHON))])
def test_python_snippet_runs(code: str) -> None:
    try:
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in OPTIONAL:
            raise
        pytest.skip(f"needs {error.name}")


def _write_run(path: Path) -> None:
    rows = ["step,loss,lr"]
    for step in range(400):
        loss = 2.0 * (step + 10) ** -0.3 * (1 + 0.05 * math.sin(step)) * (30 if step == 250 else 1)
        rows.append(f"{step},{loss},{1e-3 * min(1.0, (step + 1) / 20)}")
    path.write_text("\n".join(rows) + "\n")


@pytest.mark.parametrize("line", CLI, ids=[f"cli-{i}" for i in range(len(CLI))])
def test_cli_example_runs(line: str, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    command = line.split("#")[0].split(">")[0]
    argv = shlex.split(command)[1:]
    if argv[0] == "demo":
        pytest.skip("the full demo has its own test: tests/test_demo.py")
    _write_run(tmp_path / "run.csv")
    result = subprocess.run(
        [sys.executable, "-m", "lr_callbacks.cli", *argv], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout or len(list(tmp_path.iterdir())) > 1
    if argv[0] == "diagnose":
        assert "spike" in result.stdout
