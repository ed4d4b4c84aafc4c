"""Parity of the migration presets with the REAL anchors, over whole runs.

Each test builds the anchor (a real torch optimizer and ``torch.optim.lr_scheduler``
stepped once per update; HF ``transformers.get_scheduler``; timm's scheduler modules
stepped with ``step_update(t)``; Keras 3 schedules on the torch backend called with
``t``), records the LR the anchor applies to every update ``t = 0 .. T-1`` (T between
1000 and 5000), and checks our preset, scalar and vectorised, against it.

Tolerance: a relative error of at most 1e-12 at every step (measured worst cases are
below 1e-12; most are a few 1e-16). One case also accepts an absolute error of 4 ulps
of the peak LR (``4 * 2.22e-16 * peak``, ``atol_ulps=4``): torch ``OneCycleLR`` with
``anneal_strategy="linear"``, whose own ``(end - start) * pct + start`` at ``pct = 1``
(the last update) loses the relative precision of the tiny final LR (2e-11 relative,
1.4 ulps of the peak); ours lands the final value exactly. Keras computes in its
``floatx``; these tests set it to float64 (float32 Keras agrees to ~1e-7 only).
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from lr_callbacks.schedules import Schedule
from lr_callbacks.schedules.presets import from_hf, from_keras, from_timm, from_torch

EPS = 2.220446049250313e-16
RELATIVE = 1e-12
PEAK = 3e-4


def assert_parity(
    schedule: Schedule, anchor: Sequence[Sequence[float]], base_lrs: Sequence[float], atol_ulps: int = 0
) -> float:
    """Check ``group_lrs`` (scalar) and ``values`` (vectorised) against the anchor; return the worst rel. error."""
    bound = schedule.bind(total_steps=len(anchor))
    vector = bound.values(np.arange(len(anchor)))
    worst = 0.0
    for t, expected in enumerate(anchor):
        ours = bound.group_lrs(t, base_lrs)
        ours_vector = [float(vector[t]) * base / base_lrs[0] for base in base_lrs]
        for mine, theirs, base in zip(
            [*ours, *ours_vector], [*expected, *expected], [*base_lrs, *base_lrs], strict=True
        ):
            worst = max(worst, _check(t, mine, theirs, atol_ulps * EPS * base))
    return worst


def _check(t: int, mine: float, theirs: float, atol: float) -> float:
    error = abs(mine - theirs)
    if error <= atol:
        return 0.0
    relative = error / abs(theirs) if theirs else math.inf
    assert relative <= RELATIVE, f"t={t}: ours {mine!r}, anchor {theirs!r} (relative error {relative:.3g})"
    return relative


# ---------------------------------------------------------------- torch


def run_torch(make: Callable[[Any], Any], base_lrs: Sequence[float], total: int) -> list[list[float]]:
    """LR of every param group applied to each update of a real torch optimizer + scheduler."""
    torch = pytest.importorskip("torch")
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in base_lrs]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, base_lrs, strict=True)]
    optimizer = torch.optim.SGD(groups, lr=base_lrs[0], momentum=0.9)
    scheduler = make(optimizer)
    seen = []
    for _ in range(total):
        seen.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return seen


TWO_GROUPS = [PEAK, PEAK / 7]

TORCH_CASES = [
    ("StepLR", {"step_size": 30, "gamma": 0.1}, 3000, 0),
    ("StepLR", {"step_size": 1, "gamma": 0.999}, 4000, 0),
    ("StepLR", {"step_size": 700, "gamma": 0.5}, 3000, 0),
    ("MultiStepLR", {"milestones": [300, 600, 900], "gamma": 0.1}, 1000, 0),
    ("MultiStepLR", {"milestones": [2000, 0, 500, 500], "gamma": 0.5}, 3000, 0),
    ("MultiStepLR", {"milestones": [2999], "gamma": 0.3}, 3000, 0),
    ("ExponentialLR", {"gamma": 0.999}, 5000, 0),
    ("ExponentialLR", {"gamma": 0.9995}, 2000, 0),
    ("CosineAnnealingWarmRestarts", {"T_0": 100}, 3000, 0),
    ("CosineAnnealingWarmRestarts", {"T_0": 10, "T_mult": 2}, 5000, 0),
    ("OneCycleLR", {"total_steps": 1000}, 1000, 0),
    ("OneCycleLR", {"total_steps": 5000, "anneal_strategy": "linear"}, 5000, 4),
    ("OneCycleLR", {"total_steps": 3000, "three_phase": True, "div_factor": 10.0}, 3000, 0),
    (
        "OneCycleLR",
        {"epochs": 10, "steps_per_epoch": 123, "pct_start": 0.25, "final_div_factor": 100.0},
        1230,
        0,
    ),
    ("OneCycleLR", {"total_steps": 1000, "pct_start": 0.0005}, 1000, 0),
    ("LinearLR", {}, 1000, 0),
    ("LinearLR", {"start_factor": 0.01, "total_iters": 1000}, 2000, 0),
    ("LinearLR", {"start_factor": 1.0, "end_factor": 0.0, "total_iters": 2000}, 3000, 0),
    ("LinearLR", {"start_factor": 0.5, "end_factor": 0.1, "total_iters": 100}, 1000, 0),
    ("PolynomialLR", {"total_iters": 2000, "power": 2.0}, 3000, 0),
    ("PolynomialLR", {"total_iters": 1000, "power": 0.5}, 1000, 0),
    ("PolynomialLR", {"total_iters": 5000}, 5000, 0),
    ("ConstantLR", {}, 1000, 0),
    ("ConstantLR", {"factor": 0.1, "total_iters": 500}, 2000, 0),
]


@pytest.mark.parametrize(("name", "kwargs", "total", "atol_ulps"), TORCH_CASES)
def test_torch_parity(name: str, kwargs: dict[str, Any], total: int, atol_ulps: int) -> None:
    torch = pytest.importorskip("torch")
    cls = getattr(torch.optim.lr_scheduler, name)
    if name == "OneCycleLR":
        anchor = run_torch(lambda opt: cls(opt, max_lr=TWO_GROUPS, **kwargs), TWO_GROUPS, total)
    else:
        anchor = run_torch(lambda opt: cls(opt, **kwargs), TWO_GROUPS, total)
    assert_parity(from_torch(name, PEAK, **kwargs), anchor, TWO_GROUPS, atol_ulps)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("CosineAnnealingLR", {"T_max": 3000}),
        ("CosineAnnealingLR", {"T_max": 1000, "eta_min": PEAK / 100}),
        ("CosineAnnealingWarmRestarts", {"T_0": 1000, "T_mult": 3, "eta_min": PEAK / 100}),
    ],
)
def test_torch_cosine_parity_up_to_t_max(name: str, kwargs: dict[str, Any]) -> None:
    """One group: torch's ``eta_min`` is an absolute floor shared by all groups (ours keeps ratios)."""
    torch = pytest.importorskip("torch")
    cls = getattr(torch.optim.lr_scheduler, name)
    total = kwargs.get("T_max", 4000) + 1
    anchor = run_torch(lambda opt: cls(opt, **kwargs), [PEAK], total)
    assert_parity(from_torch(name, PEAK, **kwargs), anchor, [PEAK])


