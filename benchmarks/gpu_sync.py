"""Host syncs and step time of ``LRCallback`` on a GPU, in every framework.

For each adapter (plain torch, Lightning, HF Trainer, Keras on torch) this trains the same
model on CUDA without and with ``LRCallback`` and reports:

* synchronising calls over 10 steady-state steps, counted with
  ``torch.cuda.set_sync_debug_mode("warn")``, each with the Python line that made it (and the
  innermost ``lr_callbacks`` line on the stack, if any): the framework's own syncs are in both
  columns, ours are the difference. The plain loop, where nothing else syncs, also runs 5 steps
  under ``set_sync_debug_mode("error")``;
* ms per step (median of ``--repeats`` interleaved runs) and the overhead in percent.

Keras gets a third run, ``batch_hook``: a no-op batch-end callback. Any such callback (Keras's
own progress bar at ``verbose=1`` too) makes Keras convert its batch logs to floats inline, one
sync per step, where a ``fit`` with none converts them in a background thread.

Target (issue 4): zero syncs per step added, at most 1% step time added (GPT-2 124M shape,
bf16). Run on a GPU machine: ``python benchmarks/gpu_sync.py [--size gpt2|small]``; it writes
``gpu_sync.json`` to ``$OUT`` (or the current folder). ``--device cpu`` is a smoke run of the
code paths only (nothing is counted on a CPU).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")
import torch

SPEC = "warmup_cosine(peak_lr=1e-4, warmup=0.05)"
SHAPES = {"gpt2": dict(n_layer=12, n_embd=768, n_head=12, vocab_size=50257, n_positions=1024, batch=8, seq=1024),
          "small": dict(n_layer=6, n_embd=512, n_head=8, vocab_size=8192, n_positions=512, batch=8, seq=512),
          "tiny": dict(n_layer=2, n_embd=64, n_head=4, vocab_size=512, n_positions=64, batch=4, seq=64)}  # fmt: skip
WINDOW = 10  # steady-state steps over which syncs are counted


class Setup:
    """The model, a batch and the timing/sync bookkeeping shared by every adapter run."""

    def __init__(self, device: str, size: str, steps: int, warm: int) -> None:
        self.device, self.steps, self.warm = device, steps, warm
        self.shape = dict(SHAPES[size])
        self.cuda = device == "cuda"
        self.total = warm + steps + WINDOW + 1  # updates per run: warm-up, timed, counted
        self._counting: Any = None
        self.marks: dict[str, Any] = {}

    def model(self) -> Any:
        from transformers import GPT2Config, GPT2LMHeadModel

        shape = {k: v for k, v in self.shape.items() if k not in ("batch", "seq")}
        torch.manual_seed(0)
        return GPT2LMHeadModel(GPT2Config(**shape)).to(self.device)

    def batch(self) -> torch.Tensor:
        g = torch.Generator().manual_seed(0)
        x = torch.randint(0, self.shape["vocab_size"], (self.shape["batch"], self.shape["seq"]), generator=g)
        return x.to(self.device)

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    @contextlib.contextmanager
    def counting(self) -> Iterator[list[str]]:
        """The site of every synchronising call made inside the block (nothing on a CPU)."""
        caught: list[str] = []
        if not self.cuda:
            yield caught
            return

        def record(message: Any, category: Any, filename: str, lineno: int, *args: Any) -> None:
            if "synchroniz" in str(message).lower():
                caught.append(_site(filename, lineno))

        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = record  # restored on exit
            torch.cuda.set_sync_debug_mode("warn")
            try:
                yield caught
            finally:
                torch.cuda.set_sync_debug_mode(0)

    def mark(self, update: int) -> None:
        """Called by a framework hook at the start of update ``update``: times and counts."""
        if update == self.warm:
            self.sync()
            self.marks["t0"] = time.perf_counter()
        elif update == self.warm + self.steps:
            self.sync()
            self.marks["t1"] = time.perf_counter()
            self._counting = self.counting()
            self.marks["caught"] = self._counting.__enter__()
        elif update == self.warm + self.steps + WINDOW and self._counting is not None:
            self._counting.__exit__(None, None, None)
            self._counting = None

    def result(self, strict: bool | None = None, **checks: Any) -> dict[str, Any]:
        marks, self.marks = self.marks, {}
        if self._counting is not None:  # the run ended early: close the window
            self._counting.__exit__(None, None, None)
            self._counting = None
        caught = marks.get("caught", [])
        return {"ms": (marks["t1"] - marks["t0"]) / self.steps * 1e3, "syncs": len(caught) if self.cuda else None,
                "sites": dict(collections.Counter(caught)), "strict_mode_passed": strict, **checks}  # fmt: skip


def _short(filename: str) -> str:
    """A file's path from its top-level package (the longest ``sys.path`` entry it is under)."""
    path = os.path.abspath(filename)
    import lr_callbacks

    roots = [
        os.path.abspath(p) for p in [*sys.path, os.path.dirname(os.path.dirname(lr_callbacks.__file__))] if p
    ]
    under = [r for r in roots if path.startswith(r + os.sep)]
    return (
        os.path.relpath(path, max(under, key=len)).replace(os.sep, "/") if under else os.path.basename(path)
    )


