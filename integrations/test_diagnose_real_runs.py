"""``lr-callbacks diagnose`` on TensorBoard directories written by real framework runs.

The runs use the frameworks' own logging only (no lr_callbacks callback), as a user's
finished run would: Lightning's ``self.log`` + ``LearningRateMonitor`` with a
``TensorBoardLogger``, and HF Trainer's TensorBoard reporting.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tensorboard")

POISON = 30  # the update whose loss becomes NaN


def _diagnose(path: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-m", "lr_callbacks.cli", "diagnose", str(path), "--format", "jsonl"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def _lightning_run(log_dir: Path) -> None:
    pl = pytest.importorskip("lightning.pytorch")

    class Model(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Linear(4, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            if self.global_step == POISON:
                loss = loss * float("nan")
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self) -> Any:
            optimizer = torch.optim.SGD(self.parameters(), lr=0.05)
            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    torch.manual_seed(0)
    x = torch.randn(400, 4)
    data = torch.utils.data.TensorDataset(x, x[:, :1] * 3)
    trainer = pl.Trainer(
        max_steps=50,
        logger=pl.loggers.TensorBoardLogger(str(log_dir), name="run"),
        callbacks=[pl.callbacks.LearningRateMonitor(logging_interval="step")],
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        accelerator="cpu",
    )
    trainer.fit(Model(), torch.utils.data.DataLoader(data, batch_size=8))


def test_diagnose_reads_a_real_lightning_tensorboard_dir(tmp_path: Path) -> None:
    _lightning_run(tmp_path)
    alerts = _diagnose(tmp_path)
    nonfinite = [a for a in alerts if a["rule"] == "nonfinite"]
    assert nonfinite and nonfinite[0]["step"] == POISON
    # The StepLR halved the LR at that very step: a decay is never blamed for a too-high LR.
    assert "too high after it" not in nonfinite[0]["cause"]
    for key in ("rule", "step", "severity", "message", "cause", "advice"):
        assert key in nonfinite[0]


def test_diagnose_text_report_of_a_real_lightning_run(tmp_path: Path) -> None:
    _lightning_run(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "lr_callbacks.cli", "diagnose", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "step 30  nonfinite  [critical]" in result.stdout
    assert "Verdict:" in result.stdout and "loss='train_loss', lr='lr-SGD'" in result.stdout


def _hf_run(log_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    transformers = pytest.importorskip("transformers")

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Linear(4, 1)
            self.calls = 0

        def forward(self, x: Any, labels: Any) -> dict[str, Any]:
            loss = torch.nn.functional.mse_loss(self.net(x), labels)
            self.calls += 1
            return {"loss": loss * float("nan") if self.calls == POISON + 1 else loss}

    torch.manual_seed(0)
    x = torch.randn(400, 4)
    rows = [{"x": x[i], "labels": x[i, :1] * 3} for i in range(len(x))]
    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", str(log_dir))
    args = transformers.TrainingArguments(
        output_dir=str(log_dir / "out"),
        max_steps=50,
        per_device_train_batch_size=8,
        learning_rate=0.05,
        logging_steps=1,
        # HF's default filter replaces a NaN loss in its own logs; a finished run can only show
        # what was logged, so this run turns it off (live, LRCallback sees through the filter).
        logging_nan_inf_filter=False,
        report_to=["tensorboard"],
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
    )
    transformers.Trainer(model=Model(), args=args, train_dataset=rows).train()


def test_diagnose_reads_a_real_hf_trainer_tensorboard_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _hf_run(tmp_path, monkeypatch)
    alerts = _diagnose(tmp_path)
    nonfinite = [a for a in alerts if a["rule"] == "nonfinite"]
    # HF logs the loss of update k at global_step k + 1.
    assert nonfinite and nonfinite[0]["step"] == POISON + 1