def test_torch_cosine_rises_after_t_max_and_ours_holds() -> None:
    torch = pytest.importorskip("torch")
    anchor = run_torch(lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=1000), [PEAK], 2001)
    ours = from_torch("CosineAnnealingLR", PEAK, T_max=1000).bind(total_steps=2001)
    assert anchor[2000][0] == pytest.approx(PEAK, rel=1e-12)
    assert ours(2000) == 0.0


def test_torch_one_cycle_scalar_max_lr_flattens_groups() -> None:
    """Documented quirk: a scalar ``max_lr`` gives every group the same LR in torch."""
    torch = pytest.importorskip("torch")
    make = lambda opt: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=PEAK, total_steps=1000)  # noqa: E731
    anchor = run_torch(make, TWO_GROUPS, 1000)
    assert all(a == b for a, b in anchor)
    assert_parity(from_torch("OneCycleLR", PEAK, total_steps=1000), [[a] for a, _ in anchor], [PEAK])


# ---------------------------------------------------------------- HF


def run_hf(name: str, base_lrs: Sequence[float], warmup: int, total: int, **kwargs: Any) -> list[list[float]]:
    """LR per group applied to each update under ``transformers.get_scheduler``."""
    transformers = pytest.importorskip("transformers")
    make = lambda opt: transformers.get_scheduler(  # noqa: E731
        name, opt, num_warmup_steps=warmup, num_training_steps=total, scheduler_specific_kwargs=kwargs
    )
    return run_torch(make, base_lrs, total)


