"""Datasets for the training layer: a table of what each one is, loaders that hold small datasets as uint8
tensors in memory (decoded once, cached on disk), seeded splits, and torchvision v2 transforms.
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import datasets as tv_datasets
from tqdm import tqdm

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_CIFAR10_ZIP = REPO_ROOT.parent / "shared" / "data" / "cifar10-train-jpeg.zip"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
DIGITS_TEST_FRACTION = 0.15  # digits ships no test split; this seeded share is held out for evaluate.py


class DataConfigError(RuntimeError):
    """Data that cannot be found or used, with where we looked and what to do."""


@dataclass
class Split:
    """An in-memory split: uint8 images (N, C, H, W) and int64 labels."""

    images: Tensor
    labels: Tensor

    def subset(self, index: Tensor) -> "Split":
        return Split(self.images[index], self.labels[index])


@dataclass(frozen=True)
class DatasetSpec:
    channels: int
    native_size: int | None  # None: images of any size (folders)
    policy: str  # augmentation: mnist | cifar | imagenet
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...] | None  # None: the folder names
    in_memory: bool


GREY = ((0.5,), (0.5,))
DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec(1, 8, "mnist", *GREY, tuple(str(d) for d in range(10)), True),
    "mnist": DatasetSpec(1, 28, "mnist", (0.1307,), (0.3081,), tuple(str(d) for d in range(10)), True),
    "fashion_mnist": DatasetSpec(1, 28, "mnist", (0.2860,), (0.3530,), tuple(tv_datasets.FashionMNIST.classes), True),
    "cifar10": DatasetSpec(3, 32, "cifar", (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), CIFAR10_CLASSES, True),
    "cifar100": DatasetSpec(3, 32, "cifar", (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), None, True),
    "imagefolder": DatasetSpec(3, None, "imagenet", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), None, False),
    "imagenet": DatasetSpec(3, 224, "imagenet", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), None, False),
}


# ----- in-memory loaders: each returns {"train": Split, "test": Split | None} -----
def _load_digits(root: Path, download: bool, zip_path: str | None, cache_dir: Path) -> dict:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(bunch.images).mul(255 / 16).round().to(torch.uint8).unsqueeze(1)
    full = Split(images, torch.from_numpy(bunch.target).long())
    test_idx, train_idx = seeded_split(full.labels, DIGITS_TEST_FRACTION, seed=12345)
    return {"train": full.subset(train_idx), "test": full.subset(test_idx)}


def _torchvision_loader(dataset_cls) -> Callable:
    def load(root: Path, download: bool, zip_path: str | None, cache_dir: Path) -> dict:
        try:
            parts = {split: dataset_cls(str(root), train=split == "train", download=download)
                     for split in ("train", "test")}
        except Exception as err:  # torchvision raises RuntimeError when missing, URLError & co. when offline
            raise DataConfigError(_missing_message(dataset_cls.__name__, [root], err)) from None
        return {split: _to_split(ds.data, ds.targets) for split, ds in parts.items()}

    return load


def _to_split(data, targets) -> Split:
    images = torch.as_tensor(data)
    images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2)  # NHW or NHWC -> NCHW
    return Split(images.contiguous(), torch.as_tensor(targets, dtype=torch.long))


def _load_cifar10(root: Path, download: bool, zip_path: str | None, cache_dir: Path) -> dict:
    """torchvision's format, else a folder or zip laid out as ``cifar10/train/<class>/*.jpg``."""
    candidates = [Path(zip_path)] if zip_path else [root / "cifar10" / "train", root / "cifar10-train-jpeg.zip",
                                                     SHARED_CIFAR10_ZIP]
    if download or (not zip_path and (root / "cifar-10-batches-py").is_dir()):
        return _torchvision_loader(tv_datasets.CIFAR10)(root, download, None, cache_dir)
    for source in candidates:
        if source.exists():
            return {"train": _decode_cached(source, cache_dir), "test": None}
    looked = [root / "cifar-10-batches-py", *candidates]
    raise DataConfigError(_missing_message("CIFAR-10", looked, None))


def _missing_message(name: str, looked: list[Path], err: Exception | None) -> str:
    reason = f" ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})" if err else ""
    return (f"{name} not found{reason}. Looked in: {', '.join(map(str, looked))}. "
            f"Either pass dataset.download=true (needs network), point dataset.root=... at a folder holding it, "
            f"or (CIFAR-10) dataset.zip_path=... at a zip laid out as cifar10/train/<class>/*.jpg.")


def _decode_cached(source: Path, cache_dir: Path) -> Split:
    """Decode a folder/zip of class sub-folders once into uint8 tensors; later runs read the cache."""
    stat = source.stat()
    cache = cache_dir / f"{source.stem}-{stat.st_size}-{int(stat.st_mtime)}.pt"
    if cache.is_file():
        saved = torch.load(cache, weights_only=True)
        return Split(saved["images"], saved["labels"])
    images, labels = _decode_images(source)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    torch.save({"images": images, "labels": labels}, tmp)
    tmp.replace(cache)  # atomic: a killed run leaves no half-written cache
    return Split(images, labels)


def _decode_images(source: Path) -> tuple[Tensor, Tensor]:
    from PIL import Image

    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        entries = [(p.parent.name, p.read_bytes) for p in files]
    else:
        archive = zipfile.ZipFile(source)
        names = sorted(n for n in archive.namelist() if n.lower().endswith((".jpg", ".jpeg", ".png")) and "/train/" in n)
        entries = [(Path(n).parent.name, lambda n=n: archive.read(n)) for n in names]
    index = {name: i for i, name in enumerate(CIFAR10_CLASSES)}
    unknown = sorted({cls for cls, _ in entries} - index.keys())
    if unknown or not entries:
        raise DataConfigError(f"{source}: expected cifar10/train/<class>/*.jpg with CIFAR-10's classes; "
                              f"found {len(entries)} images and unknown classes {unknown}")
    images = torch.empty(len(entries), 3, 32, 32, dtype=torch.uint8)
    for i, (_, read) in enumerate(tqdm(entries, desc=f"decoding {source.name} (once; cached)", unit="img")):
        with Image.open(io.BytesIO(read())) as img:
            images[i] = torch.from_numpy(np.asarray(img.convert("RGB"))).permute(2, 0, 1)
    labels = torch.tensor([index[cls] for cls, _ in entries], dtype=torch.long)
    return images, labels


IN_MEMORY_LOADERS: dict[str, Callable] = {
    "digits": _load_digits,
    "mnist": _torchvision_loader(tv_datasets.MNIST),
    "fashion_mnist": _torchvision_loader(tv_datasets.FashionMNIST),
    "cifar10": _load_cifar10,
    "cifar100": _torchvision_loader(tv_datasets.CIFAR100),
}


def seeded_split(labels: Tensor, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """(held-out, kept) indices: the same share of every class, the same for the same seed."""
    generator = torch.Generator().manual_seed(seed)
    held, kept = [], []
    for cls in labels.unique():
        idx = (labels == cls).nonzero().squeeze(1)
        idx = idx[torch.randperm(len(idx), generator=generator)]
        n = round(len(idx) * fraction)
        held.append(idx[:n])
        kept.append(idx[n:])
    return torch.cat(held).sort().values, torch.cat(kept).sort().values


class TensorImageDataset(Dataset):
    """uint8 images in memory, transformed per item."""

    def __init__(self, split: Split, transform: Callable):
        self.split, self.transform = split, transform

    def __len__(self) -> int:
        return len(self.split.labels)

    def __getitem__(self, i: int):
        return self.transform(self.split.images[i]), self.split.labels[i]
