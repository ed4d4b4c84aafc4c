"""One rank of the Lightning DDP test: ``strategy="ddp"`` on 2 CPU processes (gloo), launched by ``run_workers``.

With ``LOCAL_RANK`` in the environment Lightning assumes an external launcher and starts no
processes of its own; it reads ``MASTER_ADDR``/``MASTER_PORT`` and derives the global rank.
With a second argument ``torchelastic`` it also sets ``TORCHELASTIC_RUN_ID``, as ``torchrun`` does,
and Lightning picks its ``TorchElasticEnvironment`` (ranks from ``RANK``/``WORLD_SIZE``) instead.
Rank 1's loss becomes NaN at update ``POISON``: every rank must stop after that same update.
"""

import json
import os
import sys
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from lr_callbacks.diagnostics import NonFiniteRule
from lr_callbacks.integrations.lightning import LRCallback
from lr_callbacks.sinks import ListSink

SPEC, POISON = "warmup_cosine(peak_lr=0.05, warmup='1ep', min_lr_ratio=0.1)", 9


class Model(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Linear(4, 1)

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        loss = torch.nn.functional.mse_loss(self.net(batch[0]), batch[1])
        return loss * float("nan") if (self.global_rank == 1 and self.global_step == POISON) else loss

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.05)

    def train_dataloader(self) -> Any:
        x = torch.randn(128, 4, generator=torch.Generator().manual_seed(0))
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x[:, :1]), batch_size=4)


class Recorder(pl.Callback):
    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        self.lrs.append(optimizer.param_groups[0]["lr"])


class RecordingLogger(pl.loggers.Logger):
    """Records every ``log_metrics`` call on every rank (Lightning's own loggers drop rank > 0 silently)."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[int] = []

    name, version = "recording", 0  # type: ignore[assignment]

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        if "lr_callbacks/loss" in metrics and step is not None:
            self.steps.append(step)

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass


def main(out: Path, launcher: str) -> None:
    if launcher == "torchelastic":
        os.environ["TORCHELASTIC_RUN_ID"] = "lr_callbacks_test"
    sink, recorder, logger = ListSink(), Recorder(), RecordingLogger()
    trainer = pl.Trainer(
        accelerator="cpu", devices=2, num_nodes=1, strategy="ddp", max_epochs=2, logger=logger,
        callbacks=[LRCallback(SPEC, sinks=[sink], rules=[NonFiniteRule()]), recorder],
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(Model())
    result = {
        "global_step": trainer.global_step,
        "world_size": trainer.world_size,
        "environment": type(trainer.strategy.cluster_environment).__name__,
        "lrs": recorder.lrs,
        "alerts": [a.to_dict() for a in sink.alerts],
        "logged_steps": logger.steps,
    }
    (out / f"rank{trainer.global_rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "lightning")
