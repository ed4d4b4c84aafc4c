"""The Lightning ``LRCallback`` against a real ``Trainer`` (both packages), LightningCLI and 2-process DDP, on CPU."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pytest

pl = pytest.importorskip("lightning.pytorch")
torch = pytest.importorskip("torch")

from lr_callbacks.controller import StopTraining  # noqa: E402
from lr_callbacks.diagnostics import NonFiniteRule  # noqa: E402
from lr_callbacks.diagnostics.base import Rule  # noqa: E402
from lr_callbacks.integrations.lightning import LRCallback  # noqa: E402
from lr_callbacks.schedules import parse  # noqa: E402
from lr_callbacks.sinks import ListSink  # noqa: E402

SPEC = "warmup_cosine(peak_lr=0.05, warmup='1ep', min_lr_ratio=0.1)"
ROOT = Path(__file__).resolve().parent.parent


def data() -> Any:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=generator)
    return torch.utils.data.TensorDataset(x, 2 * x[:, :1] + 0.1 * torch.randn(64, 1, generator=generator))


class TinyModel(pl.LightningModule):
    """Linear regression with two param groups (LR 0.1 and 0.01); 16 batches of 4 per epoch."""

    def __init__(self, poison_at: int | None = None, scheduler: bool = False, wrap: Any = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Linear(4, 1)
        self.poison_at, self.scheduler, self.wrap = poison_at, scheduler, wrap
        self.losses: list[tuple[int, float]] = []

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        loss = torch.nn.functional.mse_loss(self.net(batch[0]), batch[1])
        if self.wrap is not None:  # the zero-read test: nothing here may read the loss
            return self.wrap(loss)
        self.losses.append((self.global_step, loss.item()))
        return loss * float("nan") if self.global_step == self.poison_at else loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        loss = torch.nn.functional.mse_loss(self.net(batch[0]), batch[1])
        self.log("val_loss", loss * float("nan") if self.current_epoch == 1 else loss)

    def configure_optimizers(self) -> Any:
        groups = [{"params": [self.net.weight], "lr": 0.1}, {"params": [self.net.bias], "lr": 0.01}]
        optimizer = torch.optim.SGD(groups, lr=0.1)
        if not self.scheduler:
            return optimizer
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.5)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def train_dataloader(self) -> Any:
        return torch.utils.data.DataLoader(data(), batch_size=4)

    def val_dataloader(self) -> Any:
        return torch.utils.data.DataLoader(data(), batch_size=16)


class Recorder(pl.Callback):
    """Records the LR of every param group as the optimizer is about to use it."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.lrs: list[list[float]] = []

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        self.steps.append(trainer.global_step)
        self.lrs.append([group["lr"] for group in optimizer.param_groups])


class RecordingRule(Rule):
    """Sees every observation (finite, non-finite, eval) and never alerts."""

    name = "recording"
    on_nonfinite = True
    on_eval = True

    def __init__(self) -> None:
        self.train: list[tuple[int, float]] = []
        self.evals: list[tuple[int, float | None]] = []

    def update(self, obs: Any, context: Any) -> list[Any]:
        if obs.val_loss is not None:
            self.evals.append((obs.step, obs.val_loss))
        else:
            self.train.append((obs.step, obs.loss))
        return []


