"""The accuracy a recipe reaches: ``python train.py experiment=<name>`` run to its end, and its validation curve.

A long recipe (the ResNet paper's 182 epochs take hours on a CPU) may be trained in pieces: the run lives in
``--run-dir``; run the same command again after an interruption and ``train.py`` resumes the unfinished run from its
last checkpoint to bit-identical weights (``auto_resume``), so the figure is that of one uninterrupted run. Once the
run has finished, the JSON holds the final and best val/acc, the per-epoch validation curve from ``metrics.csv``, the
wall seconds of each piece, and the Hydra overrides.

    python benchmarks/recipe_accuracy.py --experiment cifar10_resnet20 --run-dir runs/paper_resnet20 \
        --json benchmarks/results/recipe_cifar10_resnet20.json
    python benchmarks/recipe_accuracy.py --experiment cifar10_resnet20 --run-dir /tmp/r --override trainer.max_epochs=1
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import torch
from common import add_train_run_args, parse_train_run_args, pieces_of, train_to_end, write_payload


def validation_curve(run_dir: Path) -> list[dict]:
    """(epoch, val/acc, val/loss) per validation in ``metrics.csv``, epochs counted from 1."""
    with (run_dir / "metrics.csv").open() as file:
        rows = [row for row in csv.DictReader(file) if row.get("val/acc")]
    return [
        {"epoch": int(row["epoch"]) + 1, "val_acc": float(row["val/acc"]), "val_loss": float(row["val/loss"])}
        for row in rows
    ]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", required=True, help="a configs/experiment/ recipe, e.g. cifar10_resnet20")
    parser.add_argument("--run-dir", type=Path, required=True, help="the run's directory (resumed if unfinished)")
    add_train_run_args(parser)
    args = parse_train_run_args(parser, argv)
    metrics = train_to_end(args.experiment, args.run_dir, args.override, args.threads)
    pieces = pieces_of(args.run_dir)
    curve = validation_curve(args.run_dir)
    result = {
        "experiment": args.experiment,
        "model": metrics["model"],
        "epochs": metrics["epochs"],
        "final_val_acc": metrics["val/acc"],
        "best_val_acc": max(point["val_acc"] for point in curve),
        "pieces": pieces,
        "training_wall_s": sum(p["wall_s"] for p in pieces),
        "curve": curve,
    }
    print(
        f"\n{args.experiment} ({result['model']}): val/acc {result['final_val_acc']:.4f} after {result['epochs']} "
        f"epochs (best {result['best_val_acc']:.4f}), {len(pieces)} piece(s), {result['training_wall_s']:.0f} s wall"
    )
    if args.json:
        settings = {"experiment": args.experiment, "overrides": args.override, "run_dir": str(args.run_dir)}
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        write_payload(args.json, "recipe_accuracy", device, settings, [result])
    return result


if __name__ == "__main__":
    main()
