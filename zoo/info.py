"""What the zoo knows about a model before building it (``ModelInfo``) and the datasets' statistics it refers to.

The floor of the package: it imports nothing from ``zoo``, so ``base``, ``registry`` and the weights modules can all
stand on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
MNIST_MEAN = (0.1307,)
MNIST_STD = (0.3081,)
# what every model built for CIFAR-sized images registers with: 32x32 RGB, CIFAR-10's statistics, 10 classes
CIFAR_INPUT = {
    "input_size": (3, 32, 32),
    "mean": CIFAR10_MEAN,
    "std": CIFAR10_STD,
    "num_classes": 10,
    "tags": ("cifar",),
}
SMALL_INPUT_PIXELS = 64  # images this size or smaller are "small" (CIFAR, MNIST): see ModelInfo.small_input_model


@dataclass(frozen=True)
class ModelInfo:
    """What a user (or the data pipeline) needs to know about a model before building it."""

    name: str
    paper: str
    input_size: tuple[int, int, int]  # (C, H, W) the model was designed for
    min_input_size: tuple[int, int, int]  # smallest (C, H, W) the forward pass accepts
    mean: tuple[float, ...]
    std: tuple[float, ...]
    first_conv: str  # dotted module path of the first convolution
    classifier: str  # dotted module path of the final linear layer
    num_classes: int = 1000
    tags: tuple[str, ...] = field(default_factory=tuple)
    # the registered model that serves images of at most SMALL_INPUT_PIXELS for this design (its CIFAR-sized
    # sibling), or None when the zoo has none and small images must be upscaled to ``input_size``
    small_input_model: str | None = None
    # the zoo module that builds it (resnet, resnet_cifar, densenet, ...): what per-family policies are keyed on
    family: str = ""
