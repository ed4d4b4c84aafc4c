"""Weights & Biases: a `lr_callbacks.dashboards.WandbSink` on your run, or on a new one.

Where a run exists (``wandb.init`` was called, Lightning's ``WandbLogger``, HF's W&B
callback), the sink logs into it; otherwise it starts one with your ``wandb.init``
arguments and finishes it at the end of training::

    from lr_callbacks.integrations.wandb import wandb_sink
    callback = LRCallback(spec, sinks=[wandb_sink(project="lr", mode="offline")])
"""

from __future__ import annotations

from typing import Any

try:
    import wandb
except ImportError:  # pragma: no cover - exercised only without wandb
    raise ImportError(
        "lr_callbacks.integrations.wandb needs wandb: pip install 'lr-callbacks[wandb]'"
    ) from None

from ..dashboards import WandbSink


def wandb_sink(
    run: Any = None, *, step_metric: str | None = None, wait_duration: float = 300.0, **init_kwargs: Any
) -> WandbSink:
    """A `WandbSink` on ``run``, else on the active ``wandb.run``, else on ``wandb.init(**init_kwargs)``.

    Args:
        run: the run to log into.
        step_metric: the step key to share (e.g. ``"trainer/global_step"``); default ``"lr_callbacks/step"``.
        wait_duration: seconds W&B waits before notifying again about the same rule.
        init_kwargs: ``wandb.init`` arguments when a run is started (``project=``, ``mode="offline"``...).
    """
    owned = run is None and wandb.run is None
    if run is None:
        run = wandb.run if wandb.run is not None else wandb.init(**init_kwargs)
    return WandbSink(run, step_metric, wait_duration=wait_duration, table=wandb.Table, finish_run=owned)
