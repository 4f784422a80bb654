"""The ResNet paper's CIFAR-10 experiment (He et al. 2016, Section 4.2, Figure 6 and Table 6), compressed in time.

Trains plain-20/32/44/56 and ResNet-20/32/44/56 with the paper's recipe (``experiment=cifar10_resnet20``: SGD lr
0.1, momentum 0.9, weight decay 1e-4, batch 128, pad-and-crop + flip, 45k/5k split) for ``--epochs`` epochs each
instead of 182, the lr divided by 10 at the same fractions of the run (half and three quarters:
``scheduler=step_fractions``). Each network trains in its own directory under ``--runs-dir``; run the same command
again after an interruption and each unfinished run resumes from its last checkpoint (``train.py``'s
``auto_resume``), finished ones are skipped. Two processes may share the queue (``--models`` splits it; each run
directory is used by one). After its queue, and alone with ``--report``, it reads every finished run, prints the
Table-6-style markdown table and writes the JSON and the Figure-6 picture (training error dashed, validation
error bold, against iterations; plain left, ResNet right).

    python benchmarks/resnet_cifar_paper.py --runs-dir /work/paper_runs/fig6 --epochs 10 --threads 1 \
        --models resnet20 resnet56 resnet32 resnet44
    python benchmarks/resnet_cifar_paper.py --runs-dir /work/paper_runs/fig6 --epochs 10 --report \
        --json benchmarks/results/resnet_cifar_paper.json --figure docs/images/resnet_cifar_figure6.png \
        --earlier benchmarks/results/resnet_cifar_paper.json
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import torch
from common import add_train_run_args, parse_train_run_args, pieces_of, run_train, write_payload

from zoo import count_parameters, create_model

DEPTHS = (20, 32, 44, 56)
MODELS = tuple(f"{kind}{depth}" for kind in ("plain", "resnet") for depth in DEPTHS)
# Table 6: test error (%) on CIFAR-10 (ResNets: the paper's best of 5 runs is given for 110 only; these are
# the single figures of the table); plain nets' errors are read off Figure 6, not tabulated
PAPER_TEST_ERROR = {"resnet20": 8.75, "resnet32": 7.51, "resnet44": 7.17, "resnet56": 6.97}
STEPS_PER_EPOCH = 45_000 // 128  # 351 batches of the 45,000 training images (the last partial one is dropped)


def epoch_rows(run_dir: Path) -> list[dict]:
    """Per epoch (counted from 1): training error (the epoch's running accuracy on augmented batches, as the
    paper's curves) and validation error, in %."""
    train, val = {}, {}
    with (run_dir / "metrics.csv").open() as file:
        for row in csv.DictReader(file):
            if row.get("train/acc"):
                train[int(row["epoch"])] = 100 * (1 - float(row["train/acc"]))
            if row.get("val/acc"):
                val[int(row["epoch"])] = 100 * (1 - float(row["val/acc"]))
    return [
        {"epoch": e + 1, "iterations": (e + 1) * STEPS_PER_EPOCH, "train_error": train[e], "val_error": val[e]}
        for e in sorted(train.keys() & val.keys())
    ]


def train_queue(args: argparse.Namespace) -> None:
    overrides = ["scheduler=step_fractions", f"trainer.max_epochs={args.epochs}", *args.override]
    for name in args.models:
        run_dir = args.runs_dir / name
        piece = run_train("cifar10_resnet20", run_dir, [f"model={name}", *overrides], args.threads)
        if piece["returncode"] != 0:
            raise SystemExit(f"{name} stopped (exit {piece['returncode']}); run the same command again to resume")


def depth_of(name: str) -> int:
    return int(name.removeprefix("plain").removeprefix("resnet"))


def result_of(run_dir: Path) -> dict | None:
    if not (run_dir / "metrics.json").is_file():
        return None
    metrics = json.loads((run_dir / "metrics.json").read_text())
    curve = epoch_rows(run_dir)
    pieces = pieces_of(run_dir)
    name = metrics["model"]
    return {
        "model": name,
        "depth": depth_of(name),
        "epochs": metrics["epochs"],
        "parameters": count_parameters(create_model(name)),
        "final_train_error": curve[-1]["train_error"],
        "final_val_error": curve[-1]["val_error"],
        "paper_test_error": PAPER_TEST_ERROR.get(name),
        "training_wall_s": sum(p["wall_s"] for p in pieces),
        "curve": curve,
    }


def draw_figure(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    colours = dict(zip(DEPTHS, ("tab:orange", "tab:cyan", "tab:green", "tab:red")))
    for ax, kind, title in zip(axes, ("plain", "resnet"), ("plain networks", "ResNets")):
        for r in sorted((r for r in results if r["model"].startswith(kind)), key=lambda r: r["depth"]):
            x = [p["iterations"] / 1e4 for p in r["curve"]]
            colour = colours[r["depth"]]
            ax.plot(x, [p["train_error"] for p in r["curve"]], "--", color=colour, linewidth=1)
            label = r["model"] if "epochs" in r else f"{r['model']} (still training)"
            ax.plot(x, [p["val_error"] for p in r["curve"]], "-", color=colour, linewidth=2, label=label)
        ax.set_title(f"{title} (dashed: training error, bold: validation error)", fontsize=9)
        ax.set_xlabel("iterations (1e4)")
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_ylabel("error (%)")
    axes[0].set_ylim(0, 90)
    fig.suptitle("CIFAR-10 JPEG zip, 45k/5k split, the paper's recipe compressed in time (cf. He et al. 2016, Fig. 6)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(results: list[dict]) -> str:
    lines = [
        "| network | depth | parameters | training error here | validation error here | paper's test error |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(results, key=lambda r: (r["model"].startswith("resnet"), r["depth"])):
        paper = f"{r['paper_test_error']:.2f} %" if r["paper_test_error"] else "(Figure 6 only)"
        lines.append(
            f"| {r['model']} | {r['depth']} | {r['parameters']:,} | {r['final_train_error']:.2f} % | "
            f"{r['final_val_error']:.2f} % | {paper} |"
        )
    return "\n".join(lines)


def partial_curves(runs_dir: Path, names: list[str]) -> dict[str, list[dict]]:
    """The epochs so far of runs still training: their curves, compared at equal iterations with the finished."""
    return {n: curve for n in names if (runs_dir / n / "metrics.csv").is_file() and (curve := epoch_rows(runs_dir / n))}


def at_common_epoch(results: list[dict], partial: dict[str, list[dict]]) -> dict:
    """Every run's training and validation error at the last epoch all of them reached (same lr phase, same
    iterations): the degradation shows there before the unfinished runs end."""
    curves = {r["model"]: r["curve"] for r in results} | partial
    epoch = min(len(c) for c in curves.values())
    return {
        "epoch": epoch,
        "errors": {n: {k: c[epoch - 1][k] for k in ("train_error", "val_error")} for n, c in curves.items()},
    }


def carried_over(path: Path | None, epochs: int, runs_dir: Path) -> list[dict]:
    """Finished results of an earlier report whose run directories are not here any more (another session's
    machine): kept, each marked with the report and commit it comes from, unless the network is training again."""
    if path is None or not path.is_file():
        return []
    earlier = json.loads(path.read_text())
    source = {"created": earlier["created"], "git_commit": earlier["environment"].get("git_commit")}
    return [
        {**r, "carried_from": r.get("carried_from", source)}
        for r in earlier["results"]
        if r["epochs"] == epochs and not (runs_dir / r["model"]).exists()
    ]


def report(args: argparse.Namespace) -> list[dict]:
    results = [r for name in MODELS if (r := result_of(args.runs_dir / name)) and r["epochs"] == args.epochs]
    results += carried_over(args.earlier, args.epochs, args.runs_dir)
    missing = [name for name in MODELS if name not in {r["model"] for r in results}]
    partial = partial_curves(args.runs_dir, missing)
    print(table(results))
    if missing:
        print(f"not finished at {args.epochs} epochs: {', '.join(missing)}")
    common = at_common_epoch(results, partial) if results or partial else None
    if common:
        print(
            f"at epoch {common['epoch']} (every run got there): "
            + ", ".join(
                f"{n} {e['train_error']:.1f} % train / {e['val_error']:.1f} % val error"
                for n, e in common["errors"].items()
            )
        )
    if args.figure:
        draw_figure(results + [{"model": n, "depth": depth_of(n), "curve": c} for n, c in partial.items()], args.figure)
    if args.json:
        settings = {"epochs": args.epochs, "runs_dir": str(args.runs_dir), "overrides": args.override}
        extra = {"not_finished": missing, "unfinished_curves": partial, "at_common_epoch": common}
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        write_payload(args.json, "resnet_cifar_paper", device, {**settings, **extra}, results)
    return results


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs-dir", type=Path, required=True, help="one run directory per network goes here")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per network (the paper: 182)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS, help="the queue to train")
    parser.add_argument("--report", action="store_true", help="train nothing; only report the finished runs")
    parser.add_argument("--figure", type=Path, help="draw Figure 6 of the finished runs into this PNG")
    parser.add_argument(
        "--earlier", type=Path, help="an earlier report's JSON: its finished runs whose directories are gone count too"
    )
    add_train_run_args(parser)
    args = parse_train_run_args(parser, argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if not args.report:
        train_queue(args)
    return report(args)


if __name__ == "__main__":
    main()
