"""Plain-PyTorch ``find_lr`` on a real problem (scikit-learn digits): suggestion, exact restore, plot."""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
datasets = pytest.importorskip("sklearn.datasets")

from lr_callbacks.integrations.torch import LRCallback, find_lr  # noqa: E402
from lr_callbacks.range_test import RangeTestResult  # noqa: E402
from lr_callbacks.schedules import OneCycle, parse  # noqa: E402


def digits_batches(batch_size: int = 32) -> list[tuple[Any, Any]]:
    x, y = datasets.load_digits(return_X_y=True)
    inputs, targets = torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y)
    order = torch.randperm(len(inputs), generator=torch.Generator().manual_seed(0))
    return [
        (inputs[order[i : i + batch_size]], targets[order[i : i + batch_size]])
        for i in range(0, 1792, batch_size)
    ]


def make_model(seed: int = 0, batch_norm: bool = False) -> Any:
    torch.manual_seed(seed)
    norm = [torch.nn.BatchNorm1d(64)] if batch_norm else []
    return torch.nn.Sequential(torch.nn.Linear(64, 64), *norm, torch.nn.ReLU(), torch.nn.Linear(64, 10))


def warm_adam(model: Any, batches: list[tuple[Any, Any]]) -> Any:
    """An Adam optimizer with state (two updates made), two param groups with different LRs."""
    optimizer = torch.optim.Adam(
        [{"params": model[0].parameters(), "lr": 1e-3}, {"params": model[-1].parameters(), "lr": 5e-4}]
    )
    for inputs, targets in batches[:2]:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(inputs), targets).backward()
        optimizer.step()
    return optimizer


def snapshot(model: Any, optimizer: Any) -> dict[str, Any]:
    state = optimizer.state_dict()
    return {
        "model": {k: v.clone() for k, v in model.state_dict().items()},
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "opt_state": {k: {n: t.clone() for n, t in s.items()} for k, s in state["state"].items()},
        "groups": state["param_groups"],
        "modes": [m.training for m in model.modules()],
    }


def assert_same(before: dict[str, Any], model: Any, optimizer: Any) -> None:
    after = snapshot(model, optimizer)
    assert before["model"].keys() == after["model"].keys()
    for key, value in before["model"].items():
        assert torch.equal(value, after["model"][key]), key
    for a, b in zip(before["grads"], after["grads"], strict=True):
        assert (a is None and b is None) or torch.equal(a, b)
    assert before["opt_state"].keys() == after["opt_state"].keys()
    for key, entries in before["opt_state"].items():
        for name, value in entries.items():
            assert torch.equal(value, after["opt_state"][key][name]), (key, name)
    assert before["groups"] == after["groups"]
    assert before["modes"] == after["modes"]


def next_random_numbers() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_find_lr_suggests_a_sensible_lr_and_restores_everything(tmp_path: Path) -> None:
    batches = digits_batches()
    model = make_model()
    optimizer = warm_adam(model, batches)
    model.eval()  # the mode must come back too
    before = snapshot(model, optimizer)
    rng = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    result = find_lr(model, optimizer, batches, torch.nn.functional.cross_entropy, plot=tmp_path / "rt.png")
    drawn = next_random_numbers()
    random.setstate(rng[0]), np.random.set_state(rng[1]), torch.set_rng_state(rng[2])
    assert drawn == next_random_numbers()
    assert_same(before, model, optimizer)
    assert isinstance(result, RangeTestResult)
    # Adam on digits: one-cycle trains well from about 3e-3 to 1e-1 (see benchmarks/range_test)
    assert 3e-3 <= result.suggested_peak_lr <= 0.2, result.message()
    assert result.flags == () and result.stop_reason == "diverged" and len(result.losses) < 100
    assert result.apply(OneCycle(peak_lr=1.0)).peak_lr == result.suggested_peak_lr
    assert (tmp_path / "rt.png").read_bytes()[:4] == b"\x89PNG"


def test_find_lr_restores_everything_when_the_loss_function_raises() -> None:
    batches = digits_batches()
    model = make_model(batch_norm=True)  # its running statistics move during the sweep
    optimizer = warm_adam(model, batches)
    before = snapshot(model, optimizer)
    rng = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    calls = 0

    def failing_loss(outputs: Any, targets: Any) -> Any:
        nonlocal calls
        calls += 1
        torch.rand(3), np.random.rand(), random.random()  # the sweep consumes random numbers
        if calls == 30:
            raise RuntimeError("bad batch")
        return torch.nn.functional.cross_entropy(outputs, targets)

    with pytest.raises(RuntimeError, match="bad batch"):
        find_lr(model, optimizer, batches, failing_loss)
    assert calls == 30
    assert_same(before, model, optimizer)
    drawn = next_random_numbers()
    random.setstate(rng[0]), np.random.set_state(rng[1]), torch.set_rng_state(rng[2])
    assert drawn == next_random_numbers()


def test_find_lr_with_a_grad_scaler_accumulation_and_short_data() -> None:
    batches = digits_batches(batch_size=64)[:5]  # cycled: 5 batches for 40 updates x 2 micro-batches
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    scale_before = dict(scaler.state_dict())
    before = snapshot(model, optimizer)
    result = find_lr(
        model,
        optimizer,
        batches,
        torch.nn.functional.cross_entropy,
        start_lr=1e-5,
        end_lr=100.0,
        num_steps=40,
        accumulation_steps=2,
        scaler=scaler,
    )
    assert_same(before, model, optimizer)
    assert scaler.state_dict() == scale_before
    assert 20 <= len(result.losses) <= 40
    assert result.lrs[0] == pytest.approx(1e-5)


