"""Host syncs and step time of ``LRCallback`` on a GPU, in every framework.

For each adapter (plain torch, Lightning, HF Trainer, Keras on torch) this trains the same
model twice on CUDA, without and with ``LRCallback``, and reports:

* syncs per step, counted with ``torch.cuda.set_sync_debug_mode("warn")`` over steady-state
  steps (the framework's own syncs are in both columns; ours are the difference), and a pass
  under ``set_sync_debug_mode("error")`` for the plain loop, where nothing else syncs;
* ms per step, median of ``--repeats`` interleaved runs, and the overhead in percent.

Target (issue 4): zero syncs per step added, at most 1% step time added (GPT-2 124M shape,
bf16). Run on a GPU machine: ``python benchmarks/gpu_sync.py [--size gpt2|small]``; it writes
``gpu_sync.json`` to ``$OUT`` (or the current folder). ``--device cpu`` is a smoke run of the
code paths only (nothing is counted on a CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")
import torch

SPEC = "warmup_cosine(peak_lr=1e-4, warmup=0.05)"
SHAPES = {"gpt2": dict(n_layer=12, n_embd=768, n_head=12, vocab_size=50257, n_positions=1024, batch=8, seq=1024),
          "small": dict(n_layer=6, n_embd=512, n_head=8, vocab_size=8192, n_positions=512, batch=8, seq=512),
          "tiny": dict(n_layer=2, n_embd=64, n_head=4, vocab_size=512, n_positions=64, batch=4, seq=64)}  # fmt: skip


class Setup:
    """The model, a batch and the timing/sync bookkeeping shared by every adapter run."""

    def __init__(self, device: str, size: str, steps: int, warm: int) -> None:
        self.device, self.steps, self.warm = device, steps, warm
        self.shape = dict(SHAPES[size])
        self.cuda = device == "cuda"

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

    def counted(self, fn: Callable[[], None]) -> int | None:
        """Synchronising calls made by ``fn`` (None on a CPU)."""
        if not self.cuda:
            fn()
            return None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                fn()
            finally:
                torch.cuda.set_sync_debug_mode(0)
        return sum("synchroniz" in str(w.message).lower() for w in caught)


def run_torch(s: Setup, with_callback: bool) -> tuple[float, int | None, bool | None]:
    from lr_callbacks.integrations.torch import LRCallback

    model, x = s.model(), s.batch()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=s.cuda)
    total = s.warm + s.steps + 20
    cb = LRCallback(SPEC, optimizer, total_steps=total, sinks=[]) if with_callback else None

    def step() -> None:
        with torch.autocast(s.device, dtype=torch.bfloat16, enabled=s.cuda):
            loss = model(x, labels=x).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if cb is not None:
            cb.step(loss)

    for _ in range(s.warm):
        step()
    s.sync()
    start = time.perf_counter()
    for _ in range(s.steps):
        step()
    s.sync()
    ms = (time.perf_counter() - start) / s.steps * 1e3
    syncs = s.counted(lambda: [step() for _ in range(10)])
    strict = None
    if s.cuda:  # nothing else in this loop syncs: the strict mode must pass
        torch.cuda.set_sync_debug_mode("error")
        try:
            [step() for _ in range(5)]
            strict = True
        except RuntimeError:
            strict = False
        finally:
            torch.cuda.set_sync_debug_mode(0)
    return ms, syncs, strict


def run_lightning(s: Setup, with_callback: bool) -> tuple[float, int | None, bool | None]:
    import lightning.pytorch as pl

    from lr_callbacks.integrations.lightning import LRCallback

    model, x = s.model(), s.batch()
    marks: dict[str, Any] = {}

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
            step = trainer.global_step
            if step == s.warm:
                s.sync()
                marks["t0"] = time.perf_counter()
            if step == s.warm + s.steps:
                s.sync()
                marks["t1"] = time.perf_counter()
                if s.cuda:
                    marks["caught"] = warnings.catch_warnings(record=True)
                    marks["log"] = marks["caught"].__enter__()
                    warnings.simplefilter("always")
                    torch.cuda.set_sync_debug_mode("warn")

        def on_train_end(self, trainer: Any, *args: Any) -> None:
            if "caught" in marks:
                torch.cuda.set_sync_debug_mode(0)
                marks["caught"].__exit__(None, None, None)

    total = s.warm + s.steps + 10
    callbacks = [Probe(), *([LRCallback(SPEC, sinks=[])] if with_callback else [])]
    data = torch.utils.data.DataLoader([x[0].cpu()] * (total * x.shape[0]), batch_size=x.shape[0])
    trainer = pl.Trainer(max_steps=total, accelerator="gpu" if s.cuda else "cpu", devices=1,
                         precision="bf16-mixed" if s.cuda else "32-true", logger=False,
                         enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False,
                         callbacks=callbacks)  # fmt: skip
    trainer.fit(Module(), data)
    syncs = sum("synchroniz" in str(w.message).lower() for w in marks.get("log", [])) if s.cuda else None
    return (marks["t1"] - marks["t0"]) / s.steps * 1e3, syncs, None


def run_transformers(s: Setup, with_callback: bool) -> tuple[float, int | None, bool | None]:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from lr_callbacks.integrations.transformers import LRCallback

    model, x = s.model(), s.batch()
    row, marks = x[0].cpu(), {}

    class Data(torch.utils.data.Dataset):  # type: ignore[type-arg]
        def __len__(self) -> int:
            return 10**6

        def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
            return {"input_ids": row, "labels": row}

    class Probe(TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step == s.warm:
                s.sync()
                marks["t0"] = time.perf_counter()
            if state.global_step == s.warm + s.steps:
                s.sync()
                marks["t1"] = time.perf_counter()

    total = s.warm + s.steps + 1
    args = TrainingArguments(output_dir=tempfile.mkdtemp(), max_steps=total, per_device_train_batch_size=x.shape[0],
                             learning_rate=1e-4, bf16=s.cuda, use_cpu=not s.cuda, logging_steps=10**6,
                             logging_nan_inf_filter=False, report_to=[], save_strategy="no", disable_tqdm=True)  # fmt: skip
    callbacks = [Probe(), *([LRCallback(SPEC, sinks=[])] if with_callback else [])]
    Trainer(model=model, args=args, train_dataset=Data(), callbacks=callbacks).train()
    return (marks["t1"] - marks["t0"]) / s.steps * 1e3, None, None


RUNNERS = {"torch": run_torch, "lightning": run_lightning, "transformers": run_transformers}


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
    results = []
    for name in args.only.split(","):
        rows: dict[bool, list[tuple[float, int | None, bool | None]]] = {False: [], True: []}
        for _ in range(args.repeats):
            for with_callback in (False, True):
                rows[with_callback].append(RUNNERS[name](setup, with_callback))
        bare, ours = (statistics.median(r[0] for r in rows[flag]) for flag in (False, True))
        syncs = [rows[flag][-1][1] for flag in (False, True)]
        result = {"adapter": name, "ms_bare": round(bare, 3), "ms_with_callback": round(ours, 3),
                  "overhead_pct": round(100 * (ours / bare - 1), 2), "syncs_bare_per10": syncs[0],
                  "syncs_with_callback_per10": syncs[1], "strict_mode_passed": rows[True][-1][2]}  # fmt: skip
        results.append(result)
        print(json.dumps(result), flush=True)
    out = Path(os.environ.get("OUT", "."))
    (out / "gpu_sync.json").write_text(
        json.dumps({"device": args.device, "size": args.size, "results": results}, indent=1)
    )


if __name__ == "__main__":
    main()
