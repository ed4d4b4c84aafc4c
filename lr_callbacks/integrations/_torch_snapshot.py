"""What a range test touches in a torch model, saved to CPU and put back bit for bit.

Private helper of the torch-based adapters (torch, Lightning, transformers): their ``find_lr`` runs a
sweep that trains the model for real, and must leave it exactly as it was. Not an integration
of its own (it needs only torch, which every one of them requires).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

__all__ = ["TorchSnapshot"]


class TorchSnapshot:
    """CPU copies of a model's tensors, optimizers' states and the RNG states; ``restore()`` puts them back.

    Saved: every parameter and buffer (value, dtype, device), their gradients, each module's
    train/eval mode, each optimizer's state and param groups (LRs included), the RNG states of
    ``random``, numpy, torch CPU and every CUDA device. ``restore()`` copies the values back into
    the same tensor objects (so optimizers and other references stay valid), moving a tensor
    back to its device and dtype when a framework moved it (e.g. a ``Trainer`` teardown's
    ``model.cpu()``).

    Args:
        model: the ``torch.nn.Module`` to save.
        optimizers: the optimizers whose state to save (their params need not be the model's).
    """

    def __init__(self, model: torch.nn.Module, optimizers: Iterable[torch.optim.Optimizer] = ()) -> None:
        self.modules = [(module, module.training) for module in model.modules()]
        self.tensors = list(dict.fromkeys([*model.parameters(), *model.buffers()]))
        self.values = [(t.detach().to("cpu", copy=True), t.device, t.dtype) for t in self.tensors]
        self.grads = [_cpu(t.grad) for t in self.tensors]
        self.optimizers = [(opt, _optimizer_state(opt)) for opt in optimizers]
        self.rng = (random.getstate(), np.random.get_state(), torch.get_rng_state())
        self.cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None

    def restore(self) -> None:
        """Put everything back (call it in ``finally``)."""
        with torch.no_grad():
            for tensor, (value, device, dtype), grad in zip(
                self.tensors, self.values, self.grads, strict=True
            ):
                if tensor.device != device or tensor.dtype != dtype:
                    tensor.data = value.to(device=device, dtype=dtype)
                else:
                    tensor.copy_(value)
                if isinstance(tensor, torch.nn.Parameter) or grad is not None:
                    tensor.grad = None if grad is None else grad.to(device)
        for module, training in self.modules:
            module.training = training
        for optimizer, (state, groups) in self.optimizers:
            _load_optimizer_state(optimizer, state, groups)
        random.setstate(self.rng[0])
        np.random.set_state(self.rng[1])
        torch.set_rng_state(self.rng[2])
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)


_State = dict[Any, dict[str, tuple[Any, torch.device | None]]]


def _cpu(value: torch.Tensor | None) -> torch.Tensor | None:
    return None if value is None else value.detach().to("cpu", copy=True)


def _optimizer_state(optimizer: torch.optim.Optimizer) -> tuple[_State, list[dict[str, Any]]]:
    # Tensors go to the CPU with their device noted, so that restore() puts them back where they were.
    state: _State = {
        param: {
            key: (_cpu(value), value.device)
            if isinstance(value, torch.Tensor)
            else (copy.deepcopy(value), None)
            for key, value in entries.items()
        }
        for param, entries in optimizer.state.items()
    }
    groups = [{k: copy.deepcopy(v) for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    return state, groups


def _load_optimizer_state(
    optimizer: torch.optim.Optimizer, state: _State, groups: list[dict[str, Any]]
) -> None:
    optimizer.state.clear()
    for param, entries in state.items():
        optimizer.state[param] = {
            key: value.to(device) if device is not None else copy.deepcopy(value)
            for key, (value, device) in entries.items()
        }
    for group, saved in zip(optimizer.param_groups, groups, strict=True):
        for key in [k for k in group if k != "params" and k not in saved]:
            del group[key]
        group.update(copy.deepcopy(dict(saved)))
