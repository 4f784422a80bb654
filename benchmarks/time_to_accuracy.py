"""Time to accuracy: wall seconds of ``train(cfg)`` until the first validation reaching a target accuracy.

Each run composes the real Hydra config (configs/train.yaml + a preset + ``--override``s), calls
``zootrain.run.train`` with one extra Lightning callback, and stops once the target is reached. The callback stamps
``time.perf_counter`` at

- ``setup``: the data loaded (decoded and cached on a first CIFAR-10 run), the model and trainer built;
- ``on_train_start``: the model and, with the batched loader, the images on the device, the sanity
  validation done: the training clock starts here;
- every ``on_validation_end``: (seconds since the training clock started, epoch, step, val/acc, val/loss), and once
  val/acc >= target, ``trainer.should_stop = True`` (the epoch then ends and training stops);
- ``on_train_end``.

Time to target therefore includes every training step, validation, per-epoch plot and checkpoint of the epochs
before it (the configured callbacks run as in ``python train.py``), and excludes data loading and start-up, which are
reported separately (setup s, start s), as is the whole ``train(cfg)`` call (total s).

Presets:
  digits   the default ``python train.py`` (LeNet-5 on scikit-learn's digits), on the CPU; target 0.97 within 30 s
  cifar10  experiment=cifar10_resnet18 (CIFAR-10 from the JPEG zip at $CNN_ZOO_CIFAR10_ZIP, 5,000 images
           held out for validation, the rest on the device via the batched loader); target 0.94; meant for a GPU

    python benchmarks/time_to_accuracy.py --preset digits --seeds 3
    python benchmarks/time_to_accuracy.py --preset cifar10 --seeds 3 --json results/tta_cifar10.json
    python benchmarks/time_to_accuracy.py --preset cifar10 --override compile=true --override trainer.max_epochs=15
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from common import PROJECT_ROOT, REPO_ROOT, fmt, format_table, progress, synchronize, write_payload
from hydra import compose, initialize_config_dir
from lightning.fabric.utilities.warnings import PossibleUserWarning

from zootrain.run import train

CONFIG_DIR = REPO_ROOT / "configs"


@dataclass(frozen=True)
class Preset:
    overrides: tuple[str, ...]
    target: float
    budget_s: float | None  # the time-to-target goal, where there is one


PRESETS = {
    "digits": Preset(("trainer.accelerator=cpu",), 0.97, 30.0),
    "cifar10": Preset(("experiment=cifar10_resnet18", "dataset.val_fraction=0.1"), 0.94, None),
    # the paper's ResNet-20 figure (He et al. 2016, Table 6: 91.25 %) within an hour of a 2-core CPU
    "cifar10_cpu": Preset(("experiment=cifar10_resnet20_fast", "trainer.accelerator=cpu"), 0.9125, 3600.0),
}
# Benchmark output instead of the progress bar and model summary; a fresh run directory is never a finished run.
QUIET = ("callbacks.progress_bar.refresh_rate=0", "trainer.enable_model_summary=false", "auto_resume=false")


class TimeToAccuracy(L.Callback):
    """Stamps set-up, training start, every validation and training end; stops training at the target accuracy."""

    def __init__(self, target: float, started: float, stop_at_target: bool = True):
        self.target, self.started, self.stop_at_target = target, started, stop_at_target
        self.setup_at = self.train_start = self.train_end = self.device = None
        self.trace: list[dict] = []
        self.reached: dict | None = None

    def setup(self, trainer, pl_module, stage: str) -> None:
        self.setup_at = time.perf_counter()

    def on_train_start(self, trainer, pl_module) -> None:
        self.device = pl_module.device
        synchronize(self.device)
        self.train_start = time.perf_counter()

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        acc = float(metrics["val/acc"])  # reading it waits for the device
        row = {
            "epoch": trainer.current_epoch + 1,
            "step": trainer.global_step,
            "elapsed_s": time.perf_counter() - self.train_start,
            "val_acc": acc,
            "val_loss": float(metrics["val/loss"]) if "val/loss" in metrics else None,
        }
        self.trace.append(row)
        progress(f"  epoch {row['epoch']}: val/acc {acc:.4f} at {row['elapsed_s']:.1f} s")
        if self.reached is None and acc >= self.target:
            self.reached = row
            trainer.should_stop = self.stop_at_target

    def on_train_end(self, trainer, pl_module) -> None:
        synchronize(pl_module.device)
        self.train_end = time.perf_counter()


def compose_run(overrides: list[str], output_dir: Path):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR)):
        return compose(
            config_name="train",
            overrides=[f"paths.root_dir={PROJECT_ROOT}", f"paths.output_dir={output_dir}", *overrides],
        )


def run_once(overrides: list[str], seed: int, target: float, output_dir: Path, stop_at_target: bool = True) -> dict:
    cfg = compose_run([*overrides, f"seed={seed}"], output_dir)
    started = time.perf_counter()
    clock = TimeToAccuracy(target, started, stop_at_target)
    metrics = train(cfg, extra_callbacks=[clock])
    finished = time.perf_counter()
    last = clock.trace[-1] if clock.trace else {}
    return {
        "seed": seed,
        "model": metrics.get("model"),
        "dataset": cfg.dataset.name,
        "device": clock.device.type,
        "target": target,
        "reached": clock.reached is not None,
        "time_to_target_s": clock.reached["elapsed_s"] if clock.reached else None,
        # from the train(cfg) call: set-up and start included
        "wall_to_target_s": clock.reached["elapsed_s"] + clock.train_start - started if clock.reached else None,
        "epochs_to_target": clock.reached["epoch"] if clock.reached else None,
        "final_val_acc": last.get("val_acc"),
        "best_val_acc": max((r["val_acc"] for r in clock.trace), default=None),
        "epochs_run": last.get("epoch"),
        "setup_s": clock.setup_at - started,  # config objects, data loaded (decoded/cached), model, trainer
        "start_s": clock.train_start - clock.setup_at,  # device placement, batched loader's copy, sanity validation
        "training_s": clock.train_end - clock.train_start,
        "total_s": finished - started,  # the whole train(cfg) call: the above plus final plots and metrics.json
        "trace": clock.trace,
    }


def mean_std(values: list[float]) -> dict:
    return {
        "mean": statistics.fmean(values) if values else None,
        "std": statistics.stdev(values) if len(values) > 1 else None,
        "n": len(values),
    }


def summarise(runs: list[dict], preset: Preset, target: float) -> dict:
    reached = [r for r in runs if r["reached"]]
    summary = {key: mean_std([r[key] for r in runs]) for key in ("final_val_acc", "training_s", "total_s", "setup_s")}
    summary |= {
        key: mean_std([r[key] for r in reached]) for key in ("time_to_target_s", "wall_to_target_s", "epochs_to_target")
    }
    summary |= {"target": target, "runs": len(runs), "runs_reaching_target": len(reached), "budget_s": preset.budget_s}
    if preset.budget_s is not None:
        summary["within_budget"] = len(reached) == len(runs) and all(
            r["wall_to_target_s"] <= preset.budget_s for r in reached
        )
    return summary


def pm(stat: dict, digits: int) -> str:
    """mean ± std (n) of a ``mean_std`` result."""
    if stat["mean"] is None:
        return "-"
    std = f" ± {stat['std']:.{digits}f}" if stat["std"] is not None else ""
    return f"{stat['mean']:.{digits}f}{std}"


def report(runs: list[dict], summary: dict, preset_name: str) -> None:
    first = runs[0]
    print(
        f"\nTime to val/acc >= {summary['target']} ({preset_name}: {first['model']} on {first['dataset']}, "
        f"{first['device']}); seconds from on_train_start; setup = data loading/caching + building, start = "
        "device placement + sanity validation, total = the whole train(cfg) call\n"
    )
    headers = [
        "seed",
        "reached",
        "at epoch",
        "time to target s",
        "final val/acc",
        "epochs run",
        "training s",
        "setup s",
        "start s",
        "total s",
    ]
    rows = [
        [
            r["seed"],
            "yes" if r["reached"] else "no",
            fmt(r["epochs_to_target"]),
            fmt(r["time_to_target_s"], 2),
            fmt(r["final_val_acc"], 4),
            fmt(r["epochs_run"]),
            fmt(r["training_s"], 2),
            fmt(r["setup_s"], 2),
            fmt(r["start_s"], 2),
            fmt(r["total_s"], 2),
        ]
        for r in runs
    ]
    print(format_table(headers, rows))
    reached = (
        f"time to target {pm(summary['time_to_target_s'], 2)} s in {pm(summary['epochs_to_target'], 1)} epochs "
        f"({pm(summary['wall_to_target_s'], 2)} s wall with set-up)"
        if summary["runs_reaching_target"]
        else "no time to target"
    )
    print(
        f"\n{summary['runs_reaching_target']}/{summary['runs']} runs reached {summary['target']}: {reached}; "
        f"final val/acc {pm(summary['final_val_acc'], 4)}; training {pm(summary['training_s'], 2)} s, total "
        f"{pm(summary['total_s'], 2)} s (mean ± std over runs)"
    )
    if summary["budget_s"] is not None:
        print(
            f"wall to target (set-up included) within {summary['budget_s']:g} s in every run: "
            f"{'yes' if summary['within_budget'] else 'NO'}"
        )
    print("\nPer-validation trace (seconds since the training clock started)\n")
    trace = [
        [r["seed"], t["epoch"], t["step"], fmt(t["elapsed_s"], 2), fmt(t["val_acc"], 4), fmt(t["val_loss"], 4)]
        for r in runs
        for t in r["trace"]
    ]
    print(format_table(["seed", "epoch", "step", "elapsed s", "val/acc", "val/loss"], trace, text_columns=0))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=tuple(PRESETS), default="digits")
    parser.add_argument(
        "--target",
        type=float,
        help="val/acc to reach (default: the preset's, "
        + ", ".join(f"{k} {p.target}" for k, p in PRESETS.items())
        + ")",
    )
    parser.add_argument("--max-epochs", type=int, help="trainer.max_epochs (default: the config's)")
    parser.add_argument("--seeds", type=int, default=1, help="runs, with seeds seed, seed + 1, ... (default: 1)")
    parser.add_argument("--seed", type=int, help="first seed (default: the config's, 42)")
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Hydra override for every run, after the preset's (repeatable), e.g. "
        "--override trainer.limit_train_batches=5 --override model=lenet5_modern",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        help="keep each run's directory (config, logs, checkpoints, plots) under this folder "
        "(default: a temporary folder, removed afterwards)",
    )
    parser.add_argument(
        "--run-to-end",
        action="store_true",
        help="train every epoch of the schedule (the whole curve and the final accuracy); the time to target is "
        "still the first validation reaching it",
    )
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--json", type=Path, help="write results, per-validation traces and environment to this file")
    return parser


def main(argv=None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.seeds < 1 or (args.max_epochs is not None and args.max_epochs < 1) or (args.threads or 1) < 1:
        parser.error("--seeds, --max-epochs and --threads must be at least 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    preset = PRESETS[args.preset]
    target = preset.target if args.target is None else args.target
    epochs = [] if args.max_epochs is None else [f"trainer.max_epochs={args.max_epochs}"]
    overrides = [*QUIET, *preset.overrides, *epochs, *args.override]
    first_seed = compose_run(overrides, Path(tempfile.gettempdir())).seed if args.seed is None else args.seed
    seeds = list(range(first_seed, first_seed + args.seeds))
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no "GPU available" / "max_epochs" lines
    warnings.filterwarnings("ignore", category=PossibleUserWarning)  # e.g. "the dataloader does not have many workers"

    with tempfile.TemporaryDirectory(prefix="time_to_accuracy-") as scratch:
        base = args.output_dir or Path(scratch)
        runs = []
        for seed in seeds:
            progress(f"{args.preset}, seed {seed}: train until val/acc >= {target} ({' '.join(overrides)})")
            runs.append(run_once(overrides, seed, target, base / f"{args.preset}-seed{seed}", not args.run_to_end))
    summary = summarise(runs, preset, target)
    report(runs, summary, args.preset)
    if args.json:
        device = torch.device(runs[0]["device"])
        settings = {k: v for k, v in vars(args).items() if k != "json"} | {
            "target": target,
            "hydra_overrides": overrides,
            "seeds": seeds,
        }
        write_payload(args.json, "time_to_accuracy", device, settings, runs + [{"summary": summary}])
    return {"runs": runs, "summary": summary}


if __name__ == "__main__":
    main()
