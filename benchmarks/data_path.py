"""Data-path throughput: CIFAR-10 training batches from the batched (GPU-resident) loader vs the ordinary DataLoader.

Every side serves the train split of the same ``ImageClassificationData`` (cifar10 from the JPEG zip at
``--zip-path``, the train split after holding out val_fraction 0.1, random crop with padding 4 + horizontal flip,
normalisation):

- ``gpu_resident``: the datamodule's training loader, ``BatchedLoader``: the uint8 images on the device once, each batch
  gathered, augmented and normalised there;
- ``dataloader``: the baseline the batched path replaced, torchvision v2 transforms per image of the same train split
  in a ``torch.utils.data.DataLoader`` (``PerImage``),
  once with no workers (the main process) and once with
  ``--workers`` (default min(8, CPUs)) worker processes; each batch is moved to the device inside the timing
  (non_blocking, from pinned memory on CUDA), as Lightning would before a training step.

No model runs: this is the rate at which each path can feed one. A round is ``--warmup`` untimed batches (worker
start-up, and draining what the workers prefetched while another side ran) followed by ``--batches`` timed ones,
with one device sync at the end; rounds alternate the sides. images/s = timed images / seconds, the median over
rounds; ratio = gpu_resident images/s / that side's images/s (target on a GPU: >= 5 against the faster DataLoader).

    python benchmarks/data_path.py                                 # GPU: batch 512, 3 x (20 + 200) batches
    python benchmarks/data_path.py --device cpu --json cpu.json    # batch 128, 3 x (10 + 100) batches
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import torch
from common import DATA_DIR, fmt, format_table, progress, synchronize, write_payload
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from zootrain.data import ZIP_ENV, ImageClassificationData

TARGET = 5.0
DEFAULTS = {
    "cpu": {"batch_size": 128, "batches": 100, "warmup": 10},
    "cuda": {"batch_size": 512, "batches": 200, "warmup": 20},
}


def build_parser() -> argparse.ArgumentParser:
    def default(key: str) -> str:
        return f"default: {DEFAULTS['cpu'][key]} on cpu, {DEFAULTS['cuda'][key]} on cuda"

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, help=default("batch_size"))
    parser.add_argument("--batches", type=int, help="timed batches per side and round, " + default("batches"))
    parser.add_argument("--warmup", type=int, help="untimed batches per side and round first, " + default("warmup"))
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of all sides (default: 3)")
    parser.add_argument(
        "--workers",
        type=int,
        default=min(8, os.cpu_count() or 1),
        help="worker processes of the second DataLoader side (default: min(8, CPUs) = %(default)s)",
    )
    parser.add_argument(
        "--data-dir",
        default=str(DATA_DIR),
        help="dataset root, where the decoded CIFAR-10 cache lives (default: %(default)s)",
    )
    parser.add_argument(
        "--zip-path",
        default=os.environ.get(ZIP_ENV),
        help=f"the CIFAR-10 JPEG zip, or a folder laid out cifar10/train/<class>/*.jpg (default: "
        f"${ZIP_ENV}, as dataset=cifar10; unset: CIFAR-10 under --data-dir)",
    )
    parser.add_argument("--threads", type=int, help="CPU threads for torch in the main process (default: torch's)")
    parser.add_argument("--json", type=Path, help="write results and environment to this file")
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    for key, value in DEFAULTS[args.device].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if min(args.batch_size, args.batches, args.warmup, args.rounds, args.workers, args.threads or 1) < 1:
        parser.error("--batch-size, --batches, --warmup, --rounds, --workers and --threads must be at least 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    args.device = torch.device(args.device)
    return args


def training_data(args) -> ImageClassificationData:
    """The datamodule whose training loader is the batched path, for one process on ``args.device``."""
    data = ImageClassificationData("cifar10", root=args.data_dir, zip_path=args.zip_path, batch_size=args.batch_size)
    # Outside a Trainer the datamodule places the GPU-resident images on the CPU; it reads the device, rank, world
    # size and overfit_batches from its trainer, so a stand-in with those puts them on the benchmarked device.
    data.trainer = SimpleNamespace(
        strategy=SimpleNamespace(root_device=args.device), global_rank=0, world_size=1, overfit_batches=0
    )
    data.prepare_data()
    return data


class PerImage(Dataset):
    """The baseline: each uint8 image of a split cropped (padding 4), flipped and normalised on its own."""

    def __init__(self, data: ImageClassificationData):
        split = data.splits["train"]
        self.images, self.labels = split.images, split.labels
        self.transform = v2.Compose(
            [
                v2.RandomCrop(32, padding=4),
                v2.RandomHorizontalFlip(),
                v2.ToDtype(torch.float32, scale=True),
                v2.Normalize(list(data.mean), list(data.std)),
            ]
        )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.transform(self.images[i]), self.labels[i]


def per_image_loader(args, data: ImageClassificationData, num_workers: int) -> DataLoader:
    return DataLoader(
        PerImage(data),
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=num_workers,
        pin_memory=args.device.type == "cuda",
        persistent_workers=num_workers > 0,
    )


def endless(loader) -> Iterator:
    """Batches across epoch boundaries (each pass a new epoch, as in training)."""
    return itertools.chain.from_iterable(iter(loader) for _ in itertools.count())


class Side:
    """One data path: its batch stream, kept alive across rounds (persistent workers keep their processes)."""

    def __init__(self, name: str, loader, device: torch.device, on_host: bool):
        self.name, self.device, self.on_host = name, device, on_host
        self.stream = endless(loader)
        self.images_per_s: list[float] = []
        self.first_batch_s: float | None = None

    def next_batch(self):
        x, y = next(self.stream)
        if self.on_host:  # the copy a training step would wait for; pinned memory makes it asynchronous
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        return x, y

    def round(self, warmup: int, batches: int) -> None:
        start = time.perf_counter()
        self.next_batch()
        synchronize(self.device)
        if self.first_batch_s is None:  # the first batch of all: worker start-up, first transfer
            self.first_batch_s = time.perf_counter() - start
        for _ in range(warmup - 1):
            self.next_batch()
        synchronize(self.device)
        start = time.perf_counter()
        images = 0
        for _ in range(batches):
            images += len(self.next_batch()[1])
        synchronize(self.device)
        self.images_per_s.append(images / (time.perf_counter() - start))

    def result(self, **extra) -> dict:
        return {
            "side": self.name,
            "images_per_s": statistics.median(self.images_per_s),
            "round_images_per_s": self.images_per_s,
            "first_batch_s": self.first_batch_s,
            **extra,
        }


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    device = args.device
    progress(f"loading CIFAR-10 (the first run decodes the JPEGs once into {args.data_dir}/.cache, ~5 s)")
    data = training_data(args)
    sides = [Side("gpu_resident", data.train_dataloader(), device, on_host=False)]
    extra = {"gpu_resident": {"workers": None, "pin_memory": None}}
    for workers in (0, args.workers):
        loader = per_image_loader(args, data, workers)
        name = f"dataloader_w{loader.num_workers}"
        sides.append(Side(name, loader, device, on_host=True))
        extra[name] = {"workers": loader.num_workers, "pin_memory": loader.pin_memory}
    train_images = len(data.splits["train"])
    for r in range(args.rounds):
        for side in sides:
            progress(
                f"round {r + 1}/{args.rounds}: {side.name}, {args.warmup} + {args.batches} batches of {args.batch_size}"
            )
            side.round(args.warmup, args.batches)

    gpu_rate = statistics.median(sides[0].images_per_s)
    results = [
        side.result(
            **extra[side.name],
            batch_size=args.batch_size,
            train_images=train_images,
            ratio_gpu_resident=gpu_rate / statistics.median(side.images_per_s),
        )
        for side in sides
    ]
    best_loader = max(results[1:], key=lambda r: r["images_per_s"])
    summary = {
        "side": "summary",
        "best_dataloader": best_loader["side"],
        "ratio_vs_best_dataloader": best_loader["ratio_gpu_resident"],
        "target": TARGET,
        # the target is the GPU's: on a CPU both paths share the same cores
        "meets_target": best_loader["ratio_gpu_resident"] >= TARGET if device.type == "cuda" else None,
    }

    print(
        f"\nCIFAR-10 training batches on {device} ({train_images:,} images, crop + flip + normalise, batch "
        f"{args.batch_size}): median over {args.rounds} rounds of {args.batches} timed batches; ratio = "
        "gpu_resident images/s / this side's; first batch = seconds to the very first batch (worker start-up)\n"
    )
    pinned = {True: "yes", False: "no", None: "-"}
    rows = [
        [
            r["side"],
            fmt(r["workers"]),
            pinned[r["pin_memory"]],
            fmt(r["images_per_s"], 0),
            fmt(min(r["round_images_per_s"]), 0),
            fmt(max(r["round_images_per_s"]), 0),
            fmt(r["ratio_gpu_resident"], 2),
            fmt(r["first_batch_s"], 2),
        ]
        for r in results
    ]
    print(
        format_table(
            ["side", "workers", "pinned", "images/s", "min", "max", "ratio", "first batch s"], rows, text_columns=1
        )
    )
    verdict = {True: "met", False: "NOT met", None: "applies on a GPU only"}[summary["meets_target"]]
    print(
        f"\ngpu_resident / best DataLoader ({best_loader['side']}): {summary['ratio_vs_best_dataloader']:.2f}x "
        f"(target >= {TARGET:g}x: {verdict})"
    )
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k != "json"} | {"device": str(device)}
        write_payload(args.json, "data_path", device, settings, results + [summary])
    return results + [summary]


if __name__ == "__main__":
    main()
