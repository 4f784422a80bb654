"""CPU train-step throughput per family: fp32 vs bf16 autocast vs channels_last vs both; and whether bf16 keeps the
accuracy. Together they decide what ``precision=auto`` / ``channels_last=auto`` pick on a CPU.

Timing (default): one representative per family (the zoo module its factory lives in) at a CPU-sized input: the
CIFAR-sized member at 32 px where the family has one, else a small input the model accepts. Every setting trains its
own copy of the same network (same seed) on the same synthetic batch; each copy warms up alone, then timed steps go
round the settings (fp32, fp32+cl, bf16, bf16+cl, fp32, ...) so machine noise hits them alike. Images/s = batch /
median step; "fastest" is the fastest setting if it beats fp32 by at least ``--margin`` (1.10), else fp32.

Accuracy (``--accuracy``): the default digits run (``python train.py``) with each family's model at the same input
size, ``--seeds`` seeds in fp32 and in bf16 + channels_last; bf16 keeps the accuracy when its mean final val/acc is
no lower than fp32's by more than fp32's own seed-to-seed spread (at least 0.5 points), and fp32 learned the digits
(mean >= 50 %; a model at chance on both sides proves nothing).

``zootrain.hardware.CPU_FAST_PATH`` is the fastest setting per family, bf16 allowed only where it kept the accuracy;
``tests/test_hardware.py`` derives it from the two committed JSON files and compares.

    python benchmarks/cpu_fast_path.py --json benchmarks/results/cpu_fast_path.json
    python benchmarks/cpu_fast_path.py --accuracy --families resnet_cifar --json accuracy.json
    python benchmarks/cpu_fast_path.py --families resnet_cifar --steps 3 --rounds 1            # quick look
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
from pathlib import Path

import torch
from common import (
    Setting,
    fmt,
    format_table,
    interleave,
    prepare_model,
    progress,
    sgd,
    step_stats,
    synthetic_images,
    timed,
    train_step,
    write_payload,
)

from zoo import create_model, model_info

REPRESENTATIVES = {  # family -> (model, image side)
    "lenet": ("lenet5", 32),
    "alexnet": ("alexnet_cifar", 32),
    "vgg": ("vgg11_bn_cifar", 32),
    "googlenet": ("googlenet_cifar", 32),
    "bn_inception": ("bn_inception", 64),
    "inception_v3": ("inception_v3", 75),
    "inception_v4": ("inception_v4", 75),
    "inception_resnet": ("inception_resnet_v2", 75),
    "resnet": ("resnet18_cifar", 32),
    "resnet_cifar": ("resnet20", 32),
    "densenet": ("densenet_bc100_cifar", 32),
}
SETTINGS = (Setting(), Setting("fp32", True), Setting("bf16"), Setting("bf16", True))
SETTING_LABELS = tuple(s.label for s in SETTINGS)
SIDES = ("fp32", "bf16+cl")  # --accuracy: plain fp32 against the fastest setting of most families
CPU = torch.device("cpu")


def measure(name: str, image_size: int, args) -> dict:
    info = model_info(name)
    images, labels = synthetic_images(args.batch_size, info.input_size[0], image_size, 10)
    runs = {}
    for setting in SETTINGS:
        torch.manual_seed(0)
        model = prepare_model(create_model(name, num_classes=10, in_chans=info.input_size[0]), CPU, setting)
        x = images.contiguous(memory_format=torch.channels_last if setting.channels_last else torch.contiguous_format)
        step = functools.partial(
            train_step, model, sgd(model.parameters(), CPU), x, labels, tuple(model.aux_weights), setting.precision
        )
        for _ in range(args.warmup):
            step()
        runs[setting.label] = lambda step=step: [timed(step, CPU) for _ in range(args.steps)]
    times = interleave(runs, args.rounds)
    stats = {label: step_stats(t, args.batch_size) for label, t in times.items()}
    fp32 = stats["fp32"]["images_per_s"]
    return {
        "family": info.family,
        "model": name,
        "image_size": image_size,
        "batch_size": args.batch_size,
        "settings": stats,
        "speedup": {label: s["images_per_s"] / fp32 for label, s in stats.items()},
    }


def fastest(speedup: dict[str, float], margin: float, allowed=SETTING_LABELS) -> str:
    """The fastest of the ``allowed`` settings when it beats fp32 by ``margin``, else fp32 (the CPU default rule)."""
    best = max(allowed, key=speedup.get)
    return best if speedup[best] >= margin else "fp32"


LEARNED = 0.5  # fp32's mean final accuracy on the ten digits must reach this for the comparison to say anything


def keeps_accuracy(fp32: list[float], bf16: list[float]) -> bool:
    """fp32 learned the digits, and bf16's mean final accuracy is no lower than fp32's by more than fp32's own
    seed-to-seed spread (or 0.5 points). A model that stays at chance in both proves nothing: not kept."""
    spread = max(statistics.stdev(fp32) if len(fp32) > 1 else 0.0, 0.005)
    return statistics.fmean(fp32) >= LEARNED and statistics.fmean(bf16) >= statistics.fmean(fp32) - spread


def accuracy(family: str, seeds: int, epochs: int) -> dict:
    """Final val/acc of the default digits run with the family's model, fp32 vs bf16 + channels_last, per seed."""
    from time_to_accuracy import QUIET, compose_run

    from zootrain.run import train

    name, size = REPRESENTATIVES[family]
    sides = {
        "fp32": ["trainer.precision=32-true", "channels_last=false"],
        "bf16+cl": ["trainer.precision=bf16-mixed", "channels_last=true"],
    }
    finals: dict[str, list[float]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory(prefix="cpu_fast_path-") as scratch:
        for seed in range(42, 42 + seeds):
            for side, overrides in sides.items():
                run = [*QUIET, "trainer.accelerator=cpu", f"model={name}", "model.variant=none"]
                run += [f"dataset.image_size={size}", f"trainer.max_epochs={epochs}", f"seed={seed}", *overrides]
                finals[side].append(train(compose_run(run, Path(scratch) / f"{side}-{seed}"))["val/acc"])
                progress(f"  {name} {side} seed {seed}: val/acc {finals[side][-1]:.4f}")
    return {
        "family": family,
        "model": name,
        "image_size": size,
        "epochs": epochs,
        **{side: {"val_acc": v, "mean": statistics.fmean(v)} for side, v in finals.items()},
        "keeps_accuracy": keeps_accuracy(finals["fp32"], finals["bf16+cl"]),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", nargs="+", choices=tuple(REPRESENTATIVES), default=list(REPRESENTATIVES))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per setting first")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per setting and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of all settings in turn")
    parser.add_argument("--margin", type=float, default=1.10, help="speed-up a setting needs over fp32 to be chosen")
    parser.add_argument(
        "--accuracy",
        action="store_true",
        help="instead of timing: train each family's model on the digits in fp32 and in bf16 + channels_last",
    )
    parser.add_argument("--seeds", type=int, default=3, help="--accuracy: runs per side (default: 3)")
    parser.add_argument("--epochs", type=int, default=15, help="--accuracy: epochs per run (default: 15)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--json", type=Path, help="write results and environment to this file")
    return parser


def report_speed(results: list[dict], args) -> None:
    labels = [s.label for s in SETTINGS]
    rows = [
        [r["family"], r["model"], r["image_size"]]
        + [fmt(r["settings"][label]["images_per_s"]) for label in labels]
        + [f"{r['fastest']} {r['speedup'][r['fastest']]:.2f}x"]
        for r in results
    ]
    print(f"\nCPU train step, images/s (batch {args.batch_size}, {torch.get_num_threads()} threads)\n")
    print(format_table(["family", "model", "px", *labels, f"fastest (>= {args.margin}x)"], rows, text_columns=2))


def report_accuracy(results: list[dict]) -> None:
    rows = [
        [r["family"], r["model"], r["epochs"]]
        + [f"{fmt(r[side]['mean'], 4)} ({', '.join(f'{a:.4f}' for a in r[side]['val_acc'])})" for side in SIDES]
        + ["yes" if r["keeps_accuracy"] else "NO"]
        for r in results
    ]
    print("\nDigits, final val/acc: mean (per seed)\n")
    print(format_table(["family", "model", "epochs", *SIDES, "bf16 keeps accuracy"], rows, text_columns=2))


def main(argv=None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    if min(args.batch_size, args.steps, args.rounds, args.seeds, args.epochs, args.threads or 1) < 1:
        parser.error("--batch-size, --steps, --rounds, --seeds, --epochs and --threads must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must be at least 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    for family in args.families:
        name, size = REPRESENTATIVES[family]
        if args.accuracy:
            progress(f"{family}: {name} on the digits at {size} px, fp32 vs bf16+cl, {args.seeds} seeds")
            results.append(accuracy(family, args.seeds, args.epochs))
        else:
            progress(f"{family}: {name} at {size} px, batch {args.batch_size}")
            result = measure(name, size, args)
            results.append(result | {"fastest": fastest(result["speedup"], args.margin)})
    if args.accuracy:
        report_accuracy(results)
    else:
        report_speed(results, args)
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k != "json"}
        write_payload(args.json, "cpu_fast_path", CPU, settings, results)
    return {"results": results}


if __name__ == "__main__":
    main()
