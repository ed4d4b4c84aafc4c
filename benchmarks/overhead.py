"""Per-update host overhead of ``LRCallback`` beside each framework's bare loop and today's tools.

Every variant trains the same tiny model (so framework and callback host work dominate) on
CPU. Variants of one framework run interleaved, several times, in one process; the table
reports the median time per update and the time each variant adds to that framework's bare
run, in microseconds: the median of the per-repeat differences (each variant runs right after
the bare one, so that a slow minute on a shared machine hits both) with its ~95% interval.
Speed is reported here, never asserted in a test.

    python benchmarks/overhead.py [--steps 400] [--repeats 5] [--only torch,lightning,...]
    python benchmarks/overhead.py --inside --steps 4000   # LRCallback's own calls, timed in the loop
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")
warnings.filterwarnings("ignore")
logging.getLogger("lightning").setLevel(logging.ERROR)
logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

import torch  # noqa: E402

torch.set_num_threads(1)
SPEC = "warmup_cosine(peak_lr=0.01, warmup=0.05)"
WIDTH, BATCH = 32, 32
Runner = Callable[[int], float]


def _data(steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(steps * BATCH, WIDTH, generator=g)
    return x, x[:, :1].clone()


def _mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(WIDTH, WIDTH), torch.nn.ReLU(), torch.nn.Linear(WIDTH, 1))


def torch_interleaved(steps: int, repeats: int, block: int = 50) -> dict[str, list[float]]:
    """The plain loop's variants, interleaved every ``block`` updates in one process.

    Each variant trains its own copy of the model on the same batches; the variants take turns
    (the first of each turn rotates), so a slow second on a shared machine hits all of them.
    Each repeat's figure is the variant's total time over ``steps`` updates, everything in.
    """
    from lr_callbacks.integrations.torch import LRCallback

    names = ("bare loop", "loss.item() per step", "LRCallback")
    x, y = _data(steps)
    times: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats + 1):  # repeat 0 warms up (imports, first allocations)
        loops = {}
        for name in names:
            model = _mlp()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
            cb = LRCallback(SPEC, optimizer, total_steps=steps) if name == "LRCallback" else None
            loops[name] = (model, optimizer, cb)
        spent, seen = dict.fromkeys(names, 0.0), []
        for turn, first in enumerate(range(0, steps, block)):
            for name in names[turn % 3 :] + names[: turn % 3]:
                model, optimizer, cb = loops[name]
                start = time.perf_counter()
                for t in range(first, min(first + block, steps)):
                    rows = slice(t * BATCH, (t + 1) * BATCH)
                    loss = torch.nn.functional.mse_loss(model(x[rows]), y[rows])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    if cb is not None:
                        cb.step(loss)
                    elif name == "loss.item() per step":
                        seen.append(loss.item())
                spent[name] += time.perf_counter() - start
        loops["LRCallback"][2].close()  # type: ignore[union-attr]
        if repeat:
            for name in names:
                times[name].append(spent[name] / steps)
    return times


def _lightning_fit(steps: int, callbacks: list[object], logger: object = False, log: bool = False) -> None:
    """A Lightning fit of the tiny MLP for ``steps`` updates (``log``: self.log the loss every step)."""
    import lightning.pytorch as pl

    class Model(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = _mlp()

        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
            loss = torch.nn.functional.mse_loss(self.net(batch[0]), batch[1])
            if log:
                self.log("train_loss", loss, prog_bar=True)
            return loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    x, y = _data(steps)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=BATCH)
    trainer = pl.Trainer(max_steps=steps, logger=logger, log_every_n_steps=1, callbacks=callbacks,
                         enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                         accelerator="cpu")  # fmt: skip
    trainer.fit(Model(), loader)


def lightning_variants() -> dict[str, Runner]:
    import lightning.pytorch as pl

    from lr_callbacks.integrations.lightning import LRCallback

    class Timer(pl.Callback):
        def on_train_batch_start(self, trainer: pl.Trainer, *args: object) -> None:
            if trainer.global_step == 1:  # time from the second update: setup excluded
                self.start = time.perf_counter()

        def on_train_end(self, trainer: pl.Trainer, *args: object) -> None:
            self.elapsed = time.perf_counter() - self.start

    def run(variant: str, steps: int) -> float:
        timer, callbacks, logger = Timer(), [], False
        with tempfile.TemporaryDirectory() as root:
            if variant == "LearningRateMonitor + TensorBoard every step":
                callbacks = [pl.callbacks.LearningRateMonitor(logging_interval="step")]
                logger = pl.loggers.TensorBoardLogger(root)
            if variant == "LRCallback":
                callbacks = [LRCallback(SPEC)]
            _lightning_fit(
                steps, [timer, *callbacks], logger, log=variant not in ("bare Trainer", "LRCallback")
            )
        return timer.elapsed * steps / (steps - 1)

    variants = ("bare Trainer", "LearningRateMonitor + TensorBoard every step", "LRCallback")
    return {v: (lambda steps, v=v: run(v, steps)) for v in variants}


def _timed(hook: Callable[..., None], calls: list[int]) -> Callable[..., None]:
    def timed(*args: object) -> None:
        start = time.perf_counter_ns()
        hook(*args)
        calls.append(time.perf_counter_ns() - start)

    return timed


def inside_timings(steps: int) -> dict[str, list[int]]:
    """Nanoseconds of each call of LRCallback's per-update code, timed inside the training loop.

    Finer than the side-by-side table (no run-to-run drift), but blind to what a call costs the
    framework around it (a Lightning callback's hook dispatch, caches it leaves cold).
    """
    from lr_callbacks.integrations.lightning import LRCallback as LightningCallback
    from lr_callbacks.integrations.torch import LRCallback

    spent: dict[str, list[int]] = {"torch: cb.step": []}
    x, y = _data(steps)
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    cb = LRCallback(SPEC, optimizer, total_steps=steps)
    for t in range(steps):
        loss = torch.nn.functional.mse_loss(
            model(x[t * BATCH : (t + 1) * BATCH]), y[t * BATCH : (t + 1) * BATCH]
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        start = time.perf_counter_ns()
        cb.step(loss)
        spent["torch: cb.step"].append(time.perf_counter_ns() - start)
    callback = LightningCallback(SPEC)
    for name in ("on_train_batch_start", "on_train_batch_end"):
        spent[f"lightning: {name}"] = calls = []
        setattr(callback, name, _timed(getattr(callback, name), calls))
    _lightning_fit(steps, [callback])
    return spent


def keras_variants() -> dict[str, Runner]:
    import keras
    import numpy as np

    from lr_callbacks.integrations.keras import LRCallback

    class Timer(keras.callbacks.Callback):  # type: ignore[misc]
        def on_train_batch_begin(self, batch: int, logs: object = None) -> None:
            if batch == 1:
                self.start = time.perf_counter()

        def on_train_end(self, logs: object = None) -> None:
            self.elapsed = time.perf_counter() - self.start

    class BatchEnd(keras.callbacks.Callback):  # type: ignore[misc]
        """Does nothing, but a batch-end hook makes Keras call its callbacks in the loop's thread."""

        def on_train_batch_end(self, batch: int, logs: object = None) -> None:
            pass

    def run(variant: str, steps: int) -> float:
        x, y = (t.numpy() for t in _data(steps))
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((WIDTH,)), keras.layers.Dense(WIDTH, activation="relu"), keras.layers.Dense(1)]
        )
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
        timer = Timer()
        extra = {"LRCallback": [LRCallback(SPEC)], "bare fit": []}.get(variant, [BatchEnd()])
        callbacks = [timer, *extra]
        model.fit(
            np.asarray(x),
            np.asarray(y),
            batch_size=BATCH,
            epochs=1,
            verbose=0,
            shuffle=False,
            callbacks=callbacks,
        )
        return timer.elapsed * steps / (steps - 1)

    # The base: with no batch-end hook among the callbacks Keras hands them to a thread pool,
    # which on this 2-core machine costs more than calling them in place; every callback with
    # a batch-end hook (LRCallback, and most users' callbacks) turns that off.
    variants = ("fit + a no-op batch-end callback", "bare fit", "LRCallback")
    return {v: (lambda steps, v=v: run(v, steps)) for v in variants}


