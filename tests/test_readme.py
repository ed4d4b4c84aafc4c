"""Everything the README shows runs: its Python snippets, and its command-line examples."""

from __future__ import annotations

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


def test_the_readme_has_snippets_to_check() -> None:
    assert len(PYTHON) >= 2 and len(CLI) >= 3


@pytest.mark.parametrize("code", PYTHON, ids=[f"python-{i}" for i in range(len(PYTHON))])
def test_python_snippet_runs(code: str) -> None:
    exec(compile(code, str(README), "exec"), {"__name__": "readme"})


@pytest.mark.parametrize("line", CLI, ids=[f"cli-{i}" for i in range(len(CLI))])
def test_cli_example_runs(line: str, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    command = line.split("#")[0].split(">")[0]
    argv = shlex.split(command)[1:]
    result = subprocess.run(
        [sys.executable, "-m", "lr_callbacks.cli", *argv], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout or list(tmp_path.iterdir())
