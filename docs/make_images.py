"""Regenerate the README's pictures: one small curve per schedule spec (``plot_schedule``) and,
given a demo output folder, the demo's report picture.

    python docs/make_images.py [DEMO_OUT]      # e.g. lr-callbacks-demo, after `lr-callbacks demo`
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PIL import Image

from lr_callbacks.report import plot_schedule
from lr_callbacks.schedules import parse

DOCS = Path(__file__).resolve().parent
SPECS = {
    "constant": "constant(peak_lr=1e-3)",
    "step_decay": "step_decay(peak_lr=1e-3, gamma=0.1, milestones=[300, 600])",
    "cosine": "cosine(peak_lr=1e-3, min_lr_ratio=0.1)",
    "cosine_restarts": "cosine_restarts(peak_lr=1e-3, cycle_steps=150, cycle_mult=2)",
    "warmup_cosine": "warmup_cosine(peak_lr=1e-3, warmup=0.05, min_lr_ratio=0.1)",
    "one_cycle": "one_cycle(peak_lr=1e-3)",
    "wsd": "wsd(peak_lr=1e-3, warmup=0.05, decay=0.2)",
}


def shrink(source: Path, target: Path, width: int, colours: int) -> None:
    """Resize to ``width`` pixels and keep ``colours`` colours: a few KB instead of ~100."""
    image = Image.open(source).convert("RGB")
    image = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
    image.quantize(colours).save(target, optimize=True)


def main(demo_out: str | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        for name, spec in SPECS.items():
            raw = Path(folder) / f"{name}.png"
            plot_schedule(parse(spec).bind(total_steps=1000), raw, title=spec)
            shrink(raw, DOCS / f"schedule_{name}.png", 360, 16)
    if demo_out is not None:
        shrink(Path(demo_out) / "reports" / "bad_batch.png", DOCS / "demo_report.png", 900, 64)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
