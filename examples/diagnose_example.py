"""Diagnose a finished run from its logs: a CSV written by any training loop, then ``diagnose``.

Run: ``python examples/diagnose_example.py [run.csv]`` (CPU, a few seconds).
Needs ``pip install 'lr-callbacks[torch]' scikit-learn``.

The training here knows nothing of lr_callbacks: a plain loop with torch's own ``StepLR`` writes
``step,loss,lr`` per update, and one batch (update 300) has half its labels wrong. Afterwards
``diagnose`` replays the CSV through the same rules the live callbacks use; the same works from
the shell: ``lr-callbacks diagnose run.csv``.
"""

from __future__ import annotations

import csv
import logging
import sys

import torch
from sklearn.datasets import load_digits

from lr_callbacks.diagnose import diagnose, format_text

EPOCHS, BATCH, BAD_STEP = 8, 32, 300


def train(path: str) -> None:
    x, y = load_digits(return_X_y=True)
    x, y = torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.3)  # per epoch
    step = 0
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", "loss", "lr"])
        for epoch in range(EPOCHS):
            order = torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch))
            for start in range(0, len(x), BATCH):
                inputs, labels = x[order[start : start + BATCH]], y[order[start : start + BATCH]]
                if step == BAD_STEP:  # a corrupt batch: half of its labels are wrong
                    labels = torch.cat([(labels[: BATCH // 2] + 5) % 10, labels[BATCH // 2 :]])
                loss = torch.nn.functional.cross_entropy(model(inputs), labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                writer.writerow([step, loss.item(), optimizer.param_groups[0]["lr"]])
                step += 1
            scheduler.step()


def main(path: str) -> None:
    train(path)
    logging.getLogger("lr_callbacks.alerts").addHandler(logging.NullHandler())  # printed below instead
    result = diagnose(path)  # the CSV's columns are recognised: step, loss, lr
    print(format_text(result))
    print("rules that fired:", sorted({alert.rule for alert in result.alerts}))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "run.csv")
