"""The plain-PyTorch ``LRCallback`` against a real training loop on CPU."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

torch = pytest.importorskip("torch")

from lr_callbacks.diagnostics import Alert  # noqa: E402
from lr_callbacks.integrations.torch import LRCallback  # noqa: E402
from lr_callbacks.schedules import parse  # noqa: E402
from lr_callbacks.sinks import ListSink  # noqa: E402

SPEC = "warmup_cosine(peak_lr=0.05, warmup=10, min_lr_ratio=0.1)"
T = 60


def make_problem(seed: int = 0) -> tuple[Any, Any, list[tuple[Any, Any]]]:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    optimizer = torch.optim.SGD(
        [{"params": model[0].parameters(), "lr": 0.1}, {"params": model[2].parameters(), "lr": 0.01}], lr=0.1
    )
    x = torch.randn(T * 8, 8)
    y = x[:, :1] * 2 + 0.1 * torch.randn(T * 8, 1)
    batches = [(x[i * 8 : (i + 1) * 8], y[i * 8 : (i + 1) * 8]) for i in range(T)]
    return model, optimizer, batches


def train(
    cb: LRCallback,
    model: Any,
    optimizer: Any,
    batches: list[Any],
    start: int = 0,
    stop: int = T,
    poison: int | None = None,
    wrap: Any = None,
) -> list[list[float]]:
    used = []
    for t in range(start, stop):
        x, y = batches[t]
        used.append([g["lr"] for g in optimizer.param_groups])
        loss = torch.nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if t == poison:
            loss = loss * float("nan")
        cb.step(wrap(loss) if wrap else loss)
        if cb.should_stop:
            break
    return used


def test_lr_follows_the_schedule_every_update_and_groups_keep_their_ratio() -> None:
    model, optimizer, batches = make_problem()
    cb = LRCallback(SPEC, optimizer, total_steps=T, sinks=[])
    used = train(cb, model, optimizer, batches)
    schedule = parse(SPEC).bind(total_steps=T)
    assert [u[0] for u in used] == [schedule(t) for t in range(T)]
    assert all(u[1] == pytest.approx(u[0] * 0.1, rel=1e-15) for u in used)
    cb.close()


def test_nan_stops_training_at_that_update_with_a_nonfinite_alert() -> None:
    model, optimizer, batches = make_problem()
    sink = ListSink()
    cb = LRCallback(SPEC, optimizer, total_steps=T, sinks=[sink])
    used = train(cb, model, optimizer, batches, poison=25)
    assert len(used) == 26
    assert cb.should_stop
    assert [a.rule for a in sink.alerts][-1] == "nonfinite"
    assert sink.alerts[-1].step == 25
    assert isinstance(sink.alerts[-1], Alert)


def test_raise_on_stop_carries_the_alert() -> None:
    from lr_callbacks.controller import StopTraining

    model, optimizer, batches = make_problem()
    cb = LRCallback(SPEC, optimizer, total_steps=T, sinks=[], raise_on_stop=True)
    with pytest.raises(StopTraining) as info:
        train(cb, model, optimizer, batches, poison=5)
    assert info.value.alert is not None and info.value.alert.rule == "nonfinite"


def test_resume_at_any_step_gives_the_same_lrs_and_alerts() -> None:
    model, optimizer, batches = make_problem()
    sink = ListSink()
    cb = LRCallback(SPEC, optimizer, total_steps=T, sinks=[sink], stop_on=())
    full = train(cb, model, optimizer, batches, poison=45)
    for cut in (1, 17, 44, 50):
        model, optimizer, batches = make_problem()
        first_sink = ListSink()
        cb1 = LRCallback(SPEC, optimizer, total_steps=T, sinks=[first_sink], stop_on=())
        part = train(cb1, model, optimizer, batches, stop=cut, poison=45)
        state = json.loads(json.dumps(cb1.state_dict(), allow_nan=False))
        second_sink = ListSink()
        cb2 = LRCallback(SPEC, optimizer, total_steps=T, sinks=[second_sink], stop_on=())
        cb2.load_state_dict(state)
        part += train(cb2, model, optimizer, batches, start=cut, poison=45)
        assert part == full, f"LRs differ after resuming at {cut}"
        resumed = [a.to_dict() for a in first_sink.alerts + second_sink.alerts]
        assert resumed == [a.to_dict() for a in sink.alerts], f"alerts differ after resuming at {cut}"


def test_a_torch_scheduler_fighting_the_schedule_is_refused() -> None:
    model, optimizer, batches = make_problem()
    cb = LRCallback("constant(peak_lr=0.05)", optimizer, sinks=[])
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    loss = torch.nn.functional.mse_loss(model(batches[0][0]), batches[0][1])
    loss.backward()
    optimizer.step()
    scheduler.step()
    with pytest.raises(RuntimeError, match="changed outside the callback"):
        cb.step(loss)


def test_schedule_none_leaves_the_lr_to_the_user_and_still_diagnoses() -> None:
    model, optimizer, batches = make_problem()
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)
    sink = ListSink()
    cb = LRCallback(None, optimizer, sinks=[sink])
    used = []
    for t in range(30):
        used.append(optimizer.param_groups[0]["lr"])
        loss = torch.nn.functional.mse_loss(model(batches[t][0]), batches[t][1])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        cb.step(loss * float("nan") if t == 20 else loss)
    assert used[:11] == [0.1] * 10 + [0.05]
    assert cb.should_stop and sink.alerts[-1].rule == "nonfinite"


def test_bad_input_is_named() -> None:
    model, optimizer, _ = make_problem()
    with pytest.raises(ValueError, match="total_steps=N"):
        LRCallback("cosine(peak_lr=0.1)", optimizer)
    with pytest.raises(TypeError, match=r"optimizer must be a torch\.optim\.Optimizer"):
        LRCallback("constant(peak_lr=0.1)", model)
    cb = LRCallback("constant(peak_lr=0.1)", optimizer, sinks=[])
    with pytest.raises(TypeError, match=r"got a dict with keys \['loss'\]"):
        cb.step({"loss": torch.tensor(1.0)})
    with pytest.raises(ValueError, match="must be a scalar"):
        cb.step(torch.ones(3))
    with pytest.raises(TypeError, match="loss=None"):
        cb.step(None)


class CountingTensor(torch.Tensor):
    """A tensor that counts every host read of its value."""

    reads = 0
    READS: ClassVar[set[Any]] = {
        torch.Tensor.item,
        torch.Tensor.__float__,
        torch.Tensor.__bool__,
        torch.Tensor.__int__,
        torch.Tensor.tolist,
        torch.Tensor.cpu,
        torch.Tensor.numpy,
    }

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if func in cls.READS:
            CountingTensor.reads += 1
        return super().__torch_function__(func, types, args, kwargs or {})


def test_no_host_read_of_the_loss_between_flushes() -> None:
    model, optimizer, batches = make_problem()
    cb = LRCallback(SPEC, optimizer, total_steps=T, sinks=[])
    CountingTensor.reads = 0
    wrap = lambda loss: loss.as_subclass(CountingTensor)  # noqa: E731
    train(cb, model, optimizer, batches, wrap=wrap)
    grad_norm = torch.tensor(1.0).as_subclass(CountingTensor)
    cb.step(wrap(torch.tensor(0.5)), grad_norm=grad_norm)
    assert CountingTensor.reads == 0
    assert len(cb.controller.monitor.alerts) == 0 or all(a.rule != "nonfinite" for a in cb.alerts)
    float(wrap(torch.tensor(1.0)))  # the counter does see a read: this test can fail
    assert CountingTensor.reads == 1


def test_ddp_nan_on_one_rank_stops_every_rank_at_the_same_step(tmp_path: Path) -> None:
    from distributed_launch import run_workers

    run_workers("torch_ddp.py", [str(tmp_path)], nprocs=2, timeout=180)
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert len(results[0]["lrs"]) == len(results[1]["lrs"]) == 34
    assert results[0]["stop"] and results[1]["stop"]
    schedule = parse(SPEC).bind(T)
    assert results[0]["lrs"] == results[1]["lrs"] == [schedule(t) for t in range(34)]
    # Only rank 0 reports, and it names the rank that saw the NaN.
    assert results[1]["alerts"] == []
    assert [(a["rule"], a["step"]) for a in results[0]["alerts"]][-1:] == [("nonfinite", 33)]
    assert "rank 1" in results[0]["alerts"][-1]["message"]


def test_example_runs() -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, str(root / "examples" / "torch_example.py")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "healthy run: 174 updates" in result.stdout and "alerts []" in result.stdout
    assert "corrupt batch: stopped after 41 updates; nonfinite at step 40" in result.stdout
