"""The demo in a plain PyTorch loop: ``find_lr`` and ``LRCallback`` (also the model the other torch demos use)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from lr_callbacks.integrations.torch import LRCallback, find_lr
from lr_callbacks.range_test import RangeTestResult

from .common import SEED, Digits, RunPlan, corrupt_labels


def make_net() -> torch.nn.Module:
    """A small MLP for 8x8 digits: 64 -> 128 -> 10, seeded."""
    torch.manual_seed(SEED)
    return torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))


def tensors(data: Digits) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The split as torch tensors."""
    return (
        torch.from_numpy(data.x_train), torch.from_numpy(data.y_train),
        torch.from_numpy(data.x_val), torch.from_numpy(data.y_val),
    )  # fmt: skip


def batches(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, epoch: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of shuffled batches (the order depends on the epoch, not on a global RNG)."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(SEED + epoch))
    for start in range(0, len(x), batch_size):
        index = order[start : start + batch_size]
        yield x[index], y[index]


def accuracy(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy of ``net`` on ``(x, y)``."""
    with torch.no_grad():
        return float((net(x).argmax(dim=1) == y).float().mean())


def range_test(data: Digits, batch_size: int, num_steps: int, plot: Path) -> RangeTestResult:
    """``find_lr`` on the model and optimizer the runs use."""
    x, y, _, _ = tensors(data)
    net = make_net()
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    data_batches = list(batches(x, y, batch_size, epoch=0))
    return find_lr(
        net, optimizer, data_batches, torch.nn.functional.cross_entropy, num_steps=num_steps, plot=plot
    )


def train(plan: RunPlan, data: Digits, sinks: list[Any]) -> float | None:
    """Train with ``LRCallback`` setting the LR of every update; a NaN loss stops the run."""
    x, y, x_val, y_val = tensors(data)
    net = make_net()
    optimizer = torch.optim.AdamW(net.parameters(), lr=plan.peak_lr)
    steps_per_epoch = -(-len(x) // plan.batch_size)
    callback = LRCallback(plan.spec, optimizer, total_steps=plan.epochs * steps_per_epoch, sinks=sinks)
    try:
        for epoch in range(plan.epochs):
            net.train()
            for inputs, labels in batches(x, y, plan.batch_size, epoch):
                if callback.step_count == plan.bad_step:
                    labels = corrupt_labels(labels)
                loss = torch.nn.functional.cross_entropy(net(inputs), labels)
                optimizer.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
                callback.step(loss)
                if callback.should_stop:
                    return None
            with torch.no_grad():
                callback.eval({"val_loss": float(torch.nn.functional.cross_entropy(net(x_val), y_val))})
    finally:
        callback.close()
    return accuracy(net, x_val, y_val)
