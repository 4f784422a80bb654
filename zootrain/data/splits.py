"""Splits and their order: stratified seeded hold-outs, and an epoch order that depends only on (seed, epoch)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import DistributedSampler

from .errors import DataConfigError


@dataclass
class Split:
    """One split: int64 labels plus either uint8 images (N, C, H, W) in memory or image file paths."""

    labels: Tensor
    images: Tensor | None = None
    paths: list[str] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: Tensor) -> Split:
        return Split(
            self.labels[index],
            None if self.images is None else self.images[index],
            None if self.paths is None else [self.paths[i] for i in index.tolist()],
        )

    def shuffled(self, seed: int) -> Split:
        """The same images in a seeded random order: a truncated pass (``limit_val_batches``) sees every class."""
        return self.subset(torch.randperm(len(self), generator=torch.Generator().manual_seed(seed)))


def rank_in_class(labels: Tensor) -> Tensor:
    """For each position, how many earlier positions hold the same label."""
    order = torch.argsort(labels, stable=True)
    counts = torch.bincount(labels)
    starts = counts.cumsum(0) - counts
    rank = torch.empty_like(labels)
    rank[order] = torch.arange(len(labels)) - starts[labels[order]]
    return rank


def stratified_split(
    labels: Tensor, fraction: float, seed: int, what: str = "dataset.val_fraction"
) -> tuple[Tensor, Tensor]:
    """(kept, held-out) indices: round(fraction * n_c) of every class c held out, chosen by a seeded shuffle.

    Both stay in the shuffled order (``samples_per_class`` takes the first n of each class from it; the held-out
    share is served in it, classes interleaved). ``fraction`` 0: nothing held out. A split that leaves a side
    empty, or holds out no image of some class, is a ``DataConfigError`` naming ``what``.

    Written here rather than scikit-learn's ``train_test_split(stratify=...)``: the split is a recorded fact, and
    scikit-learn allocates the per-class shares differently, so it would move images between the training and
    held-out sides of every measured run and shipped weights file (their validation figures would then include
    images they were trained on).
    """
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    if fraction == 0:
        return perm, labels.new_empty(0)
    shuffled = labels[perm]
    n_held = (torch.bincount(labels) * fraction).round().long()
    held = rank_in_class(shuffled) < n_held[shuffled]
    present = torch.bincount(labels) > 0
    if held.all() or bool((n_held[present] == 0).any()):
        raise DataConfigError(
            f"{what}={fraction} cannot hold out a stratified share of {len(labels)} images in "
            f"{int(present.sum())} classes (a side would be empty, or a class would have no held-out image); "
            f"change {what} or add images"
        )
    return perm[~held], perm[held]


class EpochSampler(DistributedSampler):
    """A rank's share of a permutation drawn from (seed, epoch) alone, so a resumed run sees the same batches.

    Lightning calls ``set_epoch`` before each epoch (and keeps a ``DistributedSampler`` it is given); outside a
    Trainer each pass moves on to the next epoch. With ``item_seeds`` it yields ``(index, seed)`` pairs, the seed
    drawn from (seed, epoch, index), for augmentation that is the same however many workers decode the images.
    ``shuffle=False`` keeps the images in order (``overfit_batches``).
    """

    def __init__(
        self, size: int, seed: int, rank: int = 0, world_size: int = 1, item_seeds: bool = False, shuffle: bool = True
    ):
        super().__init__(range(size), num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed, drop_last=True)
        self.item_seeds = item_seeds

    def __iter__(self):
        epoch = self.epoch
        order = list(super().__iter__())
        self.set_epoch(epoch + 1)
        if self.item_seeds:
            return iter([(i, hash((self.seed, epoch, i)) & 0x7FFF_FFFF_FFFF_FFFF) for i in order])
        return iter(order)
