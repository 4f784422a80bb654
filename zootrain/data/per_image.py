"""The per-image path of image files: torchvision v2 transforms applied one image at a time by DataLoader workers.
An item's augmentation is seeded by the sampler (``EpochSampler(item_seeds=True)``), so it does not depend on which
worker draws it or on what ran before; so is a batch's MixUp / CutMix, from its items' seeds.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

from torch import Tensor
from torch.utils.data import Dataset, default_collate

from .augment import seeded
from .decode import UnreadableImage, read_rgb
from .errors import DataConfigError


def with_item_seed(key) -> tuple[int, int | None]:
    """A sampler's item: an index, or (index, augmentation seed) from ``EpochSampler(item_seeds=True)``."""
    return key if isinstance(key, tuple) else (key, None)


class FileImageDataset(Dataset):
    """(image, label, seed) of image files decoded (as 8-bit RGB) by the loader's workers; an unreadable file or a
    decompression bomb is skipped with a warning naming it (None), not a crash mid-epoch."""

    def __init__(self, paths: list[str], labels: Tensor, transform: Callable):
        self.paths, self.labels, self.transform = paths, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, key):
        i, seed = with_item_seed(key)
        try:
            rgb = read_rgb(self.paths[i])
        except UnreadableImage as err:
            warnings.warn(f"skipping unreadable image {err}", stacklevel=1)  # it names the file
            return None
        if seed is None:
            return self.transform(rgb), self.labels[i], seed
        with seeded(seed):
            return self.transform(rgb), self.labels[i], seed


class CollateReadable:
    """``default_collate`` of the samples that could be read (``FileImageDataset`` gives None for the others), then
    ``mixer`` (MixUp / CutMix, when given) seeded by the items' seeds: (images, labels[, targets])."""

    def __init__(self, mixer: Callable | None = None):
        self.mixer = mixer

    def __call__(self, batch: list):
        readable = [sample for sample in batch if sample is not None]
        if not readable:
            raise DataConfigError(
                f"none of the {len(batch)} images of a batch could be read: see the warnings above "
                "naming them; remove or replace those files"
            )
        images, labels = default_collate([sample[:2] for sample in readable])
        if self.mixer is None:
            return images, labels
        with seeded(hash(tuple(sample[2] for sample in readable)) & 0x3FFF_FFFF_FFFF_FFFF):
            return images, labels, self.mixer(images, labels)[1]