def transformers_variants() -> dict[str, Runner]:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from lr_callbacks.integrations.transformers import LRCallback

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = _mlp()

        def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"loss": torch.nn.functional.mse_loss(self.net(x), labels)}

    class Timer(TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, args: object, state: object, control: object, **kwargs: object) -> None:
            if state.global_step == 1:  # type: ignore[attr-defined]
                self.start = time.perf_counter()

        def on_train_end(self, args: object, state: object, control: object, **kwargs: object) -> None:
            self.elapsed = time.perf_counter() - self.start

    def run(variant: str, steps: int) -> float:
        x, y = _data(steps)
        rows = [{"x": x[i], "labels": y[i]} for i in range(len(x))]
        timer = Timer()
        with tempfile.TemporaryDirectory() as root:
            args = TrainingArguments(output_dir=root, max_steps=steps, per_device_train_batch_size=BATCH,
                                     learning_rate=0.01, use_cpu=True, report_to=[], save_strategy="no",
                                     disable_tqdm=True, dataloader_num_workers=0)  # fmt: skip
            callbacks = [timer, LRCallback(SPEC)] if variant == "LRCallback" else [timer]
            Trainer(model=Net(), args=args, train_dataset=rows, callbacks=callbacks).train()
        return timer.elapsed * steps / (steps - 1)

    return {v: (lambda steps, v=v: run(v, steps)) for v in ("Trainer defaults", "LRCallback")}


