"""Datasets decoded from image files, one sub-folder per class: ``root/<class>/*`` or ``root/{train,val,test}/...``."""
from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset, default_collate
from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset

from .errors import DataConfigError, missing
from .splits import Split

if TYPE_CHECKING:
    from .datasets import LoadRequest

UNREADABLE = (OSError, SyntaxError, ValueError)  # what PIL raises for a truncated, corrupt or non-image file


def class_dirs(directory: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(directory) if e.is_dir() and not e.name.startswith("."))


class FolderLoader:
    """Loads a split of a folder dataset as file paths and labels (the class folder's index among train's)."""

    def __init__(self, title: str, require_train_dir: bool):
        self.title, self.require_train_dir = title, require_train_dir

    def split_dirs(self, root: Path) -> dict[str, Path]:
        if (root / "train").is_dir():
            return {s: root / s for s in ("train", "val", "test") if (root / s).is_dir()}
        if root.is_dir() and not self.require_train_dir and class_dirs(root):
            return {"train": root}
        layout = "root/train/<class>/*, root/val/<class>/*" if self.require_train_dir else \
            "root/<class>/* or root/{train,val,test}/<class>/*"
        raise missing(self.title, [f"image folders laid out {layout} with root = {root}"],
                      ["put the images there (one sub-folder per class), or set dataset.root=... to their folder"])

    def class_names(self, root: Path) -> list[str]:
        return class_dirs(self.split_dirs(root)["train"])

    def __call__(self, req: LoadRequest, split: str) -> Split | None:
        dirs = self.split_dirs(req.root)
        if split not in dirs:
            return None
        names = class_dirs(dirs["train"])
        extra = sorted(set(class_dirs(dirs[split])) - set(names))
        if extra:
            raise DataConfigError(f"{dirs[split]} has class folders {extra} that {dirs['train']} lacks")
        samples = make_dataset(str(dirs[split]), {n: i for i, n in enumerate(names)}, IMG_EXTENSIONS,
                               allow_empty=True)
        if not samples:
            raise DataConfigError(f"{dirs[split]} holds no images in class sub-folders (<class>/*.jpg)")
        paths, labels = zip(*samples)
        return Split(torch.tensor(labels), paths=list(paths))


def with_item_seed(key) -> tuple[int, int | None]:
    """A sampler's item: an index, or (index, augmentation seed) from ``EpochSampler(item_seeds=True)``."""
    return key if isinstance(key, tuple) else (key, None)


def transform_seeded(transform: Callable, image, seed: int | None):
    """``transform(image)``, its random draws seeded by ``seed`` when given (the global RNG left as it was)."""
    if seed is None:
        return transform(image)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return transform(image)


class FileImageDataset(Dataset):
    """Images decoded from files (as RGB) by the loader's workers; an unreadable file is skipped with a warning."""

    def __init__(self, paths: list[str], labels: Tensor, transform: Callable):
        self.paths, self.labels, self.transform = paths, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, key):
        i, seed = with_item_seed(key)
        try:
            with Image.open(self.paths[i]) as image:
                rgb = image.convert("RGB")
        except UNREADABLE as err:
            warnings.warn(f"skipping unreadable image {self.paths[i]}: {err}", stacklevel=1)
            return None
        return transform_seeded(self.transform, rgb, seed), self.labels[i]


def collate_readable(batch: list):
    """``default_collate`` of the samples that could be read (``FileImageDataset`` gives None for the others)."""
    readable = [sample for sample in batch if sample is not None]
    if not readable:
        raise DataConfigError(f"none of the {len(batch)} images of a batch could be read: see the warnings above "
                              "naming them; remove or replace those files")
    return default_collate(readable)
