"""CPU train-step throughput per family: fp32 vs bf16 autocast vs channels_last vs both, and the policy they imply.

One representative per family (the zoo module its factory lives in), at a CPU-sized input: the CIFAR-sized member
at 32 px where the family has one, else the smallest input the model accepts. Every setting trains its own copy of
the same network (same seed) on the same synthetic batch; each copy warms up alone, then timed steps go round the
settings (fp32, fp32+cl, bf16, bf16+cl, fp32, ...) so machine noise hits them alike. Images/s = batch / median step.

The policy row per family is the fastest setting if it beats fp32 by at least ``--margin`` (default 1.10×), else
fp32: ``zootrain.hardware.CPU_FAST_PATH`` holds it, and a test checks that table against the JSON committed in
``benchmarks/results/cpu_fast_path.json``. ``--accuracy-seeds N`` then trains each family whose policy is not
fp32 on the digits (the default ``python train.py`` run with that model) N times in fp32 and N times with the policy,
and reports final val/acc: a setting that loses accuracy must not be a default.

    python benchmarks/cpu_fast_path.py --json benchmarks/results/cpu_fast_path.json --accuracy-seeds 3
    python benchmarks/cpu_fast_path.py --models resnet20 --steps 3 --rounds 1            # quick look
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
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


def policy(result: dict, margin: float) -> str:
    """The fastest setting when it beats fp32 by ``margin``, else fp32."""
    best = max(result["speedup"], key=result["speedup"].get)
    return best if result["speedup"][best] >= margin else "fp32"


def accuracy(name: str, label: str, seeds: int) -> dict:
    """Final val/acc of the default digits run with ``name``, fp32 vs the setting ``label``, over ``seeds`` seeds."""
    from time_to_accuracy import QUIET, compose_run

    from zootrain.run import train

    bf16, channels_last = label.startswith("bf16"), label.endswith("+cl")
    sides = {
        "fp32": ["trainer.precision=32-true", "channels_last=false"],
        label: [f"trainer.precision={'bf16-mixed' if bf16 else '32-true'}", f"channels_last={channels_last}"],
    }
    finals: dict[str, list[float]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory(prefix="cpu_fast_path-") as scratch:
        for seed in range(42, 42 + seeds):
            for side, overrides in sides.items():
                cfg = compose_run(
                    [*QUIET, "trainer.accelerator=cpu", f"model.name={name}", f"seed={seed}", *overrides],
                    Path(scratch) / f"{name}-{side}-{seed}",
                )
                finals[side].append(train(cfg)["val/acc"])
                progress(f"  {name} {side} seed {seed}: val/acc {finals[side][-1]:.4f}")
    return {
        side: {"val_acc": v, "mean": statistics.fmean(v), "std": statistics.stdev(v) if len(v) > 1 else None}
        for side, v in finals.items()
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", nargs="+", choices=tuple(REPRESENTATIVES), default=list(REPRESENTATIVES))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per setting first")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per setting and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of all settings in turn")
    parser.add_argument("--margin", type=float, default=1.10, help="speed-up a setting needs over fp32 to be chosen")
    parser.add_argument("--accuracy-seeds", type=int, default=0, help="digits runs per side for non-fp32 choices")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--json", type=Path, help="write results and environment to this file")
    return parser


def main(argv=None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    if min(args.batch_size, args.steps, args.rounds, args.threads or 1) < 1 or args.warmup < 0:
        parser.error("--batch-size, --steps, --rounds and --threads must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    for family in args.families:
        name, size = REPRESENTATIVES[family]
        progress(f"{family}: {name} at {size} px, batch {args.batch_size}")
        result = measure(name, size, args)
        result["policy"] = policy(result, args.margin)
        results.append(result)
    for result in results:
        if args.accuracy_seeds and result["policy"] != "fp32":
            progress(f"{result['family']}: digits accuracy, fp32 vs {result['policy']}")
            result["digits_val_acc"] = accuracy(result["model"], result["policy"], args.accuracy_seeds)
    labels = [s.label for s in SETTINGS]
    rows = [
        [r["family"], r["model"], r["image_size"]]
        + [fmt(r["settings"][label]["images_per_s"]) for label in labels]
        + [f"{r['speedup'][r['policy']]:.2f}x {r['policy']}"]
        for r in results
    ]
    print(f"\nCPU train step, images/s (batch {args.batch_size}, {torch.get_num_threads()} threads)\n")
    print(format_table(["family", "model", "px", *labels, "policy"], rows, text_columns=2))
    for r in results:
        if "digits_val_acc" in r:
            acc = r["digits_val_acc"]
            print(
                f"{r['family']}: digits val/acc "
                + ", ".join(f"{s} {fmt(a['mean'], 4)} ± {fmt(a['std'], 4)}" for s, a in acc.items())
            )
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k != "json"}
        write_payload(args.json, Path(sys.argv[0]).name, CPU, settings, results)
    return {"results": results}


if __name__ == "__main__":
    main()