FRAMEWORKS: dict[str, Callable[[int, int], dict[str, list[float]]]] = {
    "torch": torch_interleaved,
    "lightning": lambda steps, repeats: measure(lightning_variants(), steps, repeats),
    "keras": lambda steps, repeats: measure(keras_variants(), steps, repeats),
    "transformers": lambda steps, repeats: measure(transformers_variants(), steps, repeats),
}


def measure(variants: dict[str, Runner], steps: int, repeats: int) -> dict[str, list[float]]:
    """Seconds per update of each variant in each repeat, the variants interleaved."""
    for run in variants.values():  # warm-up: imports, first allocations
        run(max(steps // 4, 20))
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, run in variants.items():
            times[name].append(run(steps) / steps)
    return times


def added(base: list[float], variant: list[float]) -> tuple[float, float, float]:
    """Median of the paired differences (same repeat, run back to back) and its ~95% interval, in µs.

    The interval is distribution-free: order statistics k and n+1-k of the n differences with
    k = floor(n/2 - 0.98 sqrt(n)) (the normal approximation to the sign test).
    """
    diffs = sorted((v - b) * 1e6 for b, v in zip(base, variant, strict=True))
    n = len(diffs)
    k = max(int(n / 2 - 0.98 * n**0.5), 1)
    return statistics.median(diffs), diffs[k - 1], diffs[n - k]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", default=",".join(FRAMEWORKS), help="comma-separated frameworks")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--inside", action="store_true", help="time LRCallback's calls inside the loop instead"
    )
    args = parser.parse_args()
    if args.inside:
        print(f"torch {torch.__version__}, {args.steps} updates, the first 10% left out\n")
        print("| LRCallback call | µs per update, median | mean |\n|---|---:|---:|")
        for name, calls in inside_timings(args.steps).items():
            kept = calls[len(calls) // 10 :]
            print(f"| {name} | {statistics.median(kept) / 1e3:.1f} | {statistics.fmean(kept) / 1e3:.1f} |")
        return
    rows, figures = [], {}
    for framework in args.only.split(","):
        times = FRAMEWORKS[framework](args.steps, args.repeats)
        base = next(iter(times.values()))
        figures[framework] = times
        for name, seconds in times.items():
            median, low, high = added(base, seconds)
            extra = "-" if seconds is base else f"{median:+.0f} ({low:+.0f} .. {high:+.0f})"
            rows.append(f"| {framework} | {name} | {statistics.median(seconds) * 1e3:.3f} | {extra} |")
    print(f"torch {torch.__version__}, {args.steps} updates x {args.repeats} repeats, 1 thread\n")
    print(
        "| framework | variant | ms / update, median | added µs / update, median (~95% interval) |"
        "\n|---|---|---:|---:|"
    )
    print("\n".join(rows))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
