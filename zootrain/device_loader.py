"""The GPU-resident data path: the whole uint8 dataset on the device, augmented there a batch at a time."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .datasets import Split


class DeviceBatchLoader:
    """Yields (normalised float images, labels) batches from a dataset held on ``device``.

    Training batches: a new seeded permutation each epoch, random crop with reflect padding (size/8 for the cifar
    policy, size/16 for mnist) and horizontal flips (cifar). In distributed runs every rank takes a disjoint,
    equally long slice of the permutation (training) or of the images in order (evaluation: each image once).
    """

    def __init__(self, split: Split, batch_size: int, train: bool, augment: bool, policy: str, image_size: int,
                 mean, std, device: torch.device, seed: int = 0, rank: int = 0, world_size: int = 1):
        self.images = split.images.to(device)
        self.labels = split.labels.to(device)
        self.batch_size, self.train, self.augment, self.policy = batch_size, train, augment, policy
        self.image_size, self.seed, self.rank, self.world_size = image_size, seed, rank, world_size
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1) * 255
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1) * 255
        self.epoch = 0

    def _indices(self) -> Tensor:
        n = len(self.labels)
        if self.train:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(n, generator=generator)
            per_rank = n // self.world_size
            return order[self.rank * per_rank:(self.rank + 1) * per_rank]
        return torch.arange(n).tensor_split(self.world_size)[self.rank]

    def __len__(self) -> int:
        n = len(self.labels) // self.world_size if self.train else len(self._indices())
        return math.ceil(n / self.batch_size)

    def __iter__(self):
        indices = self._indices().to(self.labels.device)
        self.epoch += 1
        for batch in indices.split(self.batch_size):
            yield self.prepare(self.images[batch]), self.labels[batch]

    def prepare(self, images: Tensor) -> Tensor:
        x = images.float()
        if x.shape[-1] != self.image_size:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", antialias=True,
                              align_corners=False)
        if self.augment:
            x = self._random_crop(x, self.image_size // (8 if self.policy == "cifar" else 16))
            if self.policy == "cifar":
                flip = torch.rand(len(x), device=x.device) < 0.5
                x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        return (x - self.mean) / self.std

    @staticmethod
    def _random_crop(x: Tensor, pad: int) -> Tensor:
        """Each image shifted by its own random offset within a reflect-padded border (one gather, no loop)."""
        if pad == 0:
            return x
        n, c, h, w = x.shape
        padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
        dy = torch.randint(0, 2 * pad + 1, (n, 1), device=x.device)
        dx = torch.randint(0, 2 * pad + 1, (n, 1), device=x.device)
        rows = (dy + torch.arange(h, device=x.device)).view(n, 1, h, 1)
        cols = (dx + torch.arange(w, device=x.device)).view(n, 1, 1, w)
        batch = torch.arange(n, device=x.device).view(n, 1, 1, 1)
        channel = torch.arange(c, device=x.device).view(1, c, 1, 1)
        return padded[batch, channel, rows, cols]
