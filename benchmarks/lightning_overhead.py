"""Overhead of the Lightning training layer: ``ZooClassifier`` fitted by ``L.Trainer`` against a bare PyTorch loop.

Both loops train the same network object (``ZooClassifier.net`` after ``configure_model``, so channels_last and
torch.compile are applied once for both) with the same optimizer (``ZooClassifier.configure_optimizers``: the same
parameter groups, fused SGD on CUDA), the same DataLoader over an in-memory TensorDataset and the same autocast
precision. A step's time is the interval between consecutive batch starts (batch already on the device, CUDA
synced), so it covers everything a loop does per step: loading, the step itself, and on the Lightning side its hooks,
``ZooClassifier``'s logging and torchmetrics accuracy updates. A run is one epoch of warm-up + steps + 1 batches;
rounds alternate bare run, Lightning fit, bare run, ...

    overhead = Lightning median step time / bare median step time      (target <= 1.05)

    python benchmarks/lightning_overhead.py                              # GPU: resnet18_cifar at 32, resnet50 at 224
    python benchmarks/lightning_overhead.py --device cpu --json cpu.json
    python benchmarks/lightning_overhead.py --precision bf16 --channels-last --compile
"""

from __future__ import annotations

import logging
import tempfile
import time
import warnings

import lightning as L
import torch
from common import (
    OPTIMIZER,
    Setting,
    build_parser,
    check_zoo_names,
    fmt,
    format_table,
    interleave,
    measure_all,
    parse_args,
    peak_memory_mib,
    publish,
    release_memory,
    reset_peak_memory,
    setup_backend,
    step_stats,
    synchronize,
    synthetic_images,
    train_step,
)
from lightning.fabric.utilities.warnings import PossibleUserWarning
from torch.utils.data import DataLoader, TensorDataset

from zoo import model_info
from zootrain.module import ZooClassifier

TARGET = 1.05
CPU_DEFAULTS = {"models": ["resnet18_cifar"], "batch_size": 16, "image_size": None, "steps": 15, "warmup": 3}
CUDA_DEFAULTS = {
    "models": ["resnet18_cifar", "resnet50"],
    "batch_size": 256,
    "image_size": None,
    "steps": 40,
    "warmup": 10,
}


class BatchStartClock(L.Callback):
    """``perf_counter`` at every batch start, after the batch reached the device and the device is idle."""

    def __init__(self, device: torch.device):
        self.device, self.stamps = device, []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        synchronize(self.device)
        self.stamps.append(time.perf_counter())


def steady_intervals(stamps: list[float], warmup: int) -> list[float]:
    """Step times after the first ``warmup`` steps: differences of consecutive batch-start stamps."""
    return [end - start for start, end in zip(stamps[warmup:], stamps[warmup + 1 :])]


def bare_run(module: ZooClassifier, loader: DataLoader, setting: Setting, warmup: int) -> list[float]:
    net, device = module.net, module.device
    optimizer = module.configure_optimizers()  # scheduler=None: the optimizer alone
    memory_format = torch.channels_last if setting.channels_last else torch.contiguous_format
    stamps = []
    net.train()
    for x, y in loader:
        x = x.to(device, non_blocking=True).contiguous(memory_format=memory_format)
        y = y.to(device, non_blocking=True)
        synchronize(device)
        stamps.append(time.perf_counter())
        train_step(net, optimizer, x, y, net.aux_weights, setting.precision)
    return steady_intervals(stamps, warmup)


def lightning_run(module: ZooClassifier, loader: DataLoader, setting: Setting, warmup: int) -> list[float]:
    device = module.device
    clock = BatchStartClock(device)
    with tempfile.TemporaryDirectory() as root:
        trainer = L.Trainer(
            accelerator="gpu" if device.type == "cuda" else "cpu",
            devices=1,
            precision="bf16-mixed" if setting.precision == "bf16" else "32-true",
            max_steps=len(loader),
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            limit_val_batches=0,
            callbacks=[clock],
            default_root_dir=root,
        )
        trainer.fit(module, train_dataloaders=loader)
    module.trainer = None  # drop the trainer and its optimizer state before the next run
    return steady_intervals(clock.stamps, warmup)


