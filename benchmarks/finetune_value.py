"""What fine-tuning is worth: CIFAR-10 classes 5-9 learnt from 100 labelled images per class, from scratch and
fine-tuned from a network pretrained on classes 0-4, the README's fine-tuning figures.

1. ``experiment=cifar10_pretrain_0to4`` once (LeNet-5-modern on classes 0-4, 15 epochs);
2. for each seed, ``experiment=cifar10_scratch_5to9 seed=<s>`` and ``experiment=cifar10_finetune_5to9 seed=<s>
   finetune.init_from=<the pretrained run>/checkpoints/last.ckpt``: the same 500 images, 40 epochs and validation
   images (the held-out 2,500 of classes 5-9); only the starting weights and the per-group learning rates differ.

Each run is ``python train.py`` in a directory of its own under ``--work-dir``; its figure is the final val/acc.

    python benchmarks/finetune_value.py --json benchmarks/results/finetune_value.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch
from common import add_train_run_args, parse_train_run_args, run_train, write_payload

ARMS = {"scratch": "cifar10_scratch_5to9", "finetuned": "cifar10_finetune_5to9"}
PRETRAIN = "cifar10_pretrain_0to4"


def final_val_acc(run: dict, run_dir: Path) -> float:
    finished = run_dir / "metrics.json"
    if run["returncode"] != 0 or not finished.is_file():
        raise SystemExit(f"{' '.join(run['command'])} failed (exit code {run['returncode']}); see its output above")
    return json.loads(finished.read_text())["val/acc"]


def trained(experiment: str, run_dir: Path, overrides: list[str], threads: int | None) -> dict:
    run = run_train(experiment, run_dir, overrides, threads)
    return {"val_acc": final_val_acc(run, run_dir), "wall_s": run["wall_s"], "command": run["command"]}


def summary(values: list[float]) -> dict:
    return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="seeds of the classes 5-9 runs")
    parser.add_argument("--work-dir", type=Path, help="the runs' directories (default: a temporary folder)")
    add_train_run_args(parser)
    args = parse_train_run_args(parser, argv)
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work_dir or Path(scratch)
        pretrain = trained(PRETRAIN, work / "pretrain", args.override, args.threads)
        init = [f"finetune.init_from={(work / 'pretrain' / 'checkpoints' / 'last.ckpt').resolve()}"]
        arms = {}
        for arm, experiment in ARMS.items():
            runs = [
                trained(
                    experiment,
                    work / f"{arm}_seed{seed}",
                    [f"seed={seed}", *(init if arm == "finetuned" else []), *args.override],
                    args.threads,
                )
                for seed in args.seeds
            ]
            arms[arm] = {"experiment": experiment, "runs": runs, **summary([run["val_acc"] for run in runs])}
    result = {"pretrain": {"experiment": PRETRAIN, **pretrain}, "seeds": args.seeds, **arms}
    for arm in ARMS:
        accuracies = ", ".join(f"{run['val_acc']:.4f}" for run in arms[arm]["runs"])
        print(f"{arm}: {accuracies}  mean {arms[arm]['mean']:.4f} ± {arms[arm]['std']:.4f}")
    if args.json:
        settings = {"seeds": args.seeds, "overrides": args.override, "threads": args.threads}
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        write_payload(args.json, "finetune_value", device, settings, [result])
    return result


if __name__ == "__main__":
    main()