HF_CASES = [
    ("linear", 100, 3000, {}, 0),
    ("linear", 0, 1000, {}, 0),
    ("cosine", 150, 4000, {}, 0),
    ("cosine", 0, 1000, {}, 0),
    ("cosine_with_restarts", 100, 3100, {"num_cycles": 3}, 0),
    ("cosine_with_restarts", 50, 1050, {}, 0),
    ("polynomial", 100, 2000, {"lr_end": 1e-6, "power": 2.0}, 0),
    ("polynomial", 0, 1000, {}, 0),
    ("constant", 0, 1000, {}, 0),
    ("constant_with_warmup", 300, 1000, {}, 0),
    ("inverse_sqrt", 200, 3000, {}, 0),
    ("inverse_sqrt", 0, 2000, {"timescale": 500}, 0),
    ("cosine_with_min_lr", 100, 3000, {"min_lr_rate": 0.1}, 0),
    ("cosine_with_min_lr", 100, 3000, {"min_lr": PEAK / 20}, 0),
    ("cosine_warmup_with_min_lr", 100, 3000, {"min_lr_rate": 0.1}, 0),
    ("cosine_warmup_with_min_lr", 100, 3000, {"min_lr_rate": 0.0, "warmup_lr_rate": 0.01}, 0),
    ("cosine_warmup_with_min_lr", 1, 1000, {"min_lr": PEAK / 10}, 0),
    ("warmup_stable_decay", 100, 3000, {"num_decay_steps": 600}, 0),
    ("warmup_stable_decay", 100, 3000, {"num_decay_steps": 600, "decay_type": "linear"}, 0),
    (
        "warmup_stable_decay",
        100,
        3000,
        {"num_decay_steps": 900, "decay_type": "1-sqrt", "min_lr_ratio": 0.1},
        4,
    ),
    ("warmup_stable_decay", 0, 2000, {"num_decay_steps": 1000, "num_stable_steps": 500}, 0),
]


@pytest.mark.filterwarnings("ignore:Both num_training_steps and num_stable_steps:UserWarning")
@pytest.mark.parametrize(("name", "warmup", "total", "kwargs", "atol_ulps"), HF_CASES)
def test_hf_parity(name: str, warmup: int, total: int, kwargs: dict[str, Any], atol_ulps: int) -> None:
    anchor = run_hf(name, TWO_GROUPS, warmup, total, **kwargs)
    schedule = from_hf(name, PEAK, num_warmup_steps=warmup, num_training_steps=total, **kwargs)
    assert_parity(schedule, anchor, TWO_GROUPS, atol_ulps)


# ---------------------------------------------------------------- timm


def timm_scheduler_module(name: str) -> Any:
    """Import ``timm.scheduler.<name>`` without running ``timm/__init__.py`` (it needs torchvision)."""
    pytest.importorskip("torch")
    if "timm.scheduler" not in sys.modules:
        spec = importlib.util.find_spec("timm")
        if spec is None or not spec.submodule_search_locations:
            pytest.skip("timm is not installed (pip install timm)")
        root = next(iter(spec.submodule_search_locations))
        for package, path in (("timm", root), ("timm.scheduler", os.path.join(root, "scheduler"))):
            stub = types.ModuleType(package)
            stub.__path__ = [path]
            sys.modules[package] = stub
    try:
        return importlib.import_module(f"timm.scheduler.{name}")
    except ImportError as error:
        pytest.skip(f"timm's scheduler module {name} could not be loaded: {error}")


def run_timm(
    module: str, cls: str, base_lrs: Sequence[float], total: int, **kwargs: Any
) -> list[list[float]]:
    """LR per group that a timm scheduler stepped with ``step_update(t)`` applies to each update ``t``."""
    torch = pytest.importorskip("torch")
    scheduler_cls = getattr(timm_scheduler_module(module), cls)
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in base_lrs]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, base_lrs, strict=True)]
    optimizer = torch.optim.SGD(groups, lr=base_lrs[0])
    scheduler = scheduler_cls(optimizer, t_in_epochs=False, **kwargs)
    seen = []
    for t in range(total):
        scheduler.step_update(t)
        seen.append([group["lr"] for group in optimizer.param_groups])
    return seen