def measure(name: str, setting: Setting, args) -> dict:
    device, batch_size = args.device, args.batch_size
    info = model_info(name)
    in_chans = info.input_size[0]
    image_size = args.image_size or info.input_size[1]
    n_batches = args.warmup + args.steps + 1  # one epoch per run: no epoch boundary inside the timed steps
    images, labels = synthetic_images(n_batches * batch_size, in_chans, image_size, info.num_classes)
    loader = DataLoader(
        TensorDataset(images, labels),
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        pin_memory=device.type == "cuda",
    )
    torch.manual_seed(0)
    module = ZooClassifier(
        model={"name": name, "num_classes": info.num_classes, "in_chans": in_chans, "kwargs": {}},
        optimizer=dict(OPTIMIZER),
        scheduler=None,
        channels_last=setting.channels_last,
        compile=setting.compile,
    ).to(device)
    module.configure_model()  # once for both loops; Lightning's own call then changes nothing
    loops = {"bare": bare_run, "lightning": lightning_run}
    peaks = dict.fromkeys(loops, None)

    def run_with_memory(loop: str) -> list[float]:
        module.net.zero_grad(set_to_none=True)  # the previous run's gradients would count in this run's peak
        release_memory(device)
        reset_peak_memory(device)
        intervals = loops[loop](module, loader, setting, args.warmup)
        peak = peak_memory_mib(device)
        peaks[loop] = peak if peaks[loop] is None else max(peaks[loop], peak)
        return intervals

    times = interleave({loop: lambda loop=loop: run_with_memory(loop) for loop in loops}, args.rounds)
    sides = {
        loop: {**step_stats(times[loop], batch_size), "peak_memory_mib": peaks[loop], "step_times_s": times[loop]}
        for loop in loops
    }
    bare, lightning = sides["bare"], sides["lightning"]
    return {
        "model": name,
        "setting": setting.label,
        "precision": setting.precision,
        "channels_last": setting.channels_last,
        "compile": setting.compile,
        "image_size": image_size,
        "batch_size": batch_size,
        "rounds": args.rounds,
        **sides,
        "overhead": lightning["median_step_s"] / bare["median_step_s"],
        "overhead_mean": lightning["mean_step_s"] / bare["mean_step_s"],
        "target": TARGET,
    }


def table(results: list[dict]) -> str:
    headers = [
        "model",
        "setting",
        "image",
        "batch",
        "bare img/s",
        "lightning img/s",
        "overhead",
        "mean overhead",
        f"<= {TARGET}",
        "bare MiB",
        "lightning MiB",
    ]
    rows = [
        [
            r["model"],
            r["setting"],
            r["image_size"],
            r["batch_size"],
            fmt(r["bare"]["images_per_s"]),
            fmt(r["lightning"]["images_per_s"]),
            fmt(r["overhead"], 3),
            fmt(r["overhead_mean"], 3),
            "yes" if r["overhead"] <= TARGET else "NO",
            fmt(r["bare"]["peak_memory_mib"], 0),
            fmt(r["lightning"]["peak_memory_mib"], 0),
        ]
        for r in results
    ]
    return format_table(headers, rows)


def main(argv=None) -> list[dict]:
    parser = build_parser(__doc__, CPU_DEFAULTS, CUDA_DEFAULTS)
    parser.add_argument("--rounds", type=int, default=3, help="alternating bare/Lightning runs per model (default: 3)")
    args = parse_args(parser, argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    check_zoo_names(parser, args.models)
    setup_backend(args.device)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no "GPU available" / "max_steps reached" lines
    warnings.filterwarnings("ignore", category=PossibleUserWarning)  # e.g. "the dataloader does not have many workers"
    warnings.filterwarnings("ignore", category=FutureWarning, module="lightning")  # its own use of torch APIs
    results = measure_all(
        args,
        measure,
        lambda name, setting: (
            f"{args.rounds} rounds of {args.warmup} warm-up + {args.steps} timed steps, bare loop then Lightning"
        ),
    )
    publish(
        results,
        f"Lightning (ZooClassifier + L.Trainer) vs bare PyTorch loop on {args.device}: images/s from the "
        f"median step time of {args.rounds} x {args.steps} steps; overhead = Lightning / bare time per image "
        "(mean: from mean step times); MiB = peak CUDA memory allocated",
        table(results),
        "lightning_overhead",
        args,
    )
    return results


if __name__ == "__main__":
    main()
