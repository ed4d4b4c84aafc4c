"""TensorBoard: open a ``SummaryWriter`` for `lr_callbacks.dashboards.TensorBoardSink` when you have none.

Where the framework already has a writer, hand that one to ``TensorBoardSink`` instead
(the Lightning adapter does it with its ``TensorBoardLogger``). Uses torch's
``SummaryWriter``, or tensorboardX's when torch is not installed::

    from lr_callbacks.integrations.tensorboard import tensorboard_sink
    callback = LRCallback(spec, sinks=[tensorboard_sink("runs/exp1")])

Then ``tensorboard --logdir runs``: the Custom Scalars tab shows LR and loss together,
the Text tab the alerts.
"""

from __future__ import annotations

import os
from typing import Any

try:
    import tensorboard  # noqa: F401  (the event-file writer both SummaryWriters use)
except ImportError:  # pragma: no cover - exercised only without tensorboard
    raise ImportError(
        "lr_callbacks.integrations.tensorboard needs TensorBoard: pip install 'lr-callbacks[tensorboard]'"
    ) from None
try:
    from torch.utils.tensorboard import SummaryWriter
except ImportError:  # pragma: no cover - exercised only without torch
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise ImportError(
            "lr_callbacks.integrations.tensorboard needs torch or tensorboardX for its SummaryWriter: "
            "pip install 'lr-callbacks[tensorboard,torch]'"
        ) from None

from ..dashboards import TensorBoardSink


def open_writer(log_dir: str | os.PathLike[str], **kwargs: Any) -> Any:
    """A ``SummaryWriter`` on ``log_dir`` (created if missing); ``kwargs`` go to the writer.

    Raises:
        OSError: ``log_dir`` cannot be created or written.
    """
    return SummaryWriter(log_dir=os.fspath(log_dir), **kwargs)


def tensorboard_sink(log_dir: str | os.PathLike[str], **kwargs: Any) -> TensorBoardSink:
    """A `TensorBoardSink` that owns a new writer on ``log_dir`` and closes it at the end of training."""
    return TensorBoardSink(open_writer(log_dir, **kwargs), close_writer=True)
