"""The per-image path: torchvision v2 transforms applied one image at a time in a DataLoader, to uint8 images held
in memory or to image files decoded by its workers. An item's augmentation can be seeded by the sampler
(``EpochSampler(item_seeds=True)``), so it does not depend on which worker draws it or on what ran before.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset, default_collate

from .errors import DataConfigError

UNREADABLE = (OSError, SyntaxError, ValueError)  # what PIL raises for a truncated, corrupt or non-image file


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
        raise DataConfigError(
            f"none of the {len(batch)} images of a batch could be read: see the warnings above "
            "naming them; remove or replace those files"
        )
    return default_collate(readable)


class TensorImageDataset(Dataset):
    """uint8 images held in memory, transformed per item."""

    def __init__(self, images: Tensor, labels: Tensor, transform: Callable):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, key):
        i, seed = with_item_seed(key)
        return transform_seeded(self.transform, self.images[i], seed), self.labels[i]
