"""Augmentation policies: one table, read by the per-image torchvision v2 pipeline and by the batched path.

Augmentation runs at the dataset's native resolution and is followed by the resize to the model's input size, so
a crop's padding of native_size // 8 is the same share of the image as size // 8 after resizing, at a fraction of
the cost for upscaled inputs (AlexNet 227, Inception 299). Both paths then scale to [0, 1] and normalise.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F


@dataclass(frozen=True)
class Policy:
    """Training-time augmentation of one dataset family."""

    crop_padding_divisor: int = 0  # random crop to the native size within a zero border of side // this (0: none)
    hflip: bool = False  # horizontal flip with probability 0.5
    resized_crop: bool = False  # ImageNet: random-resized crop to the input size (evaluation: resize + centre crop)

    def crop_padding(self, native_size: int) -> int:
        return native_size // self.crop_padding_divisor if self.crop_padding_divisor else 0


POLICIES: dict[str, Policy] = {
    "none": Policy(),
    "mnist": Policy(crop_padding_divisor=8),
    "cifar": Policy(crop_padding_divisor=8, hflip=True),
    "imagenet": Policy(hflip=True, resized_crop=True),
}
BATCHED_POLICIES = tuple(name for name, policy in POLICIES.items() if not policy.resized_crop)


# ----- one image at a time (torchvision v2) -----
def build_transform(policy: str, train: bool, native_size: int, image_size: int, mean, std) -> v2.Compose:
    """torchvision v2 pipeline for one image (a uint8 tensor or a PIL image) -> normalised float tensor."""
    spec = POLICIES[policy]
    steps: list = [v2.ToImage()]
    if spec.resized_crop:
        steps += (
            [v2.RandomResizedCrop(image_size, antialias=True), v2.RandomHorizontalFlip()]
            if train
            else [v2.Resize(round(image_size * 256 / 224), antialias=True), v2.CenterCrop(image_size)]
        )
    else:
        if train and spec.crop_padding(native_size):
            steps.append(v2.RandomCrop(native_size, padding=spec.crop_padding(native_size)))
        if train and spec.hflip:
            steps.append(v2.RandomHorizontalFlip())
        if image_size != native_size:
            steps.append(v2.Resize((image_size, image_size), antialias=True))
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std)), v2.ToPureTensor()]
    return v2.Compose(steps)


# ----- a whole batch at once, each image with its own random draw -----
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
    return padded[
        torch.arange(n, device=device).view(n, 1, 1, 1), torch.arange(c, device=device).view(1, c, 1, 1), rows, cols
    ]


def random_hflip(images: Tensor, generator: torch.Generator) -> Tensor:
    flip = torch.rand(len(images), device=images.device, generator=generator) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), F.horizontal_flip(images), images)


def prepare_batch(
    images: Tensor, policy: str | None, image_size: int, mean, std, generator: torch.Generator | None = None
) -> Tensor:
    """uint8 (N, C, H, W) -> normalised float at ``image_size``; ``policy`` None: no augmentation."""
    spec = POLICIES[policy] if policy else Policy()
    if spec.resized_crop:
        raise ValueError(f"policy {policy!r} has no batched version; choose one of {BATCHED_POLICIES}")
    images = random_crop(images, spec.crop_padding(images.shape[-1]), generator)
    if spec.hflip:
        images = random_hflip(images, generator)
    if images.shape[-2:] != (image_size, image_size):
        images = F.resize(images, [image_size, image_size], antialias=True)
    return F.normalize(F.to_dtype(images, torch.float32, scale=True), list(mean), list(std))
