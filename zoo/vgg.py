"""VGG.

Simonyan, Zisserman. "Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015
(arXiv:1409.1556).

Configurations A, B, D and E of the paper's Table 1 are one data table (``VGG_CONFIGS``, keyed by weight-layer
count 11/13/16/19; ints are 3x3 convolution widths, ``"M"`` a 2x2 stride-2 max pool) read by one builder.
All convolutions are 3x3, stride 1, padding 1, each followed by ReLU; fc6/fc7 are 4096 wide with ReLU and
dropout 0.5 (Section 3.1). ``vgg16`` has exactly 138,357,544 parameters at 1000 classes.
Module names follow torchvision (``features.N``, ``avgpool``, ``classifier.0/3/6`` = fc6/fc7/fc8), so a
torchvision ``state_dict`` loads with ``strict=True`` and no key map.

Deviations from the paper:
- Init follows torchvision (He et al. 2015 normal, fan_out, for convolutions; normal with standard deviation
  0.01 and zero bias for the linear layers; BN scale 1, shift 0). The paper (Section 3.1) initialises A from a
  normal distribution with zero mean and variance 10^-2, i.e. standard deviation 0.1, with zero biases, and the
  deeper nets from a trained A; pretraining one net to start another is impractical here.
- An adaptive average pool to 7x7 before fc6 (identity at 224x224) lets any input of at least 32x32 run
  (the paper instead converts the fc layers to convolutions at test time, Section 3.2).
- ``*_bn`` variants add BatchNorm after every convolution (Ioffe & Szegedy 2015); the paper predates BN.
- Configuration A-LRN and C (1x1 convolutions) of Table 1 are not provided.
CIFAR variants (``vgg*_bn_cifar``, not from the paper): the same BN convolution table for 32x32 inputs, where
the five pools leave 1x1x512; a global average pool (identity at 32x32) and a single ``Linear(512, num_classes)``
(``classifier.0``) replace fc6-fc8, so ``head_hidden_size`` is 512 and there is no dropout.
"""

from __future__ import annotations

from functools import partial

import torch.nn as nn
from torch import Tensor

from .base import ZooModel
from .info import CIFAR_INPUT
from .registry import register_model

PAPER = (
    "Simonyan & Zisserman, Very Deep Convolutional Networks for Large-Scale Image Recognition, ICLR 2015, "
    "arXiv:1409.1556"
)

# Paper Table 1: A (11 weight layers), B (13), D (16), E (19).
VGG_CONFIGS: dict[int, list[int | str]] = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
FC_WIDTH = 4096
DROPOUT = 0.5
POOLED_SIZE = 7  # spatial size fc6 sees: 224 / 2**5