def trainer_args(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    args = dict(
        accelerator="cpu", max_epochs=2, default_root_dir=str(tmp_path), logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, limit_val_batches=0,
    )  # fmt: skip
    return {**args, **overrides}


def fit(tmp_path: Path, callbacks: list[Any], model: Any = None, **overrides: Any) -> tuple[Any, Any]:
    model = model or TinyModel()
    ckpt_path = overrides.pop("ckpt_path", None)
    trainer = pl.Trainer(**trainer_args(tmp_path, **overrides), callbacks=callbacks)
    trainer.fit(model, ckpt_path=ckpt_path)
    return trainer, model


def expected_lrs(num_updates: int, per_epoch: int) -> list[float]:
    schedule = parse(SPEC).bind(total_steps=num_updates, steps_per_epoch=per_epoch)
    return [schedule(t) for t in range(num_updates)]


def check_lrs(recorder: Recorder, num_updates: int, per_epoch: int) -> None:
    assert recorder.steps == list(range(num_updates))
    assert [lrs[0] for lrs in recorder.lrs] == expected_lrs(num_updates, per_epoch)
    assert all(lrs[1] == pytest.approx(lrs[0] * 0.1, rel=1e-15) for lrs in recorder.lrs)


def test_lr_follows_the_schedule_at_every_update_with_accumulation_and_two_groups(tmp_path: Path) -> None:
    recorder = Recorder()
    trainer, _ = fit(tmp_path, [LRCallback(SPEC, sinks=[]), recorder], accumulate_grad_batches=3)
    # 16 micro-batches per epoch, 3 per update: 6 updates per epoch (the last one has 1), 12 in all;
    # warmup='1ep' is 6 updates only if the callback counts updates, not micro-batches.
    assert trainer.global_step == 12
    check_lrs(recorder, 12, 6)


def test_both_lightning_packages_take_the_same_callback(tmp_path: Path) -> None:
    lightning_pytorch = pl
    standalone: ModuleType = pytest.importorskip("pytorch_lightning")
    callback = LRCallback(SPEC, sinks=[])
    assert isinstance(callback, lightning_pytorch.Callback) and isinstance(callback, standalone.Callback)

    class StandaloneModel(standalone.LightningModule):
        training_step, configure_optimizers, train_dataloader = (
            TinyModel.training_step, TinyModel.configure_optimizers, TinyModel.train_dataloader,
        )  # fmt: skip

        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.net, self.poison_at, self.wrap, self.scheduler, self.losses = (
                torch.nn.Linear(4, 1),
                None,
                None,
                0,
                [],
            )

    class StandaloneRecorder(standalone.Callback):
        __init__, on_before_optimizer_step = Recorder.__init__, Recorder.on_before_optimizer_step

    recorder = StandaloneRecorder()
    trainer = standalone.Trainer(
        **trainer_args(tmp_path, accumulate_grad_batches=2), callbacks=[callback, recorder]
    )
    trainer.fit(StandaloneModel())
    check_lrs(recorder, 16, 8)  # type: ignore[arg-type]


def test_an_injected_nan_stops_training_with_a_nonfinite_alert(tmp_path: Path) -> None:
    sink = ListSink()
    callback = LRCallback(SPEC, sinks=[sink], rules=[NonFiniteRule()])
    trainer, _ = fit(tmp_path, [callback], model=TinyModel(poison_at=5))
    assert trainer.global_step == 6  # caught at the update it happened (CPU losses land at once)
    assert [(a.rule, a.step) for a in sink.alerts] == [("nonfinite", 5)]


def test_raise_on_stop_carries_the_alert(tmp_path: Path) -> None:
    callback = LRCallback(SPEC, sinks=[], rules=[NonFiniteRule()], raise_on_stop=True)
    with pytest.raises(StopTraining) as info:
        fit(tmp_path, [callback], model=TinyModel(poison_at=3))
    assert info.value.alert is not None and (info.value.alert.rule, info.value.alert.step) == ("nonfinite", 3)


def test_validation_loss_reaches_the_rules(tmp_path: Path) -> None:
    recording, sink = RecordingRule(), ListSink()
    callback = LRCallback(SPEC, sinks=[sink], rules=[recording, NonFiniteRule()], stop_on=())
    fit(tmp_path, [callback], limit_val_batches=2)
    assert [step for step, _ in recording.evals] == [15, 31]  # after the last update of each epoch
    assert math.isfinite(recording.evals[0][1]) and math.isnan(recording.evals[1][1])
    assert [(a.rule, a.step) for a in sink.alerts] == [("nonfinite", 31)]


def test_resume_from_a_mid_run_checkpoint_gives_the_same_lrs_and_alerts(tmp_path: Path) -> None:
    checkpoints = pl.callbacks.ModelCheckpoint(tmp_path / "ckpt", every_n_train_steps=4, save_top_k=-1)
    full_sink, full_recorder = ListSink(), Recorder()
    # Default rules (whichever fire), a NaN at update 20, no stop: every later alert must match too.
    full = LRCallback(SPEC, sinks=[full_sink], stop_on=())
    args = dict(accumulate_grad_batches=2, max_epochs=3, enable_checkpointing=True)
    fit(tmp_path, [full, full_recorder, checkpoints], model=TinyModel(poison_at=20), **args)
    assert full_recorder.steps == list(range(24)) and ("nonfinite", 20) in [
        (a.rule, a.step) for a in full.alerts
    ]
    for cut, alerts_too in ((8, True), (12, False)):  # 8: an epoch end; 12: mid-epoch (the data restarts)
        [path] = (tmp_path / "ckpt").glob(f"*-step={cut}.ckpt")
        saved = torch.load(path, weights_only=True)["callbacks"][full.state_key]
        assert json.loads(json.dumps(saved, allow_nan=False)) == saved
        sink, recorder = ListSink(), Recorder()
        resumed = LRCallback(SPEC, sinks=[sink], stop_on=())
        fit(tmp_path, [resumed, recorder], model=TinyModel(poison_at=20), ckpt_path=str(path), **args)
        assert recorder.steps == list(range(cut, 24))
        assert recorder.lrs == full_recorder.lrs[cut:], f"LRs differ after resuming at {cut}"
        if alerts_too:
            assert [a.to_dict() for a in resumed.alerts] == [a.to_dict() for a in full.alerts]
            assert sink.alerts == full_sink.alerts[len(full_sink.alerts) - len(sink.alerts) :]
            assert resumed.state_dict() == full.state_dict()  # every rule's statistics, too


def test_lr_and_loss_line_up_in_tensorboard(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logger = pl.loggers.TensorBoardLogger(str(tmp_path), name="run", version=0)
    recording = RecordingRule()
    model = TinyModel()
    fit(
        tmp_path,
        [LRCallback(SPEC, rules=[recording], sinks=[])],
        model=model,
        logger=logger,
        accumulate_grad_batches=2,
    )
    events = EventAccumulator(logger.log_dir)
    events.Reload()
    series = {tag: events.Scalars(tag) for tag in events.Tags()["scalars"] if tag.startswith("lr_callbacks/")}
    # Written once, by the TensorBoard dashboard sink (not also through log_metrics).
    assert sorted(series) == [
        "lr_callbacks/alert_level", "lr_callbacks/loss", "lr_callbacks/loss_smoothed",
        "lr_callbacks/loss_smoothed/lower", "lr_callbacks/loss_smoothed/upper", "lr_callbacks/lr/group0",
        "lr_callbacks/lr/group1", "lr_callbacks/lr_log10/group0", "lr_callbacks/lr_log10/group1",
    ]  # fmt: skip
    assert all([e.step for e in values] == list(range(16)) for values in series.values())
    lr = expected_lrs(16, 8)
    assert [e.value for e in series["lr_callbacks/lr/group0"]] == pytest.approx(lr, rel=1e-6)
    assert [e.value for e in series["lr_callbacks/lr/group1"]] == pytest.approx(
        [v * 0.1 for v in lr], rel=1e-6
    )
    # The per-update loss is the mean of its two micro-batch losses (Lightning had divided each by 2).
    means = [(a + b) / 2 for (_, a), (_, b) in zip(model.losses[::2], model.losses[1::2], strict=True)]
    assert [loss for _, loss in recording.train] == pytest.approx(means, rel=1e-6)
    assert [e.value for e in series["lr_callbacks/loss"]] == pytest.approx(means, rel=1e-6)


def test_a_user_lr_scheduler_is_refused_and_schedule_none_keeps_it(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"drop the lr_scheduler .* or pass schedule=None"):
        fit(tmp_path, [LRCallback(SPEC, sinks=[])], model=TinyModel(scheduler=True))
    sink, recorder = ListSink(), Recorder()
    callback = LRCallback(None, sinks=[sink], rules=[NonFiniteRule()])
    trainer, _ = fit(tmp_path, [callback, recorder], model=TinyModel(scheduler=True, poison_at=9))
    assert [lrs[0] for lrs in recorder.lrs] == [0.1] * 4 + [0.05] * 4 + [
        0.025
    ] * 2  # StepLR(4, 0.5), untouched
    assert trainer.global_step == 10 and [(a.rule, a.step) for a in sink.alerts] == [("nonfinite", 9)]


class InfiniteData(torch.utils.data.IterableDataset):  # type: ignore[misc]
    def __iter__(self) -> Any:
        yield from data()


def test_bad_input_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="stop_check_every must be an int >= 1"):
        LRCallback(SPEC, stop_check_every=0)
    with pytest.raises(TypeError, match="schedule must be a spec string"):
        LRCallback(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="total_steps must be a positive int"):
        LRCallback(SPEC, total_steps=0)
    with pytest.raises(ValueError, match=r"expected keys \['controller', 'version'\]"):
        LRCallback(SPEC).load_state_dict({"step": 3})
    model = TinyModel()
    model.train_dataloader = lambda: torch.utils.data.DataLoader(InfiniteData(), batch_size=4)  # type: ignore[method-assign]
    with pytest.raises(ValueError, match=r"total_steps=None. Pass LRCallback\(..., total_steps=N\)"):
        fit(tmp_path, [LRCallback("cosine(peak_lr=0.1)", sinks=[])], model=model, max_epochs=1)
    recorder = Recorder()  # the same run works once T is given
    fit(
        tmp_path,
        [LRCallback("cosine(peak_lr=0.1)", sinks=[], total_steps=16), recorder],
        model=model,
        max_epochs=1,
    )
    assert recorder.steps == list(range(16))


class ManualModel(TinyModel):
    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        optimizer = self.optimizers()
        loss = torch.nn.functional.mse_loss(self.net(batch[0]), batch[1], reduction="none")
        self.manual_backward(loss.mean())
        optimizer.step()
        optimizer.zero_grad()
        return loss  # not a scalar


def test_a_loss_that_is_not_a_scalar_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"the loss must be a scalar .* loss\.mean\(\)"):
        fit(tmp_path, [LRCallback(SPEC, sinks=[])], model=ManualModel())


