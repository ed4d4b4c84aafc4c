"""Range-test suggestion quality: our rule against the anchors' rules, on the same recorded sweeps.

For each problem and seed: one LR sweep (1e-7 -> 10, 100 updates, no early stop) records the
raw per-update losses once; every rule (with its own smoothing, stop and trimming) then
suggests an LR from that same curve. Ground truth, per schedule (one-cycle and constant): training
for a fixed budget at every LR of a quarter-decade grid (1e-7 .. 10), all grid LRs trained side
by side as a stack of independent models (same init, same batches). Regret = validation loss at
the suggestion (interpolated on the grid in log10 LR) minus the best grid loss; diverged runs
count as the untrained loss ln(C). Our rule is scored with its peak suggestion on the one-cycle
grid and its constant suggestion on the constant grid; the anchors' single suggestion on both.

    .venv/bin/python benchmarks/range_test/run.py            # records (about 3 min on 1 thread), then scores
    .venv/bin/python benchmarks/range_test/run.py --score    # re-score the saved recordings only
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).parent))
from anchors import CONSTANT_RULES, DEFAULTS, RULES

from lr_callbacks.range_test import RangeTest
from lr_callbacks.schedules import Constant, OneCycle, Schedule

HERE = Path(__file__).parent
SEEDS = range(10)
SWEEP_STEPS = 100
GRID = [10 ** (e / 4) for e in range(-28, 5)]  # 1e-7 .. 10, quarter decades
# Unit-peak shapes, scaled by each grid LR; the rules each schedule's grid scores.
SCHEDULES: dict[str, Schedule] = {"one_cycle": OneCycle(peak_lr=1.0), "constant": Constant(peak_lr=1.0)}
RULES_OF = {"one_cycle": RULES, "constant": CONSTANT_RULES}


@dataclass(frozen=True)
class Problem:
    name: str
    loader: Any
    hidden: tuple[int, ...]
    optimizer: str
    batch_size: int
    budget_epochs: int


PROBLEMS = (
    Problem("digits_mlp_adam_bs32", load_digits, (64,), "adam", 32, 3),
    Problem("digits_mlp_sgdm_bs16", load_digits, (64,), "sgdm", 16, 2),
    Problem("breast_cancer_logreg_sgd_bs16", load_breast_cancer, (), "sgd", 16, 5),
    Problem("wine_mlp_adamw_bs8", load_wine, (32,), "adamw", 8, 8),
)


def load(problem: Problem) -> tuple[torch.Tensor, ...]:
    x, y = problem.loader(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.25, random_state=1, stratify=y)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-8
    as_x = lambda a: torch.tensor((a - mean) / std, dtype=torch.float32)  # noqa: E731
    return as_x(x_train), torch.tensor(y_train), as_x(x_val), torch.tensor(y_val)


class Stack(torch.nn.Module):
    """``copies`` independent MLPs with the same initial weights, evaluated with one bmm per layer."""

    def __init__(self, sizes: list[int], copies: int, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        layers = [torch.nn.Linear(a, b) for a, b in itertools.pairwise(sizes)]
        self.weights = torch.nn.ParameterList()
        self.biases = torch.nn.ParameterList()
        self.copies, self.depth = copies, len(layers)
        for _ in range(copies):
            for layer in layers:
                self.weights.append(torch.nn.Parameter(layer.weight.detach().T.clone()))
                self.biases.append(torch.nn.Parameter(layer.bias.detach().clone()))

    def params_of(self, copy: int) -> list[torch.nn.Parameter]:
        span = range(copy * self.depth, (copy + 1) * self.depth)
        return [self.weights[i] for i in span] + [self.biases[i] for i in span]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.expand(self.copies, *x.shape)
        for layer in range(self.depth):
            w = torch.stack([self.weights[c * self.depth + layer] for c in range(self.copies)])
            b = torch.stack([self.biases[c * self.depth + layer] for c in range(self.copies)])
            h = torch.baddbmm(b.unsqueeze(1), h, w)
            if layer < self.depth - 1:
                h = torch.relu(h)
        return h  # (copies, batch, classes)


def make_optimizer(kind: str, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
    if kind == "adam":
        return torch.optim.Adam(groups, foreach=True)
    if kind == "adamw":
        return torch.optim.AdamW(groups, weight_decay=0.01, foreach=True)
    if kind == "sgdm":
        return torch.optim.SGD(groups, momentum=0.9, foreach=True)
    return torch.optim.SGD(groups, foreach=True)


def batches(n: int, batch_size: int, seed: int) -> Any:
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start : start + batch_size]


def stacked_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-copy mean cross-entropy, shape (copies,)."""
    copies = out.shape[0]
    flat = torch.nn.functional.cross_entropy(
        out.reshape(-1, out.shape[-1]), y.repeat(copies), reduction="none"
    )
    return flat.view(copies, -1).mean(1)


