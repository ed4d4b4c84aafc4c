"""The demo in a Hugging Face ``Trainer``: ``find_lr(trainer)`` and ``Trainer(callbacks=[LRCallback(...)])``."""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainingArguments

from lr_callbacks.range_test import RangeTestResult

from .common import SEED, Digits, RunPlan, corrupt_labels
from .torch_demo import accuracy, make_net, tensors

# Through importlib: integration modules are outside the strict type check (pyproject).
_transformers = importlib.import_module("lr_callbacks.integrations.transformers")


class DigitsModel(torch.nn.Module):
    """The demo's MLP with HF's calling convention: ``model(pixel_values, labels) -> {"loss", "logits"}``.

    Its ``bad_step``-th training forward pass (one per update: no gradient accumulation) gets
    wrong labels for half the batch.
    """

    def __init__(self, bad_step: int | None = None) -> None:
        super().__init__()
        self.net, self.bad_step, self.calls = make_net(), bad_step, 0

    def forward(
        self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        logits = self.net(pixel_values)
        if labels is None:
            return {"logits": logits}
        if self.training:
            labels = corrupt_labels(labels) if self.calls == self.bad_step else labels
            self.calls += 1
        return {"loss": torch.nn.functional.cross_entropy(logits, labels), "logits": logits}


class _Rows(torch.utils.data.Dataset[dict[str, torch.Tensor]]):
    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"pixel_values": self.x[index], "labels": self.y[index]}


def _trainer(model: DigitsModel, data: Digits, plan: RunPlan, folder: str, callbacks: list[Any]) -> Trainer:
    x, y, x_val, y_val = tensors(data)
    arguments = TrainingArguments(
        output_dir=folder, per_device_train_batch_size=plan.batch_size, num_train_epochs=plan.epochs,
        learning_rate=plan.peak_lr, eval_strategy="epoch", per_device_eval_batch_size=512,
        save_strategy="no", report_to="none", disable_tqdm=True, logging_strategy="no", use_cpu=True,
        seed=SEED, dataloader_num_workers=0, logging_nan_inf_filter=False,
    )  # fmt: skip
    return Trainer(model=model, args=arguments, train_dataset=_Rows(x, y), eval_dataset=_Rows(x_val, y_val),
                   callbacks=callbacks)  # fmt: skip


def range_test(data: Digits, batch_size: int, num_steps: int, plot: Path) -> RangeTestResult:
    """HF's ``find_lr`` on the Trainer the runs use."""
    plan = RunPlan("range_test", "", "constant(peak_lr=1e-3)", 1e-3, 1, batch_size)
    with tempfile.TemporaryDirectory() as folder:
        trainer = _trainer(DigitsModel(), data, plan, folder, [])
        result: RangeTestResult = _transformers.find_lr(trainer, num_steps=num_steps, plot=plot)
    return result


def train(plan: RunPlan, data: Digits, sinks: list[Any]) -> float | None:
    """``Trainer.train`` with ``LRCallback`` setting the LR of every update (HF's scheduler unused)."""
    _, _, x_val, y_val = tensors(data)
    model = DigitsModel(plan.bad_step)
    callback = _transformers.LRCallback(plan.spec, sinks=sinks)
    with tempfile.TemporaryDirectory() as folder:  # HF needs an output_dir; nothing is saved there
        _trainer(model, data, plan, folder, [callback]).train()
    model.eval()
    return None if callback.controller.should_stop else accuracy(model.net, x_val, y_val)