TIMM_CASES = [
    ("cosine_lr", "CosineLRScheduler", {"t_initial": 3000}, 3000, [PEAK]),
    (
        "cosine_lr",
        "CosineLRScheduler",
        {"t_initial": 2900, "warmup_t": 100, "warmup_prefix": True},
        3000,
        TWO_GROUPS,
    ),
    (
        "cosine_lr",
        "CosineLRScheduler",
        {"t_initial": 1000, "lr_min": 1e-6, "warmup_t": 50, "warmup_lr_init": 1e-6, "warmup_prefix": True},
        1200,
        [PEAK],
    ),
    (
        "cosine_lr",
        "CosineLRScheduler",
        {"t_initial": 500, "cycle_limit": 3, "cycle_decay": 0.5},
        2000,
        TWO_GROUPS,
    ),
    (
        "cosine_lr",
        "CosineLRScheduler",
        {"t_initial": 100, "cycle_mul": 2.0, "cycle_limit": 4},
        2000,
        TWO_GROUPS,
    ),
    ("cosine_lr", "CosineLRScheduler", {"t_initial": 300, "cycle_limit": 20, "lr_min": 1e-5}, 5000, [PEAK]),
    ("step_lr", "StepLRScheduler", {"decay_t": 300, "decay_rate": 0.5}, 3000, TWO_GROUPS),
    (
        "step_lr",
        "StepLRScheduler",
        {"decay_t": 1000, "decay_rate": 0.1, "warmup_t": 200, "warmup_lr_init": 1e-6},
        3000,
        [PEAK],
    ),
    (
        "multistep_lr",
        "MultiStepLRScheduler",
        {"decay_t": [300, 600, 600], "decay_rate": 0.1},
        1000,
        TWO_GROUPS,
    ),
    ("multistep_lr", "MultiStepLRScheduler", {"decay_t": [0, 1, 2000], "decay_rate": 0.5}, 3000, TWO_GROUPS),
    (
        "multistep_lr",
        "MultiStepLRScheduler",
        {"decay_t": [1000, 2000], "decay_rate": 0.1, "warmup_t": 100},
        3000,
        TWO_GROUPS,
    ),
]


@pytest.mark.parametrize(("module", "cls", "kwargs", "total", "base_lrs"), TIMM_CASES)
def test_timm_parity(
    module: str, cls: str, kwargs: dict[str, Any], total: int, base_lrs: list[float]
) -> None:
    """timm's ``lr_min``/``warmup_lr_init`` are absolute and shared by groups: those cases use one group."""
    anchor = run_timm(module, cls, base_lrs, total, **kwargs)
    assert_parity(from_timm(cls, PEAK, **kwargs), anchor, base_lrs)


def test_timm_multistep_decays_one_step_before_torch() -> None:
    anchor = run_timm("multistep_lr", "MultiStepLRScheduler", [1.0], 8, decay_t=[2, 5], decay_rate=0.1)
    ours = from_timm("MultiStepLRScheduler", 1.0, decay_t=[2, 5], decay_rate=0.1).bind(total_steps=8)
    torch_style = from_torch("MultiStepLR", 1.0, milestones=[2, 5], gamma=0.1).bind(total_steps=8)
    assert [round(a[0], 12) for a in anchor] == [round(ours(t), 12) for t in range(8)]
    assert [ours(t) < 1.0 for t in range(3)] == [False, True, True]
    assert [torch_style(t) < 1.0 for t in range(3)] == [False, False, True]


def test_timm_non_prefix_warmup_is_a_different_curve_and_refused() -> None:
    anchor = run_timm("cosine_lr", "CosineLRScheduler", [1.0], 11, t_initial=10, warmup_t=2)
    assert max(a[0] for a in anchor) < 0.91  # the peak is never reached (reference A.5)
    with pytest.raises(ValueError, match=r"only warmup_prefix=True warmups .*got warmup_prefix=False"):
        from_timm("CosineLRScheduler", 1.0, t_initial=10, warmup_t=2)


# ---------------------------------------------------------------- Keras


@pytest.fixture(scope="module")
def keras_float64() -> Any:
    """Keras 3 on the torch backend, computing schedules in float64 (its default floatx is float32)."""
    os.environ["KERAS_BACKEND"] = "torch"
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip(f"keras was already imported with the {keras.backend.backend()} backend")
    previous = keras.config.floatx()
    keras.config.set_floatx("float64")
    yield keras
    keras.config.set_floatx(previous)