class VGG(ZooModel):
    """``hidden_fc`` is the width of each hidden fully connected layer (fc6, fc7 for ImageNet; none for CIFAR)."""

    first_conv_path = "features.0"
    classifier_path = "classifier.6"

    def __init__(
        self,
        depth: int,
        num_classes: int = 1000,
        in_chans: int = 3,
        batch_norm: bool = False,
        pooled_size: int = POOLED_SIZE,
        hidden_fc: tuple[int, ...] = (FC_WIDTH, FC_WIDTH),
        dropout: float = DROPOUT,
    ):
        super().__init__()
        self.num_classes, self.in_chans = num_classes, in_chans
        layers: list[nn.Module] = []
        in_ch = in_chans
        for v in VGG_CONFIGS[depth]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            layers.append(nn.Conv2d(in_ch, v, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU(inplace=True))
            in_ch = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(pooled_size)
        head: list[nn.Module] = []
        width = in_ch * pooled_size**2
        for hidden in hidden_fc:
            head += [nn.Linear(width, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            width = hidden
        self.num_features, self._head_hidden_size = in_ch, width
        self.classifier = nn.Sequential(*head, nn.Linear(width, num_classes))
        self.init_torchvision_style(partial(nn.init.kaiming_normal_, mode="fan_out", nonlinearity="relu"))

    def init_classifier(self, layer: nn.Linear) -> None:
        nn.init.normal_(layer.weight, 0.0, 0.01)
        nn.init.zeros_(layer.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.features(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        *hidden, last = self.classifier
        x = self.avgpool(x).flatten(1)
        for layer in hidden:
            x = layer(x)
        return x if pre_logits else last(x)

    def group_layout(self) -> list[tuple[str, list[str]]]:
        # One group per conv block, each ending in its max pool: stem, stage1..stage4.
        blocks: list[list[str]] = [[]]
        for i, layer in enumerate(self.features):
            blocks[-1].append(f"features.{i}")
            if isinstance(layer, nn.MaxPool2d) and i < len(self.features) - 1:
                blocks.append([])
        groups = [("stem", blocks[0])] + [(f"stage{i}", b) for i, b in enumerate(blocks[1:], start=1)]
        n_head = len(self.classifier)
        if n_head > 1:
            groups.append(("fc", [f"classifier.{i}" for i in range(n_head - 1)]))
        return groups + [("head", [f"classifier.{n_head - 1}"])]


class VGGCifar(VGG):
    """VGG with BN for 32x32 inputs: global pool (1x1 after five pools) and one linear layer on 512 features."""

    classifier_path = "classifier.0"

    def __init__(self, depth: int, num_classes: int = 10, in_chans: int = 3):
        super().__init__(depth, num_classes, in_chans, batch_norm=True, pooled_size=1, hidden_fc=())


def _registration(depth: int) -> dict:
    """Each 2x2/2 pool floors the size, so at least one pixel must survive every pool."""
    smallest = 2 ** VGG_CONFIGS[depth].count("M")
    return {"family": "vgg", "paper": PAPER, "min_input_size": (3, smallest, smallest)}


@register_model(VGG, input_size=(3, 224, 224), **_registration(11))
def vgg11(num_classes: int = 1000, in_chans: int = 3, dropout: float = DROPOUT) -> VGG:
    """VGG-11 (configuration A of Table 1)."""
    return VGG(11, num_classes, in_chans, batch_norm=False, dropout=dropout)


@register_model(VGG, input_size=(3, 224, 224), small_input_model="vgg11_bn_cifar", **_registration(11))
def vgg11_bn(num_classes: int = 1000, in_chans: int = 3, dropout: float = DROPOUT) -> VGG:
    """VGG-11 (configuration A) with BatchNorm after every convolution."""
    return VGG(11, num_classes, in_chans, batch_norm=True, dropout=dropout)


@register_model(VGGCifar, **CIFAR_INPUT, **_registration(11))
def vgg11_bn_cifar(num_classes: int = 10, in_chans: int = 3) -> VGG:
    """VGG-11 (configuration A) with BatchNorm for 32x32 inputs: global pool and one linear layer."""
    return VGGCifar(11, num_classes, in_chans)


@register_model(VGG, input_size=(3, 224, 224), **_registration(13))
def vgg13(num_classes: int = 1000, in_chans: int = 3, dropout: float = DROPOUT) -> VGG:
    """VGG-13 (configuration B of Table 1)."""
    return VGG(13, num_classes, in_chans, batch_norm=False, dropout=dropout)


@register_model(VGG, input_size=(3, 224, 224), small_input_model="vgg13_bn_cifar", **_registration(13))
def vgg13_bn(num_classes: int = 1000, in_chans: int = 3, dropout: float = DROPOUT) -> VGG:
    """VGG-13 (configuration B) with BatchNorm after every convolution."""
    return VGG(13, num_classes, in_chans, batch_norm=True, dropout=dropout)


@register_model(VGGCifar, **CIFAR_INPUT, **_registration(13))
def vgg13_bn_cifar(num_classes: int = 10, in_chans: int = 3) -> VGG:
    """VGG-13 (configuration B) with BatchNorm for 32x32 inputs: global pool and one linear layer."""
    return VGGCifar(13, num_classes, in_chans)


@register_model(VGG, input_size=(3, 224, 224), **_registration(16))
def vgg16(num_classes: int = 1000, in_chans: int = 3, dropout: float = DROPOUT) -> VGG:
    """VGG-16 (configuration D of Table 1)."""
    return VGG(16, num_classes, in_chans, batch_norm=False, dropout=dropout)


@register_model(VGG, input_size=(3, 224, 224), small_input_model="vgg16_bn_cifar", **_registration(16))
def vgg16_bn(num_classes: int = 1000, in_chans: int = 3, dropout: float = DROPOUT) -> VGG:
    """VGG-16 (configuration D) with BatchNorm after every convolution."""
    return VGG(16, num_classes, in_chans, batch_norm=True, dropout=dropout)


@register_model(VGGCifar, **CIFAR_INPUT, **_registration(16))
def vgg16_bn_cifar(num_classes: int = 10, in_chans: int = 3) -> VGG:
    """VGG-16 (configuration D) with BatchNorm for 32x32 inputs: global pool and one linear layer."""
    return VGGCifar(16, num_classes, in_chans)


@register_model(VGG, input_size=(3, 224, 224), **_registration(19))
def vgg19(num_classes: int = 1000, in_chans: int = 3, dropout: float = DROPOUT) -> VGG:
    """VGG-19 (configuration E of Table 1)."""
    return VGG(19, num_classes, in_chans, batch_norm=False, dropout=dropout)


@register_model(VGG, input_size=(3, 224, 224), small_input_model="vgg19_bn_cifar", **_registration(19))
def vgg19_bn(num_classes: int = 1000, in_chans: int = 3, dropout: float = DROPOUT) -> VGG:
    """VGG-19 (configuration E) with BatchNorm after every convolution."""
    return VGG(19, num_classes, in_chans, batch_norm=True, dropout=dropout)


@register_model(VGGCifar, **CIFAR_INPUT, **_registration(19))
def vgg19_bn_cifar(num_classes: int = 10, in_chans: int = 3) -> VGG:
    """VGG-19 (configuration E) with BatchNorm for 32x32 inputs: global pool and one linear layer."""
    return VGGCifar(19, num_classes, in_chans)
