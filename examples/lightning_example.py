"""Lightning + LRCallback on scikit-learn's bundled digits: warmup + cosine, LR and loss in TensorBoard.

Run:  python examples/lightning_example.py [log_dir]      (default ./lightning_logs)
Then: tensorboard --logdir <log_dir>   and look at lr_callbacks/loss beside lr_callbacks/lr/group0.
"""

import sys
from typing import Any

import lightning.pytorch as pl
import torch
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, TensorDataset, random_split

from lr_callbacks.integrations.lightning import LRCallback
from lr_callbacks.sinks import ListSink


class DigitsClassifier(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        images, labels = batch
        return torch.nn.functional.cross_entropy(self.net(images), labels)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        images, labels = batch
        logits = self.net(images)
        self.log("val_loss", torch.nn.functional.cross_entropy(logits, labels))
        self.log("val_accuracy", (logits.argmax(dim=1) == labels).float().mean())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # The body gets the schedule's LR, the head 10x less: LRCallback keeps this ratio.
        return torch.optim.AdamW(
            [
                {"params": self.net[0].parameters(), "lr": 1e-2},
                {"params": self.net[2].parameters(), "lr": 1e-3},
            ]
        )


def main(log_dir: str) -> None:
    digits = load_digits()
    images = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    dataset = TensorDataset(images, torch.tensor(digits.target))
    train, val = random_split(
        dataset, [1500, len(dataset) - 1500], generator=torch.Generator().manual_seed(0)
    )
    alerts = ListSink()
    trainer = pl.Trainer(
        max_epochs=5,
        accumulate_grad_batches=2,  # the schedule counts optimizer updates, not micro-batches
        accelerator="cpu",
        logger=pl.loggers.TensorBoardLogger(log_dir, name="digits"),
        callbacks=[LRCallback("warmup_cosine(peak_lr=1e-2, warmup=0.1, min_lr_ratio=0.05)", sinks=[alerts])],
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        log_every_n_steps=10,
    )
    trainer.fit(
        DigitsClassifier(), DataLoader(train, batch_size=32, shuffle=True), DataLoader(val, batch_size=256)
    )
    metrics = {key: round(float(value), 4) for key, value in trainer.callback_metrics.items()}
    print(f"updates: {trainer.global_step}, metrics: {metrics}, alerts: {len(alerts.alerts)}")
    for alert in alerts.alerts:
        print(f"  [{alert.rule} at step {alert.step}] {alert.message}")
    print(f"TensorBoard logs: {trainer.logger.log_dir}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "./lightning_logs")