KERAS_CASES = [
    ("CosineDecay", {"initial_learning_rate": PEAK, "decay_steps": 3000}, 3000),
    ("CosineDecay", {"initial_learning_rate": PEAK, "decay_steps": 2000, "alpha": 0.1}, 2500),
    (
        "CosineDecay",
        {"initial_learning_rate": 0.0, "decay_steps": 2800, "warmup_target": PEAK, "warmup_steps": 200},
        3000,
    ),
    (
        "CosineDecay",
        {"initial_learning_rate": PEAK / 100, "decay_steps": 900, "warmup_target": PEAK, "warmup_steps": 100},
        1500,
    ),
    ("ExponentialDecay", {"initial_learning_rate": PEAK, "decay_steps": 100, "decay_rate": 0.9}, 3000),
    (
        "ExponentialDecay",
        {"initial_learning_rate": PEAK, "decay_steps": 250, "decay_rate": 0.5, "staircase": True},
        3000,
    ),
    (
        "PiecewiseConstantDecay",
        {"boundaries": [0, 500, 1500], "values": [PEAK, PEAK / 2, PEAK / 10, 0.0]},
        2000,
    ),
    ("PolynomialDecay", {"initial_learning_rate": PEAK, "decay_steps": 2000, "power": 2.0}, 3000),
    ("PolynomialDecay", {"initial_learning_rate": PEAK, "decay_steps": 1000, "end_learning_rate": 0.0}, 1000),
    ("CosineDecayRestarts", {"initial_learning_rate": PEAK, "first_decay_steps": 100, "m_mul": 0.8}, 3000),
    (
        "CosineDecayRestarts",
        {"initial_learning_rate": PEAK, "first_decay_steps": 300, "t_mul": 1.0, "alpha": 0.1},
        3000,
    ),
]


@pytest.mark.parametrize(("name", "kwargs", "total"), KERAS_CASES)
def test_keras_parity(keras_float64: Any, name: str, kwargs: dict[str, Any], total: int) -> None:
    schedule_cls = getattr(keras_float64.optimizers.schedules, name)
    keras_schedule = schedule_cls(**kwargs)
    anchor = [[float(keras_schedule(t))] for t in range(total)]
    assert_parity(from_keras(name, **kwargs), anchor, [anchor[0][0] or PEAK])


# ---------------------------------------------------------------- golden values (reference appendix A, peak 1)


def _lrs(schedule: Schedule, total: int, steps: int | None = None) -> list[float]:
    bound = schedule.bind(total_steps=total)
    return [bound(t) for t in range(total if steps is None else steps)]