class CountingTensor(torch.Tensor):
    """A tensor that counts every host read of its value."""

    reads = 0
    READS: ClassVar[set[Any]] = {
        torch.Tensor.item, torch.Tensor.__float__, torch.Tensor.__bool__, torch.Tensor.__int__,
        torch.Tensor.tolist, torch.Tensor.cpu, torch.Tensor.numpy,
    }  # fmt: skip

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if func in cls.READS:
            CountingTensor.reads += 1
        return super().__torch_function__(func, types, args, kwargs or {})


def test_the_callback_makes_no_host_read_of_the_loss(tmp_path: Path) -> None:
    def reads_during_fit(callbacks: list[Any]) -> int:
        CountingTensor.reads = 0
        wrap = lambda loss: loss.as_subclass(CountingTensor)  # noqa: E731
        fit(tmp_path, callbacks, model=TinyModel(wrap=wrap), accumulate_grad_batches=2)
        return CountingTensor.reads

    recording = RecordingRule()
    baseline = reads_during_fit([])  # whatever Lightning itself does with the loss
    assert reads_during_fit([LRCallback(SPEC, sinks=[], rules=[recording])]) == baseline
    assert [step for step, _ in recording.train] == list(range(16))  # the losses did reach the rules
    float(torch.tensor(1.0).as_subclass(CountingTensor))  # the counter does see a read: this test can fail
    assert CountingTensor.reads == baseline + 1


