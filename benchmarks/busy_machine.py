"""The default run on a busy machine: ``python train.py`` (``threads=auto``) against ``python train.py threads=1``,
on the machine as it is and under a synthetic load, each run a fresh process timed from start to exit.

The synthetic load is ``--spinners`` processes (default: one per usable core), each a CPU spin loop, started by this
script before the loaded pairs and stopped after them. Runs come in pairs (default, threads=1), the order alternating
from pair to pair so a change in the machine's load hits both sides alike; each condition's figure is the median of
the pairs' wall-time ratios (default / threads=1; target under load: <= 1.2, idle: no slower than before). Nothing
here is run under ``nice``: it would change what is measured.

    python benchmarks/busy_machine.py --pairs 5 --json benchmarks/results/busy_machine.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from common import add_train_run_args, parse_train_run_args, progress, write_payload

REPO_ROOT = Path(__file__).resolve().parent.parent
CONDITIONS = ("as_is", "synthetic_load")
SPIN = "while True: pass"


@contextmanager
def spinners(count: int):
    """``count`` processes each keeping one core busy, stopped on leaving."""
    procs = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(count)]
    try:
        yield
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()


def timed_train(run_dir: Path, threads: str, overrides: list[str]) -> dict:
    command = [sys.executable, "train.py", f"hydra.run.dir={run_dir}", "callbacks.progress_bar.refresh_rate=0"]
    command += [f"threads={threads}", *overrides]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    accuracy = json.loads((run_dir / "metrics.json").read_text()).get("val/acc")
    return {"wall_s": wall, "val_acc": accuracy}


def measure(condition: str, scratch: Path, args: argparse.Namespace) -> dict:
    """``args.pairs`` pairs of (threads=auto, threads=args.threads: "fixed"), alternating which goes first."""
    sides = {"auto": "auto", "fixed": str(args.threads)}
    runs: dict[str, list[dict]] = {name: [] for name in sides}
    for pair in range(args.pairs):
        order = list(sides) if pair % 2 == 0 else list(sides)[::-1]
        for name in order:
            run_dir = scratch / condition / f"{name}-{pair}"
            runs[name].append(timed_train(run_dir, sides[name], args.override))
            progress(f"{condition} pair {pair + 1}: threads={sides[name]} {runs[name][-1]['wall_s']:.2f} s")
    ratios = [a["wall_s"] / f["wall_s"] for a, f in zip(runs["auto"], runs["fixed"])]
    return {
        "condition": condition,
        "fixed_threads": args.threads,
        "spinners": args.spinners if condition == "synthetic_load" else 0,
        "load_average_after": os.getloadavg(),
        "median_ratio": statistics.median(ratios),
        "ratios": ratios,
        **{f"{name}_median_wall_s": statistics.median(r["wall_s"] for r in runs[name]) for name in sides},
        "runs": runs,
    }


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5, help="pairs of runs per condition (default: 5)")
    parser.add_argument("--spinners", type=int, help="busy processes of the synthetic load (default: usable cores)")
    parser.add_argument("--conditions", nargs="+", choices=CONDITIONS, default=list(CONDITIONS))
    add_train_run_args(parser)
    args = parse_train_run_args(parser, argv)
    args.threads = args.threads or 1  # the side the default is compared with
    args.spinners = args.spinners or len(os.sched_getaffinity(0))
    if min(args.pairs, args.spinners) < 1:
        parser.error("--pairs and --spinners must be at least 1")
    results = []
    with tempfile.TemporaryDirectory(prefix="busy_machine-") as scratch:
        for condition in args.conditions:
            with spinners(args.spinners if condition == "synthetic_load" else 0):
                results.append(measure(condition, Path(scratch), args))
    for r in results:
        print(
            f"{r['condition']}: threads=auto {r['auto_median_wall_s']:.2f} s, threads={args.threads} "
            f"{r['fixed_median_wall_s']:.2f} s median wall; median ratio {r['median_ratio']:.2f} "
            "(target under load <= 1.2)"
        )
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k != "json"}
        write_payload(args.json, "busy_machine", torch.device("cpu"), settings, results)
    return results


if __name__ == "__main__":
    main()
