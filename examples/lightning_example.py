"""Lightning + LRCallback on scikit-learn's bundled digits: warmup + cosine, LR and loss in TensorBoard.

Run:  python examples/lightning_example.py [log_dir] [--bad-batch STEP]   (default ./lightning_logs)
Then: tensorboard --logdir <log_dir>: the Custom Scalars tab shows LR (log10) and loss in one chart
      with the alert level, the Text tab the alerts; <log_dir>/report.html is the run's report.
      --bad-batch STEP corrupts the batch of that update (its loss x1000), so an alert fires.
"""

import argparse
from typing import Any

import lightning.pytorch as pl
import torch
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, TensorDataset, random_split

from lr_callbacks.integrations.lightning import LRCallback
from lr_callbacks.sinks import ListSink


class DigitsClassifier(pl.LightningModule):
    def __init__(self, bad_batch: int | None = None) -> None:
        super().__init__()
        self.bad_batch = bad_batch
        self.net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        images, labels = batch
        loss = torch.nn.functional.cross_entropy(self.net(images), labels)
        return loss * 1000 if self.global_step == self.bad_batch else loss

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


def main(log_dir: str, bad_batch: int | None = None) -> None:
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
        callbacks=[
            LRCallback(
                "warmup_cosine(peak_lr=1e-2, warmup=0.1, min_lr_ratio=0.05)",
                sinks=[alerts],
                report_path=f"{log_dir}/report.html",
            )
        ],
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        log_every_n_steps=10,
    )
    trainer.fit(
        DigitsClassifier(bad_batch),
        DataLoader(train, batch_size=32, shuffle=True),
        DataLoader(val, batch_size=256),
    )
    metrics = {key: round(float(value), 4) for key, value in trainer.callback_metrics.items()}
    print(f"updates: {trainer.global_step}, metrics: {metrics}, alerts: {len(alerts.alerts)}")
    for alert in alerts.alerts:
        print(f"  [{alert.rule} at step {alert.step}] {alert.message}")
    print(f"TensorBoard logs: {trainer.logger.log_dir}; report: {log_dir}/report.html")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("log_dir", nargs="?", default="./lightning_logs")
    parser.add_argument("--bad-batch", type=int, default=None, help="update whose loss is multiplied by 1000")
    arguments = parser.parse_args()
    main(arguments.log_dir, arguments.bad_batch)