GOLDEN = [
    (
        "torch StepLR",
        from_torch("StepLR", 1.0, step_size=3, gamma=0.5),
        8,
        [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25],
    ),
    (
        "torch MultiStepLR dup",
        from_torch("MultiStepLR", 1.0, milestones=[2, 5, 5]),
        6,
        [1, 1, 0.1, 0.1, 0.1, 0.001],
    ),
    (
        "torch MultiStepLR zero",
        from_torch("MultiStepLR", 1.0, milestones=[0, 3, 3], gamma=0.5),
        4,
        [0.5] * 3 + [0.125],
    ),
    ("torch LinearLR", from_torch("LinearLR", 1.0), 7, [0.333, 0.467, 0.6, 0.733, 0.867, 1, 1]),
    ("torch ConstantLR", from_torch("ConstantLR", 1.0), 7, [0.333] * 5 + [1, 1]),
    ("torch Cosine", from_torch("CosineAnnealingLR", 1.0, T_max=4), 5, [1, 0.854, 0.5, 0.146, 0]),
    (
        "torch Cosine min",
        from_torch("CosineAnnealingLR", 1.0, T_max=4, eta_min=0.1),
        5,
        [1, 0.868, 0.55, 0.232, 0.1],
    ),
    (
        "torch Polynomial",
        from_torch("PolynomialLR", 1.0, total_iters=4, power=2),
        6,
        [1, 0.5625, 0.25, 0.0625, 0, 0],
    ),
    (
        "torch OneCycle cos",
        from_torch("OneCycleLR", 1.0, total_steps=10),
        10,
        [0.04, 0.52, 1, 0.950, 0.812, 0.611, 0.389, 0.188, 0.050, 0],
    ),
    (
        "torch OneCycle linear",
        from_torch("OneCycleLR", 1.0, total_steps=10, anneal_strategy="linear"),
        10,
        [0.04, 0.52, 1, 0.857, 0.714, 0.571, 0.429, 0.286, 0.143, 0],
    ),
    (
        "torch OneCycle 3-phase",
        from_torch("OneCycleLR", 1.0, total_steps=10, anneal_strategy="linear", three_phase=True),
        10,
        [0.04, 0.52, 1, 0.52, 0.04, 0.032, 0.024, 0.016, 0.008, 0],
    ),
    ("torch OneCycle T=3", from_torch("OneCycleLR", 1.0, total_steps=3), 3, [0.994, 0.463, 0]),
    ("torch OneCycle T=4", from_torch("OneCycleLR", 1.0, total_steps=4), 4, [0.04, 0.812, 0.283, 0]),
    (
        "torch WarmRestarts",
        from_torch("CosineAnnealingWarmRestarts", 1.0, T_0=3, T_mult=2),
        12,
        [1, 0.75, 0.25, 1, 0.933, 0.75, 0.5, 0.25, 0.067, 1, 0.983, 0.933],
    ),
    (
        "hf cosine",
        from_hf("cosine", 1.0, 2, 10),
        11,
        [0, 0.5, 1, 0.9619, 0.8536, 0.6913, 0.5, 0.3087, 0.1464, 0.0381, 0],
    ),
    (
        "hf linear",
        from_hf("linear", 1.0, 2, 10),
        12,
        [0, 0.5, 1, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0, 0],
    ),
    (
        "hf cosine_with_min_lr",
        from_hf("cosine_with_min_lr", 1.0, 2, 10, min_lr_rate=0.1),
        11,
        [0, 0.5, 1, 0.9657, 0.8682, 0.7222, 0.55, 0.3778, 0.2318, 0.1343, 0.1],
    ),
    (
        "hf cosine_warmup_with_min_lr",
        from_hf("cosine_warmup_with_min_lr", 1.0, 2, 10, min_lr_rate=0.1),
        10,
        [0.5, 1, 0.9657, 0.8682, 0.7222, 0.55, 0.3778, 0.2318, 0.1343, 0.1],
    ),
    (
        "hf hard restarts",
        from_hf("cosine_with_restarts", 1.0, 2, 10, num_cycles=2),
        12,
        [0, 0.5, 1, 0.854, 0.5, 0.146, 1, 0.854, 0.5, 0.146, 0, 0],
    ),
    (
        "hf polynomial",
        from_hf("polynomial", 1.0, 2, 10, lr_end=0.1, power=2),
        12,
        [0, 0.5, 1, 0.789, 0.606, 0.452, 0.325, 0.227, 0.156, 0.114, 0.1, 0.1],
    ),
    ("hf inverse_sqrt", from_hf("inverse_sqrt", 1.0, 2), 8, [0, 0.5, 1, 0.816, 0.707, 0.632, 0.577, 0.535]),
    (
        "hf wsd linear",
        from_hf("warmup_stable_decay", 1.0, 2, 10, num_decay_steps=4, decay_type="linear"),
        12,
        [0, 0.5, 1, 1, 1, 1, 1, 0.75, 0.5, 0.25, 0, 0],
    ),
    (
        "hf wsd 1-sqrt",
        from_hf("warmup_stable_decay", 1.0, 2, 10, num_decay_steps=4, decay_type="1-sqrt", min_lr_ratio=0.1),
        11,
        [0.1, 0.55, 1, 1, 1, 1, 1, 0.55, 0.364, 0.221, 0.1],
    ),
    (
        "timm cosine prefix",
        from_timm("CosineLRScheduler", 1.0, t_initial=8, warmup_t=2, warmup_prefix=True),
        11,
        [0, 0.5, 1, 0.9619, 0.8536, 0.6913, 0.5, 0.3087, 0.1464, 0.0381, 0],
    ),
    (
        "timm cycles decay",
        from_timm("CosineLRScheduler", 1.0, t_initial=4, cycle_limit=3, cycle_decay=0.5),
        14,
        [1, 0.854, 0.5, 0.146, 0.5, 0.427, 0.25, 0.073, 0.25, 0.213, 0.125, 0.037, 0, 0],
    ),
    (
        "timm cycles mul",
        from_timm("CosineLRScheduler", 1.0, t_initial=2, cycle_mul=2, cycle_limit=3),
        16,
        [1, 0.5, 1, 0.854, 0.5, 0.146, 1, 0.962, 0.854, 0.691, 0.5, 0.309, 0.146, 0.038, 0, 0],
    ),
    (
        "timm step prefix",
        from_timm("StepLRScheduler", 1.0, decay_t=3, decay_rate=0.5, warmup_t=2),
        9,
        [0, 0.5, 1, 1, 1, 0.5, 0.5, 0.5, 0.25],
    ),
    (
        "timm multistep",
        from_timm("MultiStepLRScheduler", 1.0, decay_t=[2, 5], decay_rate=0.1),
        5,
        [1, 0.1, 0.1, 0.1, 0.01],
    ),
    (
        "keras piecewise",
        from_keras("PiecewiseConstantDecay", boundaries=[2, 5], values=[1.0, 0.1, 0.01]),
        7,
        [1, 1, 1, 0.1, 0.1, 0.1, 0.01],
    ),
    (
        "keras exponential staircase",
        from_keras(
            "ExponentialDecay", initial_learning_rate=1.0, decay_steps=3, decay_rate=0.5, staircase=True
        ),
        7,
        [1, 1, 1, 0.5, 0.5, 0.5, 0.25],
    ),
    (
        "keras cosine warmup",
        from_keras(
            "CosineDecay", initial_learning_rate=0.0, decay_steps=8, warmup_target=1.0, warmup_steps=2
        ),
        12,
        [0, 0.5, 1, 0.9619, 0.8536, 0.6913, 0.5, 0.3087, 0.1464, 0.0381, 0, 0],
    ),
    (
        "keras restarts",
        from_keras("CosineDecayRestarts", initial_learning_rate=1.0, first_decay_steps=2, m_mul=0.5),
        15,
        # The reference prints .241 at t=7; 0.25 * cos½(1/8) = 0.24048, so it is 0.2405 here.
        [1, 0.5, 0.5, 0.427, 0.25, 0.073, 0.25, 0.2405, 0.213, 0.173, 0.125, 0.077, 0.037, 0.0095, 0.125],
    ),
]


