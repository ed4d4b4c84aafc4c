"""The demo in PyTorch Lightning: ``find_lr(trainer, model)`` and ``Trainer(callbacks=[LRCallback(...)])``."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from lr_callbacks.range_test import RangeTestResult

from .common import SEED, Digits, RunPlan, corrupt_labels
from .torch_demo import accuracy, make_net, tensors

# Through importlib: integration modules are outside the strict type check (pyproject).
_lightning = importlib.import_module("lr_callbacks.integrations.lightning")


class DigitsModule(pl.LightningModule):
    """The demo's MLP as a LightningModule; the update ``bad_step`` gets a batch with wrong labels."""

    def __init__(self, peak_lr: float, bad_step: int | None = None) -> None:
        super().__init__()
        self.net, self.peak_lr, self.bad_step = make_net(), peak_lr, bad_step

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        inputs, labels = batch
        if self.global_step == self.bad_step:
            labels = corrupt_labels(labels)
        return torch.nn.functional.cross_entropy(self.net(inputs), labels)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        inputs, labels = batch
        self.log("val_loss", torch.nn.functional.cross_entropy(self.net(inputs), labels))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.peak_lr)


def _trainer(epochs: int, callbacks: list[Any]) -> Any:
    return pl.Trainer(
        max_epochs=epochs, accelerator="cpu", devices=1, logger=False, callbacks=callbacks,
        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
        num_sanity_val_steps=0,
    )  # fmt: skip


def _loader(data: Digits, batch_size: int) -> DataLoader[Any]:
    x, y, _, _ = tensors(data)
    generator = torch.Generator().manual_seed(SEED)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True, generator=generator)


def range_test(data: Digits, batch_size: int, num_steps: int, plot: Path) -> RangeTestResult:
    """Lightning's ``find_lr`` on the module the runs use."""
    module = DigitsModule(1e-3)
    result: RangeTestResult = _lightning.find_lr(
        _trainer(1, []), module, _loader(data, batch_size), num_steps=num_steps, plot=plot
    )
    return result


def train(plan: RunPlan, data: Digits, sinks: list[Any]) -> float | None:
    """``Trainer.fit`` with ``LRCallback``; Lightning's own logger is off (the demo's sinks write)."""
    _, _, x_val, y_val = tensors(data)
    module = DigitsModule(plan.peak_lr, plan.bad_step)
    callback = _lightning.LRCallback(plan.spec, sinks=sinks)
    validation = DataLoader(TensorDataset(x_val, y_val), batch_size=512)
    _trainer(plan.epochs, [callback]).fit(module, _loader(data, plan.batch_size), validation)
    return None if callback.controller.should_stop else accuracy(module.net, x_val, y_val)
