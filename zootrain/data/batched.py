"""The batched path of every in-memory dataset: the uint8 images moved to the training device once (the CPU or a
GPU) and augmented there a whole batch at a time (``zootrain.data.augment.BatchAugmenter``), so no worker process
sits between the data and the model.
"""

from __future__ import annotations

import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch import Tensor

from .augment import Augmentation, BatchAugmenter, preprocess
from .splits import EpochSampler


class BatchedLoader:
    """Iterable of (float images, int64 labels) batches from uint8 images held on ``device``; with MixUp or CutMix,
    (images, labels, class-probability targets).

    ``augmentation`` (None: none) applies to training only; evaluation gets ``preprocess`` alone.

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
        augmentation: Augmentation | None = None,
        image_size: int | None = None,
        mean=(0.5,),
        std=(0.5,),
        num_classes: int | None = None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
    ):
        self.images = images.to(device)
        self.labels = labels.to(device)
        self.batch_size, self.train = batch_size, train
        image_size = image_size or images.shape[-1]
        self.augmenter = (
            BatchAugmenter(augmentation, image_size, mean, std, num_classes or int(labels.max()) + 1)
            if train and augmentation is not None
            else None
        )
        self.preprocess = preprocess(image_size, mean, std, centre_crop=False)
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
        seed = self.seed + 1_000_003 * stream
        generator = torch.Generator(self.labels.device).manual_seed(seed)
        seeds = torch.Generator().manual_seed(seed + 1)  # torchvision's draws: the CPU's RNG
        for i in range(len(self)):
            batch = order[i * self.batch_size : (i + 1) * self.batch_size]
            images, labels = self.images[batch], self.labels[batch]
            if self.augmenter is None:
                yield self.preprocess(images), labels
            else:
                yield self.augmenter(images, labels, generator, seeds)
