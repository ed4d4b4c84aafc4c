"""Plain PyTorch: ``LRCallback(schedule, optimizer, total_steps=N)`` and ``cb.step(loss)`` per update.

Run: ``python examples/torch_example.py`` (CPU, a few seconds). Needs
``pip install 'lr-callbacks[torch]' scikit-learn``.
"""

from __future__ import annotations

import json

import torch
from sklearn.datasets import load_digits

from lr_callbacks.integrations.torch import LRCallback
from lr_callbacks.sinks import ListSink

EPOCHS, BATCH = 6, 64


def train(spec: str, poison_step: int | None = None) -> tuple[LRCallback, ListSink, float]:
    x, y = load_digits(return_X_y=True)
    x, y = torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    steps_per_epoch = (len(x) + BATCH - 1) // BATCH
    sink = ListSink()
    cb = LRCallback(
        spec, optimizer, total_steps=EPOCHS * steps_per_epoch, sinks=[sink]
    )  # sets the LR of update 0
    for _ in range(EPOCHS):
        for i in range(0, len(x), BATCH):
            inputs = x[i : i + BATCH]
            if cb.step_count == poison_step:
                inputs = inputs * float("nan")  # a corrupt batch
            loss = torch.nn.functional.cross_entropy(model(inputs), y[i : i + BATCH])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            cb.step(loss)  # the loss of this update (no host sync); the LR of the next
            if cb.should_stop:
                cb.close()
                return cb, sink, float("nan")
    cb.close()
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    return cb, sink, accuracy


def main() -> None:
    spec = "warmup_cosine(peak_lr=3e-3, warmup=0.05, min_lr_ratio=0.1)"
    cb, sink, accuracy = train(spec)
    print(
        f"healthy run: {cb.step_count} updates, train accuracy {accuracy:.3f}, alerts {[a.rule for a in sink.alerts]}"
    )
    # Save this beside your checkpoint; load_state_dict() resumes the LR curve and the diagnosis.
    print("state keys:", sorted(json.loads(json.dumps(cb.state_dict()))))

    cb, sink, _ = train(spec, poison_step=40)
    alert = sink.alerts[-1]
    print(f"corrupt batch: stopped after {cb.step_count} updates; {alert.rule} at step {alert.step}")
    print(f"  seen:   {alert.message}\n  cause:  {alert.cause}\n  advice: {alert.advice}")


if __name__ == "__main__":
    main()