def test_lightning_cli_builds_the_callback_from_yaml(tmp_path: Path) -> None:
    pytest.importorskip("jsonargparse", reason="LightningCLI needs jsonargparse[signatures]")
    from lightning.pytorch.cli import LightningCLI

    config = tmp_path / "config.yaml"
    config.write_text(
        "trainer:\n"
        f"  default_root_dir: {tmp_path}\n  max_epochs: 1\n  logger: false\n  enable_checkpointing: false\n"
        "  enable_progress_bar: false\n  enable_model_summary: false\n"
        "  callbacks:\n"
        "    - class_path: lr_callbacks.integrations.lightning.LRCallback\n"
        "      init_args:\n"
        '        schedule: "warmup_cosine(peak_lr=0.01, warmup=0.1)"\n'
    )
    cli = LightningCLI(TinyModel, args=["--config", str(config)], run=False, save_config_callback=None)
    [callback] = [c for c in cli.trainer.callbacks if isinstance(c, LRCallback)]
    recorder = Recorder()
    cli.trainer.callbacks.append(recorder)
    cli.trainer.fit(cli.model)
    schedule = parse("warmup_cosine(peak_lr=0.01, warmup=0.1)").bind(total_steps=16)
    assert [lrs[0] for lrs in recorder.lrs] == [schedule(t) for t in range(16)]
    assert callback.state_key == "LRCallback{'schedule': 'warmup_cosine(peak_lr=0.01, warmup=0.1)'}"


@pytest.mark.parametrize(
    ("launcher", "environment"),
    [("lightning", "LightningEnvironment"), ("torchelastic", "TorchElasticEnvironment")],
)
def test_ddp_two_processes_step_the_same_lr_and_stop_together_on_a_nan_on_one_rank(
    tmp_path: Path, launcher: str, environment: str
) -> None:
    from distributed_launch import run_workers

    run_workers("lightning_ddp.py", [str(tmp_path), launcher], nprocs=2, timeout=240)
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    poison = 9  # the worker poisons rank 1's loss at this update; 16 updates per epoch, 2 epochs
    assert results[0]["global_step"] == results[1]["global_step"] == poison + 1
    assert results[0]["world_size"] == 2 and results[0]["environment"] == environment
    assert results[0]["lrs"] == results[1]["lrs"] == expected_lrs(32, 16)[: poison + 1]
    assert results[1]["alerts"] == [] and results[1]["logged_steps"] == []  # only rank 0 reports and logs
    assert results[0]["logged_steps"] == list(range(poison + 1))
    assert [(a["rule"], a["step"]) for a in results[0]["alerts"]] == [("nonfinite", poison)]
    assert "rank 1" in results[0]["alerts"][-1]["message"]


def test_the_example_runs_and_writes_tensorboard_logs(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "lightning_example.py"), str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert list(tmp_path.rglob("events.out.tfevents.*")), "no TensorBoard event file written"
