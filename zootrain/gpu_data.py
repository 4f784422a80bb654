"""GPU-resident batches: the whole uint8 dataset moved to the device once, augmented there a batch at a time.

The same steps as the per-image torchvision v2 pipeline of ``zootrain.data`` (random crop of the native image with
zero padding of size // 8, horizontal flip for the cifar policy, resize to the model's input, scale, normalise),
but each on a whole batch with per-image random offsets and flips, so no CPU worker sits between the data and
the model.
"""
from __future__ import annotations

import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch import Tensor
from torch.utils.data import DistributedSampler
from torchvision.transforms.v2 import functional as F

GPU_POLICIES = ("none", "cifar", "mnist")


def random_crop(images: Tensor, padding: int, generator: torch.Generator) -> Tensor:
    """Each image cropped back to its size at its own random offset within a zero border (one gather, no loop).

    torchvision's batched crop uses one offset for the whole batch; per-image offsets need this index arithmetic.
    """
    if padding == 0:
        return images
    n, c, h, w = images.shape
    device = images.device
    padded = F.pad(images, [padding])
    dy, dx = torch.randint(0, 2 * padding + 1, (2, n, 1), device=device, generator=generator)
    rows = (dy + torch.arange(h, device=device)).view(n, 1, h, 1)
    cols = (dx + torch.arange(w, device=device)).view(n, 1, 1, w)
    return padded[torch.arange(n, device=device).view(n, 1, 1, 1), torch.arange(c, device=device).view(1, c, 1, 1),
                  rows, cols]


def random_hflip(images: Tensor, generator: torch.Generator) -> Tensor:
    flip = torch.rand(len(images), device=images.device, generator=generator) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), F.horizontal_flip(images), images)


class DeviceBatchLoader:
    """Iterable of (float images, int64 labels) batches from uint8 images held on ``device``.

    ``train=True``: a new seeded permutation each epoch (``sampler.set_epoch``, which Lightning calls; otherwise
    each pass advances the epoch), every rank a disjoint, equally long share of it, the trailing partial batch
    dropped. ``train=False``: the images in order, each rank every world_size-th image (each image seen once).
    """

    batch_sampler = None  # Lightning inspects DataLoader-like iterables through ``sampler`` and ``batch_sampler``

    def __init__(self, images: Tensor, labels: Tensor, batch_size: int, *, device: torch.device | str = "cpu",
                 train: bool = False, augment: bool = False, policy: str = "none", image_size: int | None = None,
                 mean=(0.5,), std=(0.5,), seed: int = 0, rank: int = 0, world_size: int = 1):
        if augment and policy not in GPU_POLICIES:
            raise ValueError(f"policy {policy!r} has no batched device version; choose one of {GPU_POLICIES}")
        self.images = images.to(device)
        self.labels = labels.to(device)
        self.batch_size, self.train, self.augment, self.policy = batch_size, train, augment, policy
        self.image_size = image_size or images.shape[-1]
        self.mean, self.std = list(mean), list(std)
        self.seed, self.rank, self.world_size = seed, rank, world_size
        sampler_cls = DistributedSampler if train else UnrepeatedDistributedSampler
        self.sampler = sampler_cls(range(len(labels)), num_replicas=world_size, rank=rank, shuffle=train, seed=seed,
                                   drop_last=train)

    def __len__(self) -> int:
        n = len(self.sampler)
        drop_partial = self.train and n > self.batch_size
        return n // self.batch_size if drop_partial else -(-n // self.batch_size)

    def __iter__(self):
        epoch = self.sampler.epoch
        order = torch.tensor(list(self.sampler), dtype=torch.long, device=self.labels.device)
        self.sampler.set_epoch(epoch + 1)
        stream = epoch * self.world_size + self.rank  # its own augmentation stream per (epoch, rank)
        generator = torch.Generator(self.labels.device).manual_seed(self.seed + 1_000_003 * stream)
        for i in range(len(self)):
            batch = order[i * self.batch_size:(i + 1) * self.batch_size]
            yield self.prepare(self.images[batch], generator), self.labels[batch]

    def prepare(self, images: Tensor, generator: torch.Generator) -> Tensor:
        if self.augment and self.policy in ("cifar", "mnist"):
            images = random_crop(images, images.shape[-1] // 8, generator)
        if self.augment and self.policy == "cifar":
            images = random_hflip(images, generator)
        if images.shape[-2:] != (self.image_size, self.image_size):
            images = F.resize(images, [self.image_size, self.image_size], antialias=True)
        return F.normalize(F.to_dtype(images, torch.float32, scale=True), self.mean, self.std)
