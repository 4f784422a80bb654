"""The default run, end to end: ``python train.py`` against a bare PyTorch script that trains the same network on the
same data with the same recipe, each a fresh process timed from start to exit (imports included).

The bare side (this file run with ``--bare``) is what a user would write by hand: scikit-learn's digits with the
same held-out test split and a stratified 15 % validation split, resized once to 32 px and normalised, zoo's
``lenet5`` (a plain ``nn.Module``), SGD with Nesterov momentum 0.9, lr 0.05, weight decay 5e-4 (none on biases),
warm-up + cosine per step, batch 32, 15 epochs (``--epochs``), a validation pass after each epoch, in fp32. The
training side is ``python train.py`` exactly as the README runs it, with its own run directory. The sides alternate
(train.py, bare, train.py, ...) for ``--rounds`` rounds; each side's figure is the median wall over rounds.

    python benchmarks/default_run.py --rounds 5 --json benchmarks/results/default_run.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import progress, write_payload

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EPOCHS = 15  # configs/trainer/auto.yaml
BATCH, LR, MOMENTUM, WEIGHT_DECAY, WARMUP = 32, 0.05, 0.9, 5e-4, 0.05


def bare(epochs: int, threads: int | None) -> dict:
    """The hand-written side: returns the final validation accuracy."""
    import torch.nn.functional as F
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from zoo import create_model

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(42)
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(digits.target)
    kept, _ = train_test_split(range(len(labels)), test_size=0.15, stratify=labels, random_state=0)
    train_idx, val_idx = train_test_split(kept, test_size=0.15, stratify=labels[kept], random_state=42)
    images = F.interpolate(images, size=32, mode="bilinear", antialias=True, align_corners=False)
    images = (images - images[train_idx].mean()) / images[train_idx].std()
    x_train, y_train, x_val, y_val = images[train_idx], labels[train_idx], images[val_idx], labels[val_idx]

    model = create_model("lenet5", num_classes=10, in_chans=1)
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}]
    optimizer = torch.optim.SGD(groups, lr=LR, momentum=MOMENTUM, nesterov=True)
    steps_per_epoch = math.ceil(len(x_train) / BATCH)
    total, warmup = epochs * steps_per_epoch, int(epochs * steps_per_epoch * WARMUP)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    accuracy = 0.0
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(x_train)).split(BATCH):
            loss = F.cross_entropy(model(x_train[batch]), y_train[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
        model.eval()
        with torch.no_grad():
            accuracy = (model(x_val).argmax(1) == y_val).float().mean().item()
    return {"val_acc": accuracy}


def run_side(side: str, scratch: Path, index: int, args: argparse.Namespace) -> dict:
    """One fresh process of ``side``: the README's ``python train.py`` as is unless --epochs/--threads say otherwise."""
    if side == "bare":
        command = [sys.executable, __file__, "--bare", "--epochs", str(args.epochs)]
        command += ["--threads", str(args.threads)] if args.threads else []
    else:
        command = [sys.executable, "train.py", f"hydra.run.dir={scratch / f'run{index}'}"]
        command += [] if args.epochs == DEFAULT_EPOCHS else [f"trainer.max_epochs={args.epochs}"]
        command += [f"threads={args.threads}"] if args.threads else []
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    if side == "bare":
        accuracy = json.loads(done.stdout.strip().splitlines()[-1])["val_acc"]
    else:
        accuracy = json.loads((scratch / f"run{index}" / "metrics.json").read_text())["val/acc"]
    return {"wall_s": wall, "val_acc": accuracy}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="runs per side, alternating (default: 3)")
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help="epochs of both sides (default: 15)")
    parser.add_argument("--threads", type=int, help="CPU threads of both sides (default: each side's own choice)")
    parser.add_argument("--json", type=Path, help="write results and environment to this file")
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)  # the bare side's own process
    args = parser.parse_args(argv)
    if min(args.rounds, args.epochs, args.threads or 1) < 1:
        parser.error("--rounds, --epochs and --threads must be at least 1")
    if args.bare:
        print(json.dumps(bare(args.epochs, args.threads)))
        return {}
    if args.threads:
        torch.set_num_threads(args.threads)  # recorded in the JSON's environment
    sides: dict[str, list[dict]] = {"train.py": [], "bare": []}
    with tempfile.TemporaryDirectory(prefix="default_run-") as scratch:
        for index in range(args.rounds):
            for side, runs in sides.items():
                runs.append(run_side(side, Path(scratch), index, args))
                progress(f"round {index + 1}: {side} {runs[-1]['wall_s']:.2f} s, val/acc {runs[-1]['val_acc']:.4f}")
    summary = {
        side: {
            "median_wall_s": statistics.median(r["wall_s"] for r in runs),
            "min_val_acc": min(r["val_acc"] for r in runs),
            "runs": runs,
        }
        for side, runs in sides.items()
    }
    summary["ratio"] = summary["train.py"]["median_wall_s"] / summary["bare"]["median_wall_s"]
    print(
        f"\npython train.py: {summary['train.py']['median_wall_s']:.2f} s median wall, val/acc >= "
        f"{summary['train.py']['min_val_acc']:.4f}; bare script: {summary['bare']['median_wall_s']:.2f} s, "
        f"val/acc >= {summary['bare']['min_val_acc']:.4f}; ratio {summary['ratio']:.2f} "
        "(targets: <= 10 s and >= 0.98 for train.py, ratio <= 1.5)"
    )
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k not in ("json", "bare")}
        write_payload(args.json, "default_run", torch.device("cpu"), settings, [summary])
    return summary


if __name__ == "__main__":
    main()
