"""The batched path for in-memory datasets: the uint8 images moved to the training device once (the CPU or a GPU)
and augmented there a whole batch at a time, with the same policy table as the per-image path
(``zootrain.data.augment``), so no worker process and no per-image Python sits between the data and the model.
"""

from __future__ import annotations

import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch import Tensor

from .augment import BATCHED_POLICIES, prepare_batch
from .splits import EpochSampler


class BatchedLoader:
    """Iterable of (float images, int64 labels) batches from uint8 images held on ``device``.

    ``train=True``: each epoch a permutation drawn from (seed, epoch) (``EpochSampler``), every rank a disjoint,
    equally long share of it, the trailing partial batch dropped; the augmentation stream is drawn from
    (seed, epoch, rank) too, so epoch k is the same whether or not epochs 0..k-1 ran in this process.
    ``shuffle=False``: the training images in order (Lightning cannot swap this loader's sampler for
    ``overfit_batches``). ``train=False``: the images in order, each rank every world_size-th image (each seen once).
    """

    batch_sampler = None  # Lightning inspects DataLoader-like iterables through ``sampler`` and ``batch_sampler``

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        batch_size: int,
        *,
        device: torch.device | str = "cpu",
        train: bool = False,
        augment: bool = False,
        policy: str = "none",
        image_size: int | None = None,
        mean=(0.5,),
        std=(0.5,),
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
    ):
        if augment and policy not in BATCHED_POLICIES:
            raise ValueError(f"policy {policy!r} has no batched version; choose one of {BATCHED_POLICIES}")
        self.images = images.to(device)
        self.labels = labels.to(device)
        self.batch_size, self.train = batch_size, train
        self.policy = policy if augment else None
        self.image_size = image_size or images.shape[-1]
        self.mean, self.std = list(mean), list(std)
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.sampler = (
            EpochSampler(len(labels), seed, rank, world_size, shuffle=shuffle)
            if train
            else UnrepeatedDistributedSampler(range(len(labels)), num_replicas=world_size, rank=rank, shuffle=False)
        )

    def __len__(self) -> int:
        n = len(self.sampler)
        drop_partial = self.train and n > self.batch_size
        return n // self.batch_size if drop_partial else -(-n // self.batch_size)

    def __iter__(self):
        epoch = getattr(self.sampler, "epoch", 0)
        order = torch.tensor(list(self.sampler), dtype=torch.long, device=self.labels.device)
        stream = epoch * self.world_size + self.rank  # its own augmentation stream per (epoch, rank)
        generator = torch.Generator(self.labels.device).manual_seed(self.seed + 1_000_003 * stream)
        for i in range(len(self)):
            batch = order[i * self.batch_size : (i + 1) * self.batch_size]
            images = prepare_batch(self.images[batch], self.policy, self.image_size, self.mean, self.std, generator)
            yield images, self.labels[batch]
