"""What each accuracy feature buys: ResNet-20 with the fast recipe, plain and with one feature switched on.

Every variant is ``python train.py experiment=cifar10_resnet20_fast trainer.max_epochs=<--epochs> seed=<seed>``
plus its own overrides (``VARIANTS``): the same budget, the same 45k/5k split (``dataset.split_seed`` does not
follow ``seed``), for each of ``--seeds``. Each run has its own directory under ``--runs-dir``, is resumed if
interrupted and skipped once finished, so the command may be run again until every run is done. The JSON holds
each run's final val/acc and, per variant, the mean, the seeds' spread (max - min) and the difference to the
baseline's mean; the printed table is the README's.

    python benchmarks/feature_accuracy.py --runs-dir /work/feature_runs --epochs 5 --threads 1 \
        --json benchmarks/results/feature_accuracy.json
"""

from __future__ import annotations

import argparse
from pathlib import Path
from statistics import mean

import torch
from common import add_train_run_args, parse_train_run_args, pieces_of, train_to_end, write_payload

EXPERIMENT = "cifar10_resnet20_fast"
VARIANTS = {
    "baseline": [],
    "ema": ["callbacks=ema"],
    "trivialaugment": ["dataset.augment=trivialaugment"],
    "mixup_cutmix": ["dataset.mixup_alpha=0.2", "dataset.cutmix_alpha=1.0"],
}


def train_variant(name: str, seed: int, args: argparse.Namespace) -> dict:
    run_dir = args.runs_dir / f"{name}_seed{seed}"
    overrides = [f"trainer.max_epochs={args.epochs}", f"seed={seed}", *VARIANTS[name], *args.override]
    metrics = train_to_end(EXPERIMENT, run_dir, overrides, args.threads)
    wall = sum(p["wall_s"] for p in pieces_of(run_dir))
    return {"variant": name, "seed": seed, "val_acc": metrics["val/acc"], "training_wall_s": wall}


def summary(runs: list[dict]) -> list[dict]:
    """Per variant: mean val/acc over the seeds, their spread, and the difference to the baseline (points)."""
    names = dict.fromkeys(r["variant"] for r in runs)  # in the order they ran, baseline first
    accs = {name: [r["val_acc"] for r in runs if r["variant"] == name] for name in names}
    base = mean(accs["baseline"])
    return [
        {
            "variant": name,
            "overrides": VARIANTS[name],
            "seeds": len(a),
            "mean_val_acc": mean(a),
            "spread": max(a) - min(a),
            "vs_baseline_points": 100 * (mean(a) - base),
        }
        for name, a in accs.items()
    ]


def table(rows: list[dict], epochs: int) -> str:
    lines = [
        f"| ResNet-20, fast recipe, {epochs} epochs | val/acc (mean of seeds) | seeds' spread | vs baseline |",
        "|---|---|---|---|",
    ]
    for r in rows:
        change = "" if r["variant"] == "baseline" else f"{r['vs_baseline_points']:+.2f} points"
        option = " ".join(r["overrides"]) or "(the recipe as it is)"
        lines.append(
            f"| {r['variant']}: `{option}` | {100 * r['mean_val_acc']:.2f} % | "
            f"{100 * r['spread']:.2f} points ({r['seeds']} seeds) | {change} |"
        )
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs-dir", type=Path, required=True, help="one run directory per variant and seed")
    parser.add_argument("--epochs", type=int, default=5, help="trainer.max_epochs of every run (the one-cycle follows)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument(
        "--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS, help="(baseline always runs)"
    )
    add_train_run_args(parser)
    args = parse_train_run_args(parser, argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    names = ["baseline", *(v for v in args.variants if v != "baseline")]
    runs = [train_variant(name, seed, args) for seed in args.seeds for name in names]
    rows = summary(runs)
    print(table(rows, args.epochs))
    if args.json:
        settings = {"experiment": EXPERIMENT, "epochs": args.epochs, "seeds": args.seeds, "overrides": args.override}
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        write_payload(args.json, "feature_accuracy", device, {**settings, "runs": runs}, rows)
    return rows


if __name__ == "__main__":
    main()
