"""DenseNet.

Huang, Liu, van der Maaten, Weinberger. "Densely Connected Convolutional Networks", CVPR 2017
(arXiv:1608.06993).

The ImageNet DenseNet-BC networks of the paper's Table 1 (121, 169, 201, 264 with k=32; 161 with k=48) and the
CIFAR DenseNet-BC networks of Table 2 (L=100 k=12, L=250 k=24, L=190 k=40) are rows of one data table
(``DENSENET_CONFIGS``) read by one builder. Every dense layer is BN-ReLU-Conv1x1 (4k maps, the bottleneck) then
BN-ReLU-Conv3x3 (k maps), its output concatenated to its input; every transition is BN-ReLU-Conv1x1
(compression 0.5)-AvgPool2x2. Dropout (``drop_rate``, default 0; the paper uses 0.2 on CIFAR without
augmentation) goes where the paper puts it, after every convolution but the first (Section 4.2, as in the
authors' code: both convolutions of each dense layer and each transition's); ``drop_placement="torchvision"``
applies it after each 3x3 convolution only, as torchvision does.
Module names follow torchvision (``features.conv0``, ``features.denseblockN.denselayerM.conv1``,
``features.transitionN.conv``, ``features.norm5``, ``classifier``), so a torchvision ``state_dict`` loads with
``strict=True`` and no key map. Parameters at 1000 classes: ``densenet121`` 7,978,856; ``densenet264``
33,337,704 (the figure of the widely used reference implementations; the paper gives none).

CIFAR nets (``densenet_bc100_cifar``, ``densenet_bc250_cifar``, ``densenet_bc190_cifar``): a 3x3 stride-1 stem
convolution with 2k maps (no BN, ReLU or pool after it, as in the paper), three dense blocks of (L-4)/6
bottleneck layers (16, 41, 31) separated by two transitions, BN-ReLU, global average pool (8x8 at 32x32) and a
linear layer. Parameters at 10 classes: 769,162; 15,324,406; 25,624,430 (Table 2: 0.8M, 15.3M, 25.6M).

Deviations from the paper:
- Init follows torchvision (He et al. 2015 normal for convolutions, BN scale 1 and shift 0, linear bias 0,
  linear weight PyTorch's default); the paper cites He et al. 2015 for the convolutions.
- Global average pooling is adaptive, so any input at or above the minimum size works.
- No memory-efficient (checkpointed) concatenation: every dense layer concatenates its inputs afresh.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal, get_args

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .base import ZooModel
from .info import CIFAR_INPUT
from .registry import register_model

PAPER = "Huang et al., Densely Connected Convolutional Networks, CVPR 2017, arXiv:1608.06993"

BOTTLENECK_FACTOR = 4  # the 1x1 bottleneck produces 4k maps (Section 3, "Bottleneck layers")
COMPRESSION = 0.5  # theta: a transition keeps half of its input maps (Section 3, "Compression")
# Where ``drop_rate`` applies: "paper" after every convolution but the first (Section 4.2; the authors' code: both
# convolutions of a dense layer and the transition's); "torchvision" after each 3x3 convolution only.
DropPlacement = Literal["paper", "torchvision"]
DROP_PLACEMENTS = get_args(DropPlacement)


@dataclass(frozen=True)
class DenseNetConfig:
    growth_rate: int  # k
    block_layers: tuple[int, ...]
    stem_channels: int
    imagenet_stem: bool  # 7x7/2 conv + BN-ReLU + 3x3/2 max pool; else one 3x3/1 conv
    input_size: int
    min_input_size: int  # smallest square input leaving at least one pixel after the last transition


DENSENET_CONFIGS: dict[str, DenseNetConfig] = {
    # Table 1 (ImageNet). 29 -> conv0 15 -> pool0 8 -> three transitions 4, 2, 1; 28 gives 0 after the last one.
    "densenet121": DenseNetConfig(32, (6, 12, 24, 16), 64, True, 224, 29),
    "densenet169": DenseNetConfig(32, (6, 12, 32, 32), 64, True, 224, 29),
    "densenet201": DenseNetConfig(32, (6, 12, 48, 32), 64, True, 224, 29),
    "densenet161": DenseNetConfig(48, (6, 12, 36, 24), 96, True, 224, 29),
    "densenet264": DenseNetConfig(32, (6, 12, 64, 48), 64, True, 224, 29),
    # Table 2 (CIFAR): L=100 = 3 blocks x 16 layers x 2 convs + stem + 2 transitions + classifier. 4 -> 2 -> 1.
    "densenet_bc100_cifar": DenseNetConfig(12, (16, 16, 16), 24, False, 32, 4),
    # L = 6 * layers per block + 4: 250 -> 41 layers, 190 -> 31 layers; the stem has 2k maps.
    "densenet_bc250_cifar": DenseNetConfig(24, (41, 41, 41), 48, False, 32, 4),
    "densenet_bc190_cifar": DenseNetConfig(40, (31, 31, 31), 80, False, 32, 4),
}


class DenseLayer(nn.Module):
    """BN-ReLU-Conv1x1 (4k) then BN-ReLU-Conv3x3 (k); dropout after the 3x3 and, if ``bottleneck_drop_rate``,
    the 1x1."""

    def __init__(self, in_ch: int, growth_rate: int, drop_rate: float, bottleneck_drop_rate: float = 0.0):
        super().__init__()
        width = BOTTLENECK_FACTOR * growth_rate
        self.norm1 = nn.BatchNorm2d(in_ch)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(width)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, growth_rate, 3, padding=1, bias=False)
        self.drop_rate = drop_rate
        self.bottleneck_drop_rate = bottleneck_drop_rate

    def forward(self, features: list[Tensor]) -> Tensor:
        x = self.conv1(self.relu1(self.norm1(torch.cat(features, 1))))
        x = F.dropout(x, p=self.bottleneck_drop_rate, training=self.training)
        x = self.conv2(self.relu2(self.norm2(x)))
        return F.dropout(x, p=self.drop_rate, training=self.training)


class DenseBlock(nn.ModuleDict):
    def __init__(self, n_layers: int, in_ch: int, growth_rate: int, drop_rate: float, bottleneck_drop_rate: float):
        super().__init__(
            {
                f"denselayer{i + 1}": DenseLayer(in_ch + i * growth_rate, growth_rate, drop_rate, bottleneck_drop_rate)
                for i in range(n_layers)
            }
        )

    def forward(self, x: Tensor) -> Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    """BN-ReLU-Conv1x1-AvgPool2x2, with dropout after the convolution when ``drop_rate`` > 0."""

    def __init__(self, in_ch: int, out_ch: int, drop_rate: float = 0.0):
        layers = [
            ("norm", nn.BatchNorm2d(in_ch)),
            ("relu", nn.ReLU(inplace=True)),
            ("conv", nn.Conv2d(in_ch, out_ch, 1, bias=False)),
        ]
        if drop_rate > 0:
            layers.append(("drop", nn.Dropout(drop_rate)))
        super().__init__(OrderedDict(layers + [("pool", nn.AvgPool2d(2, 2))]))


class DenseNet(ZooModel):
    first_conv_path = "features.conv0"
    classifier_path = "classifier"

    def __init__(
        self,
        config: DenseNetConfig,
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.0,
        drop_placement: DropPlacement = "paper",
    ):
        super().__init__()
        if drop_placement not in DROP_PLACEMENTS:
            raise ValueError(f"drop_placement must be one of {DROP_PLACEMENTS}, got {drop_placement!r}")
        everywhere = drop_rate if drop_placement == "paper" else 0.0  # bottleneck 1x1 and transition convolutions
        self.num_classes, self.in_chans = num_classes, in_chans
        ch = config.stem_channels
        if config.imagenet_stem:
            stem = OrderedDict(
                [
                    ("conv0", nn.Conv2d(in_chans, ch, 7, stride=2, padding=3, bias=False)),
                    ("norm0", nn.BatchNorm2d(ch)),
                    ("relu0", nn.ReLU(inplace=True)),
                    ("pool0", nn.MaxPool2d(3, stride=2, padding=1)),
                ]
            )
        else:
            stem = OrderedDict([("conv0", nn.Conv2d(in_chans, ch, 3, padding=1, bias=False))])
        self._groups = [("stem", [f"features.{name}" for name in stem])]
        layers = stem
        n_blocks = len(config.block_layers)
        for i, n_layers in enumerate(config.block_layers, start=1):
            layers[f"denseblock{i}"] = DenseBlock(n_layers, ch, config.growth_rate, drop_rate, everywhere)
            ch += n_layers * config.growth_rate
            if i < n_blocks:
                layers[f"transition{i}"] = Transition(ch, int(ch * COMPRESSION), everywhere)
                ch = int(ch * COMPRESSION)
                after = f"features.transition{i}"
            else:
                layers["norm5"] = nn.BatchNorm2d(ch)
                after = "features.norm5"
            self._groups.append((f"stage{i}", [f"features.denseblock{i}", after]))
        self._groups.append(("head", ["classifier"]))
        self.features = nn.Sequential(layers)
        self.num_features = ch
        self.classifier = nn.Linear(ch, num_classes)
        self.init_torchvision_style(nn.init.kaiming_normal_)

    def init_classifier(self, layer: nn.Linear) -> None:
        nn.init.zeros_(layer.bias)  # the weight keeps PyTorch's default init, as in torchvision

    def forward_features(self, x: Tensor) -> Tensor:
        return F.relu(self.features(x))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return x if pre_logits else self.classifier(x)

    def group_layout(self) -> list[tuple[str, list[str]]]:
        return self._groups


def _registration(name: str) -> dict:
    config = DENSENET_CONFIGS[name]
    smallest = (3, config.min_input_size, config.min_input_size)
    if config.imagenet_stem:
        size = (3, config.input_size, config.input_size)
        return {"family": "densenet", "paper": PAPER, "input_size": size, "min_input_size": smallest}
    return {"family": "densenet", "paper": PAPER, "min_input_size": smallest, **CIFAR_INPUT}


@register_model(DenseNet, **_registration("densenet121"))
def densenet121(
    num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0, drop_placement: DropPlacement = "paper"
) -> DenseNet:
    """DenseNet-BC-121 (Table 1: k=32, blocks 6-12-24-16)."""
    return DenseNet(DENSENET_CONFIGS["densenet121"], num_classes, in_chans, drop_rate, drop_placement)


@register_model(DenseNet, **_registration("densenet169"))
def densenet169(
    num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0, drop_placement: DropPlacement = "paper"
) -> DenseNet:
    """DenseNet-BC-169 (Table 1: k=32, blocks 6-12-32-32)."""
    return DenseNet(DENSENET_CONFIGS["densenet169"], num_classes, in_chans, drop_rate, drop_placement)


@register_model(DenseNet, **_registration("densenet201"))
def densenet201(
    num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0, drop_placement: DropPlacement = "paper"
) -> DenseNet:
    """DenseNet-BC-201 (Table 1: k=32, blocks 6-12-48-32)."""
    return DenseNet(DENSENET_CONFIGS["densenet201"], num_classes, in_chans, drop_rate, drop_placement)


@register_model(DenseNet, **_registration("densenet161"))
def densenet161(
    num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0, drop_placement: DropPlacement = "paper"
) -> DenseNet:
    """DenseNet-BC-161 (k=48, blocks 6-12-36-24; the authors' released model, not in Table 1)."""
    return DenseNet(DENSENET_CONFIGS["densenet161"], num_classes, in_chans, drop_rate, drop_placement)


@register_model(DenseNet, **_registration("densenet264"))
def densenet264(
    num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0, drop_placement: DropPlacement = "paper"
) -> DenseNet:
    """DenseNet-BC-264 (Table 1: k=32, blocks 6-12-64-48)."""
    return DenseNet(DENSENET_CONFIGS["densenet264"], num_classes, in_chans, drop_rate, drop_placement)


@register_model(DenseNet, **_registration("densenet_bc100_cifar"))
def densenet_bc100_cifar(
    num_classes: int = 10, in_chans: int = 3, drop_rate: float = 0.0, drop_placement: DropPlacement = "paper"
) -> DenseNet:
    """DenseNet-BC (L=100, k=12) for CIFAR (Table 2)."""
    return DenseNet(DENSENET_CONFIGS["densenet_bc100_cifar"], num_classes, in_chans, drop_rate, drop_placement)


@register_model(DenseNet, **_registration("densenet_bc250_cifar"))
def densenet_bc250_cifar(
    num_classes: int = 10, in_chans: int = 3, drop_rate: float = 0.0, drop_placement: DropPlacement = "paper"
) -> DenseNet:
    """DenseNet-BC (L=250, k=24) for CIFAR (Table 2)."""
    return DenseNet(DENSENET_CONFIGS["densenet_bc250_cifar"], num_classes, in_chans, drop_rate, drop_placement)


@register_model(DenseNet, **_registration("densenet_bc190_cifar"))
def densenet_bc190_cifar(
    num_classes: int = 10, in_chans: int = 3, drop_rate: float = 0.0, drop_placement: DropPlacement = "paper"
) -> DenseNet:
    """DenseNet-BC (L=190, k=40) for CIFAR (Table 2)."""
    return DenseNet(DENSENET_CONFIGS["densenet_bc190_cifar"], num_classes, in_chans, drop_rate, drop_placement)
