"""LR range test in plain PyTorch: ``find_lr`` on scikit-learn's digits, the suggestion and its plot.

Run: ``python examples/range_test_example.py [range_test.png]`` (CPU, a few seconds).
Needs ``pip install 'lr-callbacks[torch,plot]' scikit-learn``.

The sweep raises the LR exponentially from 1e-7 to 10 over 100 updates and stops once the loss
diverges; the suggested peak LR is the divergence onset / 10 (constant LR: onset / 30). The
model and optimizer are put back exactly as they were, so training starts from the same weights.
"""

from __future__ import annotations

import sys

import torch
from sklearn.datasets import load_digits

from lr_callbacks.integrations.torch import find_lr

BATCH = 32


def main(plot: str) -> None:
    x, y = load_digits(return_X_y=True)
    x, y = torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y)
    batches = [(x[i : i + BATCH], y[i : i + BATCH]) for i in range(0, len(x), BATCH)]
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    before = [p.detach().clone() for p in model.parameters()]

    result = find_lr(model, optimizer, batches, torch.nn.functional.cross_entropy, plot=plot)

    print(result.message())
    print(f"suggested peak LR {result.suggested_peak_lr:.3g}, constant LR {result.suggested_constant_lr:.3g}")
    print(f"flags: {list(result.flags) or 'none'}; {len(result.losses)} updates swept ({result.stop_reason})")
    schedule = result.apply("warmup_cosine(peak_lr=1e-3, warmup=0.05, min_lr_ratio=0.1)")
    print(f"schedule to train with: {schedule.to_spec()}")
    unchanged = all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    print(f"model weights unchanged: {unchanged}; plot: {plot}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "range_test.png")