def record_sweep(problem: Problem, data: tuple[torch.Tensor, ...], seed: int) -> list[float]:
    x_train, y_train = data[0], data[1]
    sizes = [x_train.shape[1], *problem.hidden, int(y_train.max()) + 1]
    model = Stack(sizes, 1, seed)
    optimizer = make_optimizer(problem.optimizer, [{"params": model.params_of(0), "lr": 1e-7}])
    test = RangeTest(num_steps=SWEEP_STEPS)  # only its ladder: the sweep runs to the end
    losses: list[float] = []
    stream = batches(len(x_train), problem.batch_size, 1000 + seed)
    for i in range(SWEEP_STEPS):
        if losses and not math.isfinite(losses[-1]):
            losses.append(float("nan"))  # the weights are NaN from here on
            continue
        optimizer.param_groups[0]["lr"] = test.lr(i)
        index = next(stream)
        loss = stacked_loss(model(x_train[index]), y_train[index])[0]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def grid_losses(
    problem: Problem, data: tuple[torch.Tensor, ...], seed: int, schedule: Schedule
) -> list[float]:
    """Validation loss after training with ``schedule`` scaled to every grid LR (capped at ln C)."""
    x_train, y_train, x_val, y_val = data
    classes = int(y_train.max()) + 1
    model = Stack([x_train.shape[1], *problem.hidden, classes], len(GRID), seed)
    groups = [{"params": model.params_of(c), "lr": lr} for c, lr in enumerate(GRID)]
    optimizer = make_optimizer(problem.optimizer, groups)
    steps = problem.budget_epochs * (len(x_train) // problem.batch_size)
    shape = schedule.bind(total_steps=steps)
    stream = batches(len(x_train), problem.batch_size, 1000 + seed)
    for t in range(steps):
        for group, lr in zip(optimizer.param_groups, GRID, strict=True):
            group["lr"] = lr * shape(t)
        index = next(stream)
        optimizer.zero_grad()
        stacked_loss(model(x_train[index]), y_train[index]).sum().backward()
        optimizer.step()
    with torch.no_grad():
        val = stacked_loss(model(x_val), y_val).tolist()
    cap = math.log(classes)
    return [v if math.isfinite(v) and v < cap else cap for v in val]


def record(path: Path) -> dict[str, Any]:
    torch.set_num_threads(1)
    out: dict[str, Any] = {
        "grid": GRID,
        "sweep_lrs": [RangeTest(num_steps=SWEEP_STEPS).lr(i) for i in range(SWEEP_STEPS)],
    }
    out["problems"] = {}
    for problem in PROBLEMS:
        started = time.perf_counter()
        data = load(problem)
        runs = [
            {
                "seed": seed,
                "losses": record_sweep(problem, data, seed),
                "grid_val_loss": {
                    kind: grid_losses(problem, data, seed, schedule) for kind, schedule in SCHEDULES.items()
                },
            }
            for seed in SEEDS
        ]
        out["problems"][problem.name] = {
            "optimizer": problem.optimizer,
            "batch_size": problem.batch_size,
            "runs": runs,
        }
        print(f"recorded {problem.name}: {time.perf_counter() - started:.1f} s", flush=True)
    path.write_text(json.dumps(out, allow_nan=True))
    return out


def regret(grid: list[float], val: list[float], lr: float | None) -> float:
    best = min(val)
    if lr is None or not math.isfinite(lr) or lr <= 0:
        return max(val) - best
    x = np.log10(grid)
    return float(np.interp(math.log10(lr), x, val)) - best


def spiked(losses: list[float], seed: int) -> list[float]:
    rng = np.random.default_rng(10_000 + seed)
    out = list(losses)
    for i in rng.choice(np.arange(15, 70), size=3, replace=False):
        out[int(i)] *= 5
    return out


def score_rules(
    lrs: list[float], grid: list[float], runs: list[dict[str, Any]], kind: str, rules: dict[str, Any]
) -> dict[str, Any]:
    """Every rule's suggestions on the clean and spiked curves, scored on the ``kind`` grid."""
    rows = {}
    for rule, fn in rules.items():
        clean = [fn(lrs, run["losses"]) for run in runs]
        spikes = [fn(lrs, spiked(run["losses"], run["seed"])) for run in runs]
        regrets = [regret(grid, run["grid_val_loss"][kind], lr) for run, lr in zip(runs, clean, strict=True)]
        logs = [math.log10(lr) for lr in clean if lr]
        shifts = [
            abs(math.log10(a) - math.log10(b)) if a and b else math.inf
            for a, b in zip(clean, spikes, strict=True)
        ]
        rows[rule] = {
            "suggestions": clean,
            "sd_decades": statistics.pstdev(logs) if len(logs) > 1 else None,
            "regret_mean": statistics.fmean(regrets),
            "regret_max": max(regrets),
            "spike_shift_median": statistics.median(shifts),
            "spike_shift_max": max(shifts),
            "none": sum(lr is None for lr in clean),
        }
    return rows


def score(recorded: dict[str, Any]) -> dict[str, Any]:
    """Per problem and schedule: the best grid LR of each seed and every rule's scores."""
    lrs, grid = recorded["sweep_lrs"], recorded["grid"]
    table: dict[str, Any] = {}
    for name, problem in recorded["problems"].items():
        runs = problem["runs"]
        table[name] = {
            kind: {
                "best_grid_lrs": [grid[int(np.argmin(run["grid_val_loss"][kind]))] for run in runs],
                "rules": score_rules(lrs, grid, runs, kind, RULES_OF[kind]),
            }
            for kind in SCHEDULES
        }
    return table


def markdown(table: dict[str, Any], kind: str) -> str:
    names = list(table)
    short = [n.split("_bs")[0] for n in names]
    spikes = kind == "one_cycle"  # the constant rules are the same curves' suggestions: same shifts
    lines = [
        "| rule | sd of log10 LR, decades ("
        + " / ".join(short)
        + ") | worst sd | mean regret | worst regret |"
        + (" spike shift median / max (decades) |" if spikes else ""),
        "|---|---|---|---|---|" + ("---|" if spikes else ""),
    ]
    for rule in RULES_OF[kind]:
        rows = [table[n][kind]["rules"][rule] for n in names]
        sds = [r["sd_decades"] for r in rows]
        sd_text = " / ".join("n/a" if s is None else f"{s:.2f}" for s in sds)
        worst_sd = max(s for s in sds if s is not None)
        regret_mean = statistics.fmean(r["regret_mean"] for r in rows)
        regret_max = max(r["regret_max"] for r in rows)
        label = f"**{rule}**" if rule.startswith("lr_callbacks (") else rule
        label += " (default)" if rule in DEFAULTS else ""
        line = f"| {label} | {sd_text} | {worst_sd:.2f} | {regret_mean:.3f} | {regret_max:.3f} |"
        if spikes:
            shift_med = statistics.median([r["spike_shift_median"] for r in rows])
            shift_max = max(r["spike_shift_max"] for r in rows)
            line += f" {shift_med:.2f} / {shift_max:.2f} |"
        lines.append(line)
    return "\n".join(lines)


def per_problem(table: dict[str, Any], kind: str) -> str:
    lines = []
    for name, entry in table.items():
        best = entry[kind]["best_grid_lrs"]
        label = kind.replace("_", "-")
        lines.append(f"\n**{name}**: best {label} grid LR per seed {min(best):.2g} .. {max(best):.2g}\n")
        lines.append("| rule | median suggestion | min .. max | sd (dec) | mean regret | worst regret |")
        lines.append("|---|---|---|---|---|---|")
        for rule, row in entry[kind]["rules"].items():
            got = [s for s in row["suggestions"] if s]
            med = statistics.median(got) if got else float("nan")
            sd = "n/a" if row["sd_decades"] is None else f"{row['sd_decades']:.2f}"
            span = f"{min(got):.2g} .. {max(got):.2g}" if got else "none"
            lines.append(
                f"| {rule} | {med:.2g} | {span} | {sd} | {row['regret_mean']:.3f} | {row['regret_max']:.3f} |"
            )
    return "\n".join(lines)


def best_lrs(table: dict[str, Any]) -> str:
    """The best grid LR per schedule, and how far the best constant LR sits below the best peak."""
    lines = [
        "| problem | best one-cycle peak LR, median (min .. max) | best constant LR, median (min .. max) "
        "| peak / constant per seed, median (min .. max) |",
        "|---|---|---|---|",
    ]
    for name, entry in table.items():
        peak, const = entry["one_cycle"]["best_grid_lrs"], entry["constant"]["best_grid_lrs"]
        ratio = [p / c for p, c in zip(peak, const, strict=True)]
        cells = [f"{statistics.median(v):.2g} ({min(v):.2g} .. {max(v):.2g})" for v in (peak, const, ratio)]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def figure(recorded: dict[str, Any], table: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.array(recorded["grid"])
    names = list(table)
    fig, axes = plt.subplots(
        len(SCHEDULES), len(names), figsize=(4.2 * len(names), 4.2 * len(SCHEDULES)), dpi=110
    )
    anchors = {
        "torch-lr-finder steepest": "#1f77b4",
        "fastai valley": "#ff7f0e",
        "Lightning 2.6.6": "#2ca02c",
    }
    for row_axes, kind in zip(axes, SCHEDULES, strict=True):
        colours = {next(iter(RULES_OF[kind])): "black", **anchors}
        for ax, name in zip(row_axes, names, strict=True):
            val = np.array([run["grid_val_loss"][kind] for run in recorded["problems"][name]["runs"]])
            for seed_val in val:
                ax.plot(grid, seed_val, color="#c9d6e3", linewidth=0.8)
            ax.plot(
                grid, np.median(val, 0), color="#4a6f94", linewidth=2, label=f"val loss after {kind} (median)"
            )
            top = float(np.max(val))
            for k, (rule, colour) in enumerate(colours.items()):
                sugg = [s for s in table[name][kind]["rules"][rule]["suggestions"] if s]
                ax.scatter(
                    sugg, [top * (1.02 + 0.05 * k)] * len(sugg), color=colour, s=14, label=rule, zorder=3
                )
            ax.set_xscale("log")
            ax.set_title(f"{name}: {kind}", fontsize=9)
            ax.set_xlabel("peak LR" if kind == "one_cycle" else "constant LR")
            ax.grid(True, alpha=0.3)
        row_axes[0].set_ylabel("validation loss (capped at ln C)")
        row_axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle(
        "Range-test suggestions per seed (dots, one row per rule) against the one-cycle (top) and "
        "constant (bottom) LR grids",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--score", action="store_true", help="re-score the saved recordings only")
    args = parser.parse_args()
    started = time.perf_counter()
    recordings = HERE / "recordings.json"
    recorded = json.loads(recordings.read_text()) if args.score else record(recordings)
    table = score(recorded)
    (HERE / "results.json").write_text(json.dumps(table, indent=1, default=lambda v: None))
    figure(recorded, table, HERE / "figure.png")
    for kind in SCHEDULES:
        print(f"\n## {kind}\n\n{markdown(table, kind)}\n{per_problem(table, kind)}")
    print(f"\n{best_lrs(table)}")
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