@pytest.mark.parametrize(("label", "schedule", "total", "expected"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden_values(label: str, schedule: Schedule, total: int, expected: list[float]) -> None:
    """The reference's printed anchor outputs (appendix A), rounded as printed there."""
    decimals = [len(f"{value:g}".partition(".")[2]) for value in expected]
    got = _lrs(schedule, total, len(expected))
    assert [round(v, d) for v, d in zip(got, decimals, strict=True)] == pytest.approx(expected, abs=1e-12)


# ---------------------------------------------------------------- bad arguments


BAD = [
    (
        from_torch,
        ("CosineLR", 1.0),
        {},
        ValueError,
        r"from_torch: name must be one of StepLR, MultiStepLR.*got name='CosineLR'",
    ),
    (
        from_torch,
        ("StepLR", 1.0),
        {"step": 3},
        TypeError,
        r"from_torch\('StepLR'\): arguments are step_size, gamma; got step=3",
    ),
    (from_torch, ("StepLR", 1.0), {}, TypeError, r"step_size is required; got step_size=<missing>"),
    (
        from_torch,
        ("StepLR", 1.0),
        {"step_size": 3, "gamma": 2.0},
        ValueError,
        r"gamma must be a finite number in \(0, 1\]; got gamma=2.0",
    ),
    (
        from_torch,
        ("MultiStepLR", 1.0),
        {"milestones": [-1]},
        ValueError,
        r"milestones must be a whole number of steps >= 0; got milestones=-1",
    ),
    (
        from_torch,
        ("CosineAnnealingLR", 1.0),
        {"T_max": 10, "eta_min": 2.0},
        ValueError,
        r"eta_min must be a finite number in \[0, 1\]; got eta_min=2.0",
    ),
    (
        from_torch,
        ("CosineAnnealingWarmRestarts", 1.0),
        {"T_0": 10, "T_mult": 1.5},
        ValueError,
        r"T_mult must be a whole number",
    ),
    (
        from_torch,
        ("OneCycleLR", 1.0),
        {},
        ValueError,
        r"give total_steps, or epochs and steps_per_epoch; got total_steps=None",
    ),
    (
        from_torch,
        ("LinearLR", 1.0),
        {"total_iters": 0},
        ValueError,
        r"total_iters must be a whole number of steps >= 1; got total_iters=0",
    ),
    (
        from_torch,
        ("LinearLR", 1.0),
        {"start_factor": 0.0},
        ValueError,
        r"start_factor must be a finite number in \(0, 1\]; got start_factor=0.0",
    ),
    (
        from_torch,
        ("ConstantLR", 1.0),
        {"factor": 0.0},
        ValueError,
        r"factor must be a finite number in \(0, 1\]; got factor=0.0",
    ),
    (
        from_hf,
        ("cosine_annealing", 1.0),
        {},
        ValueError,
        r"from_hf: name must be one of linear, cosine,.*got name='cosine_annealing'",
    ),
    (from_hf, ("cosine", 1.0, 10), {}, ValueError, r"needs num_training_steps; got num_training_steps=None"),
    (
        from_hf,
        ("cosine", 1.0, 10, 100),
        {"num_cycles": 1.5},
        ValueError,
        r"only one half-cosine.*got num_cycles=1.5",
    ),
    (
        from_hf,
        ("linear", 1.0, 100, 100),
        {},
        ValueError,
        r"num_training_steps must be a whole number of steps >= 101; got num_training_steps=100",
    ),
    (
        from_hf,
        ("cosine_with_restarts", 1.0, 10, 100),
        {"num_cycles": 4},
        ValueError,
        r"= 90 must be a multiple of num_cycles; got num_cycles=4",
    ),
    (
        from_hf,
        ("cosine_with_min_lr", 1.0, 10, 100),
        {},
        ValueError,
        r"exactly one of min_lr or min_lr_rate; got min_lr=None",
    ),
    (
        from_hf,
        ("cosine_warmup_with_min_lr", 1.0, 0, 100),
        {"min_lr_rate": 0.1},
        ValueError,
        r"num_warmup_steps must be a whole number of steps >= 1; got num_warmup_steps=0",
    ),
    (from_hf, ("warmup_stable_decay", 1.0, 10, 100), {}, TypeError, r"num_decay_steps is required"),
    (
        from_hf,
        ("warmup_stable_decay", 1.0, 10, 100),
        {"num_decay_steps": 10, "warmup_type": "cosine"},
        ValueError,
        r"warmup_type must be 'linear'; got warmup_type='cosine'",
    ),
    (
        from_hf,
        ("polynomial", 1.0, 10, 100),
        {"lr_end": 2.0},
        ValueError,
        r"lr_end must be a finite number in \[0, 1\]; got lr_end=2.0",
    ),
    (
        from_timm,
        ("cosine", 1.0),
        {},
        ValueError,
        r"from_timm: name must be one of CosineLRScheduler, StepLRScheduler, MultiStepLRScheduler",
    ),
    (
        from_timm,
        ("CosineLRScheduler", 1.0),
        {"t_initial": 10, "k_decay": 2.0},
        ValueError,
        r"got k_decay=2.0",
    ),
    (
        from_timm,
        ("CosineLRScheduler", 1.0),
        {"t_initial": 3, "cycle_mul": 1.5, "cycle_limit": 2},
        ValueError,
        r"must end on a whole step; got cycle_mul=1.5",
    ),
    (
        from_timm,
        ("MultiStepLRScheduler", 1.0),
        {"decay_t": [5, 2]},
        ValueError,
        r"decay_t must be sorted.*got decay_t=\[5, 2\]",
    ),
    (
        from_timm,
        ("StepLRScheduler", 1.0),
        {"decay_t": 2.5},
        ValueError,
        r"decay_t must be a whole number of steps >= 1; got decay_t=2.5",
    ),
    (
        from_keras,
        ("InverseTimeDecay",),
        {},
        ValueError,
        r"from_keras: name must be one of CosineDecay, .*got name='InverseTimeDecay'",
    ),
    (
        from_keras,
        ("PolynomialDecay",),
        {"initial_learning_rate": 1.0, "decay_steps": 10, "cycle": True},
        ValueError,
        r"cycle=True is not reproduced",
    ),
    (
        from_keras,
        ("CosineDecayRestarts",),
        {"initial_learning_rate": 1.0, "first_decay_steps": 10, "alpha": 0.1, "m_mul": 0.5},
        ValueError,
        r"got alpha=0.1, m_mul=0.5",
    ),
    (
        from_keras,
        ("ExponentialDecay",),
        {"initial_learning_rate": 1.0, "decay_steps": 10, "decay_rate": 1.5},
        ValueError,
        r"got decay_rate=1.5",
    ),
]


@pytest.mark.parametrize(("preset", "args", "kwargs", "error", "match"), BAD)
def test_bad_arguments_raise_clearly(
    preset: Callable[..., Schedule],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    error: type[Exception],
    match: str,
) -> None:
    with pytest.raises(error, match=match):
        preset(*args, **kwargs)


def test_piecewise_and_hold_after_validate() -> None:
    from lr_callbacks.schedules.hold import HoldAfter
    from lr_callbacks.schedules.piecewise import Piecewise

    with pytest.raises(
        ValueError, match=r"piecewise: give one more value than boundaries; got values=\[1.0\]"
    ):
        Piecewise((2,), (1.0,))
    with pytest.raises(
        ValueError, match=r"piecewise: boundaries must be strictly increasing.*got boundaries=\[5, 5\]"
    ):
        Piecewise((5, 5), (1.0, 0.5, 0.1)).bind()
    with pytest.raises(TypeError, match=r"hold_after: schedule must be a schedule spec; got schedule=0.1"):
        HoldAfter(0.1, steps=3)  # type: ignore[arg-type]