def _site(filename: str, lineno: int) -> str:
    """``file:line`` of a sync, plus the innermost ``lr_callbacks`` line on the stack if any."""
    site = f"{_short(filename)}:{lineno}"
    ours = [f for f in traceback.extract_stack() if _short(f.filename).startswith("lr_callbacks/")]
    return f"{site} via {_short(ours[-1].filename)}:{ours[-1].lineno}" if ours else site


def run_torch(s: Setup, variant: str) -> dict[str, Any]:
    from lr_callbacks.integrations.torch import LRCallback

    model, x = s.model(), s.batch()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=s.cuda)
    cb = LRCallback(SPEC, optimizer, total_steps=s.total + 5, sinks=[]) if variant == "ours" else None

    def step() -> None:
        with torch.autocast(s.device, dtype=torch.bfloat16, enabled=s.cuda):
            loss = model(x, labels=x).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if cb is not None:
            cb.step(loss)

    for update in range(s.total):
        s.mark(update)
        step()
    strict = None
    if s.cuda:  # nothing else in this loop syncs: the strict mode must pass
        torch.cuda.set_sync_debug_mode("error")
        try:
            for _ in range(5):
                step()
            strict = True
        except RuntimeError:
            strict = False
        finally:
            torch.cuda.set_sync_debug_mode(0)
    return s.result(strict)


def run_lightning(s: Setup, variant: str) -> dict[str, Any]:
    import lightning.pytorch as pl

    from lr_callbacks.integrations.lightning import LRCallback

    model, x = s.model(), s.batch()

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.m = model

        def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
            return self.m(batch, labels=batch).loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.AdamW(self.parameters(), lr=1e-4)

    class Probe(pl.Callback):
        def on_train_batch_start(self, trainer: Any, *args: Any) -> None:
            s.mark(trainer.global_step)

    callbacks = [Probe(), *([LRCallback(SPEC, sinks=[])] if variant == "ours" else [])]
    data = torch.utils.data.DataLoader([x[0].cpu()] * (s.total * x.shape[0]), batch_size=x.shape[0])
    trainer = pl.Trainer(max_steps=s.total, accelerator="gpu" if s.cuda else "cpu", devices=1,
                         precision="bf16-mixed" if s.cuda else "32-true", logger=False,
                         enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False,
                         callbacks=callbacks)  # fmt: skip
    trainer.fit(Module(), data)
    return s.result()


