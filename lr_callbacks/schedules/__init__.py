"""Schedules: pure, closed-form learning-rate curves, composable and serialisable.

Every built-in is a frozen spec; ``bind(total_steps, steps_per_epoch)`` resolves its
lengths once and returns the ``t -> lr`` function. ``parse`` reads spec strings,
``from_dict`` reads dicts; ``lint`` warns about foot-guns.
"""

from .base import Schedule
from .bound import BoundSchedule
from .compose import Sequence
from .families import Constant, Cosine, CosineRestarts, StepDecay
from .hold import HoldAfter
from .legs import Exponential, InverseSqrt, Linear, Polynomial, Sweep
from .lengths import Horizon, Length
from .lints import Lint, lint
from .one_cycle import OneCycle, OneCycleMomentum
from .phases import Phase, ScheduleEvent
from .piecewise import Piecewise
from .presets import from_hf, from_keras, from_timm, from_torch
from .spec import format_spec, from_dict, parse, registry
from .warmup import Warmup, WarmupCosine, WarmupStableDecay

__all__ = [
    "BoundSchedule",
    "Constant",
    "Cosine",
    "CosineRestarts",
    "Exponential",
    "HoldAfter",
    "Horizon",
    "InverseSqrt",
    "Length",
    "Linear",
    "Lint",
    "OneCycle",
    "OneCycleMomentum",
    "Phase",
    "Piecewise",
    "Polynomial",
    "Schedule",
    "ScheduleEvent",
    "Sequence",
    "StepDecay",
    "Sweep",
    "Warmup",
    "WarmupCosine",
    "WarmupStableDecay",
    "format_spec",
    "from_dict",
    "from_hf",
    "from_keras",
    "from_timm",
    "from_torch",
    "lint",
    "parse",
    "registry",
]