def test_a_one_shot_iterator_ends_the_sweep_early() -> None:
    batches = digits_batches()[:25]
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters())
    result = find_lr(model, optimizer, iter(batches), torch.nn.functional.cross_entropy)
    assert len(result.losses) == 25 and result.stop_reason is None
    assert result.suggested_peak_lr is not None


def test_find_lr_rejects_bad_arguments() -> None:
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters())
    loss = torch.nn.functional.cross_entropy
    with pytest.raises(TypeError, match=r"find_lr: model must be a torch.nn.Module; got model='net'"):
        find_lr("net", optimizer, [], loss)  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"find_lr: optimizer must be a torch.optim.Optimizer; got optimizer=None"
    ):
        find_lr(model, None, [], loss)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="accumulation_steps must be an int >= 1; got accumulation_steps=0"):
        find_lr(model, optimizer, [], loss, accumulation_steps=0)
    with pytest.raises(ValueError, match=r"RangeTest: end_lr must be a finite number > 1; got end_lr=0.5"):
        find_lr(model, optimizer, [], loss, start_lr=1.0, end_lr=0.5)
    with pytest.raises(
        ValueError, match=r"find_lr: batches must yield \(inputs, targets\) pairs; got batches=\[\]"
    ):
        find_lr(model, optimizer, [], loss)


def test_lr_callback_find_lr_replaces_the_peak_restores_the_model_and_logs(caplog: Any) -> None:
    batches = digits_batches()
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    cb = LRCallback("cosine(peak_lr=1.0)", optimizer, total_steps=50)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with caplog.at_level(logging.INFO, logger="lr_callbacks"):
        result = cb.find_lr(model, batches, torch.nn.functional.cross_entropy, num_steps=100)
    assert result.flags == ()
    assert cb.controller.schedule == parse(f"cosine(peak_lr={result.suggested_peak_lr!r})")
    assert optimizer.param_groups[0]["lr"] == cb.controller.lrs(0)[0] == result.suggested_peak_lr
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert optimizer.state == {}
    assert any(
        "Training with cosine(peak_lr=" in r.message and r.levelno == logging.INFO for r in caplog.records
    )
    inputs, targets = batches[0]
    torch.nn.functional.cross_entropy(model(inputs), targets).backward()
    optimizer.step()
    cb.step(torch.tensor(1.0))  # the callback is not "fought": the LR it set is the one found
    with pytest.raises(
        RuntimeError, match=r"LRCallback.find_lr: the range test runs before training; got step_count=1"
    ):
        cb.find_lr(model, batches, torch.nn.functional.cross_entropy)


def test_lr_callback_find_lr_keeps_the_written_peak_when_the_curve_is_flagged(caplog: Any) -> None:
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    cb = LRCallback("cosine(peak_lr=0.01)", optimizer, total_steps=50)
    with caplog.at_level(logging.INFO, logger="lr_callbacks"):
        result = cb.find_lr(model, digits_batches(), torch.nn.functional.cross_entropy, num_steps=10)
    assert result.flags == ("too_few_points",)
    assert cb.controller.schedule == parse("cosine(peak_lr=0.01)")
    assert any(
        "Keeping the schedule's peak_lr=0.01" in r.message and r.levelno == logging.WARNING
        for r in caplog.records
    )


def test_lr_callback_find_lr_needs_a_schedule_with_a_peak() -> None:
    model = make_model()
    cb = LRCallback(lambda t: 0.1, torch.optim.SGD(model.parameters(), lr=0.1), total_steps=5)
    with pytest.raises(ValueError, match=r"LRCallback.find_lr: find_lr replaces the schedule's peak_lr"):
        cb.find_lr(model, digits_batches(), torch.nn.functional.cross_entropy)
    with pytest.raises(
        ValueError, match=r"LRCallback.find_lr: find_lr options must be among .*got unknown \['steps'\]"
    ):
        LRCallback("cosine(peak_lr=0.1)", torch.optim.SGD(model.parameters(), lr=0.1), total_steps=5).find_lr(
            model, digits_batches(), torch.nn.functional.cross_entropy, steps=3
        )


@pytest.mark.parametrize(
    ("spec", "optimizer", "warns"),
    [
        ("cosine(peak_lr=1e-2)", "AdamW", "is 200x above the usual starting LR for llm_finetuning with adam"),
        ("cosine(peak_lr=3e-5)", "AdamW", None),
        ("cosine(peak_lr=1e-3)", "SGD", None),  # SGD's range for fine-tuning is 1e-4 .. 5e-3
        (None, "SGD", "is 1000x below"),  # no schedule: the optimizer's own LR (1e-7 below) is checked
    ],
)
def test_scenario_warns_once_at_the_first_update_when_the_peak_is_far_off(
    spec: str | None, optimizer: str, warns: str | None, caplog: Any
) -> None:
    model = make_model()
    opt = getattr(torch.optim, optimizer)(model.parameters(), lr=1e-7 if spec is None else 1e-3)
    cb = LRCallback(spec, opt, total_steps=5, scenario="llm_finetuning")
    with caplog.at_level(logging.WARNING, logger="lr_callbacks"):
        for _ in range(3):
            cb.step(torch.tensor(1.0))
    messages = [r.message for r in caplog.records if "usual starting LR" in r.message]
    assert len(messages) == (0 if warns is None else 1)
    assert all(warns in message for message in messages)
    with pytest.raises(ValueError, match=r"LRCallback: scenario must be one of"):
        LRCallback(spec, opt, total_steps=5, scenario="finetuning")