def run_transformers(s: Setup, variant: str) -> dict[str, Any]:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from lr_callbacks.integrations.transformers import LRCallback

    model, x = s.model(), s.batch()
    row = x[0].cpu()

    class Data(torch.utils.data.Dataset):  # type: ignore[type-arg]
        def __len__(self) -> int:
            return 10**6

        def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
            return {"input_ids": row, "labels": row}

    class Probe(TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            s.mark(state.global_step)

    args = TrainingArguments(output_dir=tempfile.mkdtemp(), max_steps=s.total, per_device_train_batch_size=x.shape[0],
                             learning_rate=1e-4, bf16=s.cuda, use_cpu=not s.cuda, logging_steps=10**6,
                             logging_nan_inf_filter=False, report_to=[], save_strategy="no", disable_tqdm=True)  # fmt: skip
    callbacks = [Probe(), *([LRCallback(SPEC, sinks=[])] if variant == "ours" else [])]
    Trainer(model=model, args=args, train_dataset=Data(), callbacks=callbacks).train()
    return s.result()


def run_keras(s: Setup, variant: str) -> dict[str, Any]:
    """A token-wise MLP language model of the same widths (Keras has no GPT-2 of its own)."""
    import keras
    import numpy as np

    from lr_callbacks.integrations.keras import LRCallback

    keras.mixed_precision.set_global_policy("mixed_bfloat16" if s.cuda else "float32")
    keras.utils.set_random_seed(0)
    width, vocab = s.shape["n_embd"], s.shape["vocab_size"]
    inputs = keras.Input(shape=(s.shape["seq"],), dtype="int32")
    h = keras.layers.Embedding(vocab, width)(inputs)
    for _ in range(s.shape["n_layer"]):
        h = h + keras.layers.Dense(width)(keras.layers.Dense(4 * width, activation="gelu")(h))
    logits = keras.layers.Dense(vocab, dtype="float32")(h)
    model = keras.Model(inputs, logits)
    model.compile(optimizer=keras.optimizers.AdamW(1e-4), jit_compile=False,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip
    x = s.batch().cpu().numpy().astype(np.int32)
    data = np.tile(x, (s.total, 1))

    seen: list[float] = []  # the LR of updates 0.. warm-2, read before the timed steps

    class Probe(keras.callbacks.Callback):  # on_train_batch_begin only: Keras stays async
        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            if 0 < batch < s.warm:  # before LRCallback sets this batch's LR: the previous update's
                seen.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))
            s.mark(batch)

    class BatchHook(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            pass

    cb = LRCallback(SPEC, sinks=[])
    extra = {"bare": [], "batch_hook": [BatchHook()], "ours": [cb]}[variant]
    model.fit(
        data, data, batch_size=x.shape[0], epochs=1, shuffle=False, verbose=0, callbacks=[Probe(), *extra]
    )
    keras.mixed_precision.set_global_policy("float32")
    if variant != "ours":
        return s.result()
    expected = [float(np.float32(cb.controller.lrs(t)[0])) for t in range(len(seen))]  # type: ignore[index]
    return s.result(lr_matches_schedule=seen == expected)


RUNNERS: dict[str, tuple[Callable[[Setup, str], dict[str, Any]], tuple[str, ...]]] = {
    "torch": (run_torch, ("bare", "ours")),
    "lightning": (run_lightning, ("bare", "ours")),
    "transformers": (run_transformers, ("bare", "ours")),
    "keras": (run_keras, ("bare", "batch_hook", "ours")),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", default="gpt2", choices=sorted(SHAPES))
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warm", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default=",".join(RUNNERS))
    args = parser.parse_args()
    if args.device == "cpu":
        print("gpu_sync: no CUDA device: a smoke run of the code paths (tiny model), nothing is counted.")
        args.size, args.steps, args.warm, args.repeats = "tiny", 4, 2, 1
    setup = Setup(args.device, args.size, args.steps, args.warm)
    if setup.cuda:
        print(
            f"gpu_sync: {torch.cuda.get_device_name()}, torch {torch.__version__}, size {args.size}",
            flush=True,
        )
    results = []
    out = Path(os.environ.get("OUT", "."))
    for name in args.only.split(","):
        runner, variants = RUNNERS[name]
        runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
        try:
            for _ in range(args.repeats):
                for variant in variants:
                    runs[variant].append(runner(setup, variant))
        except Exception:  # one framework failing must not lose the others' figures
            traceback.print_exc()
            results.append({"adapter": name, "error": traceback.format_exc(limit=3)})
            continue
        ms = {v: statistics.median(r["ms"] for r in runs[v]) for v in variants}
        result: dict[str, Any] = {"adapter": name, **{f"ms_{v}": round(ms[v], 3) for v in variants},
                                  "overhead_pct": round(100 * (ms["ours"] / ms["bare"] - 1), 2)}  # fmt: skip
        if "batch_hook" in ms:
            result["overhead_pct_vs_batch_hook"] = round(100 * (ms["ours"] / ms["batch_hook"] - 1), 2)
        for v in variants:
            last = runs[v][-1]
            result[f"syncs_per{WINDOW}_{v}"] = last["syncs"]
            result[f"sync_sites_{v}"] = last["sites"]
        if setup.cuda:
            result[f"syncs_added_per{WINDOW}"] = runs["ours"][-1]["syncs"] - runs["bare"][-1]["syncs"]
        result["strict_mode_passed"] = runs["ours"][-1]["strict_mode_passed"]
        if "lr_matches_schedule" in runs["ours"][-1]:
            result["lr_matches_schedule"] = all(r["lr_matches_schedule"] for r in runs["ours"])
        results.append(result)
        print(json.dumps(result), flush=True)
        (out / "gpu_sync.json").write_text(
            json.dumps({"device": args.device, "size": args.size, "results": results}, indent=1)
        )


if __name__ == "__main__":
    main()
