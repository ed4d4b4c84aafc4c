"""``import lr_callbacks`` stays light: no deep-learning or logging framework is imported."""

import subprocess
import sys

HEAVY = (
    "torch",
    "lightning",
    "pytorch_lightning",
    "transformers",
    "keras",
    "wandb",
    "tensorboard",
    "matplotlib",
)

PROBE = f"""
import sys
import lr_callbacks, lr_callbacks.schedules, lr_callbacks.cli
loaded = [m for m in {HEAVY!r} if m in sys.modules]
print(",".join(loaded))
"""


def test_import_pulls_in_no_framework() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"import lr_callbacks loaded: {result.stdout.strip()}"


def test_probe_detects_a_heavy_import() -> None:
    # The probe above must be able to fail: importing numpy's sibling torch is seen.
    probe = PROBE.replace(
        "import lr_callbacks,", "import json as torch; sys.modules['torch'] = torch; import lr_callbacks,"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "torch"
