"""Augmentation: one implementation of each augmentation, chosen by ``dataset.augment`` and its sibling settings.

A training image goes through four steps; each augmentation is written once, in the step it belongs to:

1. geometry (``policy`` other than ``none``): in-memory images (small, one size) are cropped at a random offset
   within a zero border of side // 8 and flipped, a whole batch at once with each image's own draw
   (``random_crop``, ``random_hflip``); image files get the zoo's training geometry (``RandomResizedCrop``, or
   pad-and-crop for small images) + flip in the workers.
2. the policy's image op (``IMAGE_OPS``: RandAugment, TrivialAugmentWide, AutoAugment), a torchvision v2
   transform on each uint8 image: in the workers for files, image by image over the batch for in-memory data.
3. ``preprocess``, the deterministic step shared with evaluation and prediction: resize (files: resize + centre
   crop), scale to [0, 1], normalise. It runs on one image or on a whole batch alike, and it is
   ``zoo.create_transform``: library users and training prepare images with the same code.
4. ``erasing`` (torchvision's RandomErasing, i.e. Cutout with p and a random box) on each normalised image, and
   ``mixup_alpha`` / ``cutmix_alpha`` (torchvision's MixUp / CutMix) on the batch with its labels: a mixed batch is
   ``(images, labels, targets)``, the class probabilities ``targets`` for the loss, ``labels`` for accuracy.

Adding an augmentation: a row of ``IMAGE_OPS`` (a per-image op), or a field of ``Augmentation`` and its step.
In-memory data augments at the native resolution, before the resize, so a crop's padding of native // 8 is the same
share of the image after resizing, at a fraction of the cost for upscaled inputs (AlexNet 227, Inception 299).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from zoo.data_config import (
    CROP_FRACTION,
    DataConfig,
    create_transform,
    evaluation_geometry,
    model_input_steps,
    training_geometry,
)

CROP_PADDING_DIVISOR = 8  # in-memory images: random crop within a zero border of side // 8 (4 px for CIFAR)

# The policies of dataset.augment: ``none``; ``crop_flip`` (step 1 alone); the others add their op after step 1.
IMAGE_OPS: dict[str, Callable[[], v2.Transform] | None] = {
    "none": None,
    "crop_flip": None,
    "randaugment": v2.RandAugment,
    "trivialaugment": v2.TrivialAugmentWide,
    "autoaugment_cifar10": functools.partial(v2.AutoAugment, v2.AutoAugmentPolicy.CIFAR10),
    "autoaugment_imagenet": functools.partial(v2.AutoAugment, v2.AutoAugmentPolicy.IMAGENET),
}
POLICIES = tuple(IMAGE_OPS)


@dataclass(frozen=True)
class Augmentation:
    """What training adds to ``preprocess``: the settings of the same names in ``DatasetConfig``."""

    policy: str = "crop_flip"
    erasing: float = 0.0  # RandomErasing's probability per image (0: off)
    mixup_alpha: float = 0.0  # MixUp's Beta(alpha, alpha) (0: off); with cutmix_alpha, each batch one of the two
    cutmix_alpha: float = 0.0
    hflip: bool = True  # the dataset's images may be mirrored (digits may not)

    def geometric(self) -> bool:
        return self.policy != "none"

    def image_op(self) -> v2.Transform | None:
        make = IMAGE_OPS[self.policy]
        return make() if make else None

    def eraser(self) -> v2.Transform | None:
        return v2.RandomErasing(p=self.erasing, value=0) if self.erasing else None  # 0: the mean, once normalised

    def mixer(self, num_classes: int) -> v2.Transform | None:
        mixers = [
            cls(alpha=alpha, num_classes=num_classes)
            for cls, alpha in ((v2.MixUp, self.mixup_alpha), (v2.CutMix, self.cutmix_alpha))
            if alpha
        ]
        return v2.RandomChoice(mixers) if len(mixers) > 1 else next(iter(mixers), None)


# ----- step 3, deterministic: evaluation, prediction, and the end of every training pipeline -----
def data_config(image_size: int, mean, std, centre_crop: bool) -> DataConfig:
    """The zoo's data config of this data: ``centre_crop`` (image files) resizes the short side to ``image_size /
    zoo.data_config.CROP_FRACTION`` (ImageNet's evaluation) before the crop; in-memory images (square) are resized
    to ``image_size``."""
    resize = round(image_size / CROP_FRACTION) if centre_crop else image_size
    return DataConfig(
        input_size=(len(mean), image_size, image_size), mean=tuple(mean), std=tuple(std), resize_size=resize
    )


def preprocess(image_size: int, mean, std, centre_crop: bool) -> v2.Compose:
    """uint8 image(s) or a PIL image -> normalised float at ``image_size``: the same numbers one image at a time or
    for a whole batch. It is ``zoo.create_transform`` of ``data_config``, the transform library users get."""
    return create_transform(data_config(image_size, mean, std, centre_crop))


# ----- seeded draws: torchvision's transforms draw from the global RNG -----
def draw_seed(generator: torch.Generator) -> int:
    return int(torch.randint(2**62, (), generator=generator))


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """The CPU's global RNG seeded by ``seed`` inside, restored after; other devices' RNGs untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        yield


def each_image(transform: v2.Transform, images: Tensor, seed: int) -> Tensor:
    """``transform`` on each image of a batch with its own draws (on a batch, torchvision's share one draw)."""
    with seeded(seed):
        return torch.stack([transform(image) for image in images])


# ----- one image at a time: image files in DataLoader workers -----
def file_transform(augmentation: Augmentation | None, image_size: int, mean, std) -> v2.Compose:
    """The per-image pipeline of image files; ``None``: no augmentation (``preprocess``). The geometry is the zoo's
    (``zoo.data_config.training_geometry``: a random resized crop, or pad-and-crop for small images)."""
    config = data_config(image_size, mean, std, centre_crop=True)
    if augmentation is None:
        return create_transform(config)
    if augmentation.geometric():
        geometry = training_geometry(config, augmentation.hflip)
    else:
        geometry = evaluation_geometry(config)
    steps = [v2.ToImage(), *geometry, augmentation.image_op(), *model_input_steps(config), augmentation.eraser()]
    return v2.Compose([step for step in steps if step is not None] + [v2.ToPureTensor()])


# ----- a whole batch at once, each image with its own random draw: in-memory datasets -----
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


class BatchAugmenter:
    """Steps 1-4 on uint8 batches (N, C, H, W) of one size, on the device the batches are on.

    ``device_generator`` (on that device) draws the crops and flips; ``seeds`` (a CPU generator) the seeds of
    torchvision's transforms, so a GPU never waits for the host to read a draw.
    """

    def __init__(self, augmentation: Augmentation, image_size: int, mean, std, num_classes: int):
        self.augmentation = augmentation
        self.image_op = augmentation.image_op()
        self.preprocess = preprocess(image_size, mean, std, centre_crop=False)
        self.eraser = augmentation.eraser()
        self.mixer = augmentation.mixer(num_classes)

    def __call__(self, images: Tensor, labels: Tensor, device_generator: torch.Generator, seeds: torch.Generator):
        if self.augmentation.geometric():
            images = random_crop(images, images.shape[-1] // CROP_PADDING_DIVISOR, device_generator)
            if self.augmentation.hflip:
                images = random_hflip(images, device_generator)
        if self.image_op is not None:
            images = each_image(self.image_op, images, draw_seed(seeds))
        images = self.preprocess(images)
        if self.eraser is not None:
            images = each_image(self.eraser, images, draw_seed(seeds))
        if self.mixer is None:
            return images, labels
        with seeded(draw_seed(seeds)):
            return images, labels, *self.mixer(images, labels)[1:]
