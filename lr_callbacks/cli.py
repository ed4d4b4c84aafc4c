"""The ``lr-callbacks`` command: show and plot schedules, diagnose finished runs."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .schedules import BoundSchedule, lint, parse


def _bind(args: argparse.Namespace) -> BoundSchedule:
    return parse(args.spec).bind(total_steps=args.total_steps, steps_per_epoch=args.steps_per_epoch)


def _key_steps(schedule: BoundSchedule, total: int) -> list[int]:
    marks = {0, total // 2, total - 1}
    for phase in schedule.phases:
        for edge in (phase.start, phase.end - 1):
            if 0 <= edge < total:
                marks.add(int(edge))
    return sorted(marks)[:40]


def _show(args: argparse.Namespace) -> int:
    schedule = _bind(args)
    total = args.total_steps
    if args.format == "csv":
        lines = ["step,lr", *(f"{t},{lr!r}" for t, lr in enumerate([schedule(t) for t in range(total)]))]
        sys.stdout.write("\n".join(lines) + "\n")
    elif args.format == "json":
        lrs = [schedule(t) for t in range(total)]
        json.dump(
            {"spec": schedule.spec.to_spec(), "total_steps": total, "step": list(range(total)), "lr": lrs},
            sys.stdout,
        )
        sys.stdout.write("\n")
    else:
        print(schedule.describe())
        print("\nLR at key steps:")
        for t in _key_steps(schedule, total):
            print(f"  step {t:>10}: {schedule(t):.6g}")
        for item in lint(schedule):
            print(f"\nwarning [{item.code}]: {item.message}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    from .report import plot_schedule

    out = plot_schedule(_bind(args), args.output, log=args.log)
    print(f"wrote {out}")
    return 0


def _schedule_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help='a schedule spec, e.g. "warmup_cosine(peak_lr=3e-4, warmup=0.05)"')
    parser.add_argument("--total-steps", type=int, required=True, help="optimizer updates in the run (T)")
    parser.add_argument("--steps-per-epoch", type=int, default=None, help="optimizer updates per epoch")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``lr-callbacks``."""
    parser = argparse.ArgumentParser(prog="lr-callbacks", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("show", help="print a schedule's phases and LRs (text, csv or json)")
    _schedule_args(show)
    show.add_argument("--format", choices=("text", "csv", "json"), default="text")
    show.set_defaults(run=_show)
    plot = commands.add_parser("plot", help="draw a schedule to a PNG")
    _schedule_args(plot)
    plot.add_argument("-o", "--output", required=True, help="the picture to write (.png, .svg, .pdf)")
    plot.add_argument("--log", action="store_true", help="log-scale LR axis")
    plot.set_defaults(run=_plot)
    _add_optional_commands(commands)
    from .demo import add_demo_command

    add_demo_command(commands)
    return parser


def _add_optional_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    try:
        from .diagnose import add_diagnose_command
        from .run_report import add_report_command
    except ImportError:
        return
    add_diagnose_command(commands)
    add_report_command(commands)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; bad input is one line on stderr and exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except (ValueError, TypeError, ImportError, OSError) as error:
        print(f"lr-callbacks {args.command}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `lr-callbacks show ... | head`
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
