"""AlexNet.

Krizhevsky, Sutskever, Hinton. "ImageNet Classification with Deep Convolutional Neural Networks", NeurIPS 2012
(Section 3, Figure 2; init in Section 5).

The five convolutions and three fully connected layers come from a data table (``ALEXNET_CONVS``) read by one
builder. The paper's two GPU columns are modelled with ``groups=2`` on conv2, conv4 and conv5 (the layers whose
kernels see only their own column's maps); conv1 sees the whole image and conv3 and the fc layers see both
columns, so they are ungrouped. ``alexnet`` has exactly 60,965,224 parameters at 1000 classes.

Local response normalisation (Section 3.3) is b = a / (k + alpha * sum_{n neighbouring maps} a^2)^beta with
k=2, n=5, alpha=1e-4, beta=0.75. ``torch.nn.LocalResponseNorm`` divides its ``alpha`` by ``size``, so it is given
``alpha = n * 1e-4`` to compute the paper's formula.
Init (Section 5): weights ~ N(0, 0.01); biases 1 in conv2, conv4, conv5 and the fully connected hidden layers
(fc6, fc7), 0 in the remaining layers (conv1, conv3, fc8).

Deviations from the paper:
- Input 227x227, not the 224x224 the paper states: only 227 gives conv1 (11x11, stride 4, no padding) the
  paper's 55x55 output (224 gives 54x54).
- An adaptive average pool to 6x6 before fc6 (identity at 227x227) lets smaller inputs run; the minimum
  (67x67 for ``alexnet``) is computed from the table.
- The two columns are emulated with grouped convolutions on one device; LRN runs over all 96 (256) maps,
  so the maps at the column boundary also see the other column's neighbours.
- Dropout (p=0.5) is applied to the outputs of fc6 and fc7, as the paper describes.
Variants: ``alexnet_single`` (one column: groups=1, same widths) and ``alexnet_cifar`` (for 32x32 inputs:
a 5x5 stride-1 conv1 with padding 2, the same five convolutions, LRN, pools and grouping, pooled to 3x3,
fc6/fc7 1024 wide; not from the paper).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from functools import partial

import torch.nn as nn
from torch import Tensor

from .base import ZooModel
from .info import CIFAR_INPUT
from .registry import register_model

PAPER = "Krizhevsky et al., ImageNet Classification with Deep Convolutional Neural Networks, NeurIPS 2012"

LRN_SIZE, LRN_ALPHA, LRN_BETA, LRN_K = 5, 1e-4, 0.75, 2.0  # paper's n, alpha, beta, k (Section 3.3)
POOL_KERNEL, POOL_STRIDE = 3, 2  # overlapping pooling (Section 3.4)
DROPOUT = 0.5
INIT_STD = 0.01
HIDDEN_FC_BIAS_INIT = 1.0  # fc6, fc7 (Section 5); fc8's bias starts at 0


@dataclass(frozen=True)
class ConvSpec:
    out_channels: int
    kernel: int
    stride: int
    padding: int
    groups: int
    lrn: bool  # local response normalisation after the ReLU
    pool: bool  # overlapping 3x3/2 max pool after (LRN and) ReLU
    bias_init: float


@dataclass(frozen=True)
class AlexNetConfig:
    convs: tuple[ConvSpec, ...]
    pooled_size: int  # spatial size of the adaptive pool before fc6
    fc_width: int


ALEXNET_CONVS = (
    ConvSpec(96, 11, 4, 0, groups=1, lrn=True, pool=True, bias_init=0.0),
    ConvSpec(256, 5, 1, 2, groups=2, lrn=True, pool=True, bias_init=1.0),
    ConvSpec(384, 3, 1, 1, groups=1, lrn=False, pool=False, bias_init=0.0),
    ConvSpec(384, 3, 1, 1, groups=2, lrn=False, pool=False, bias_init=1.0),
    ConvSpec(256, 3, 1, 1, groups=2, lrn=False, pool=True, bias_init=1.0),
)

CONFIGS: dict[str, AlexNetConfig] = {
    "alexnet": AlexNetConfig(ALEXNET_CONVS, pooled_size=6, fc_width=4096),
    "alexnet_single": AlexNetConfig(tuple(replace(c, groups=1) for c in ALEXNET_CONVS), pooled_size=6, fc_width=4096),
    "alexnet_cifar": AlexNetConfig(
        (replace(ALEXNET_CONVS[0], kernel=5, stride=1, padding=2),) + ALEXNET_CONVS[1:], pooled_size=3, fc_width=1024
    ),
}


def min_input_size(convs: tuple[ConvSpec, ...]) -> int:
    """Smallest square input for which every convolution and pool still yields at least one pixel."""
    size = 1
    for spec in reversed(convs):  # invert out = (in + 2p - k) // s + 1 at its smallest in
        if spec.pool:
            size = (size - 1) * POOL_STRIDE + POOL_KERNEL
        size = max((size - 1) * spec.stride + spec.kernel - 2 * spec.padding, 1)
    return size


class AlexNet(ZooModel):
    first_conv_path = "features.conv1"
    classifier_path = "fc8"

    def __init__(self, config: AlexNetConfig, num_classes: int = 1000, in_chans: int = 3):
        super().__init__()
        self.num_classes, self.in_chans = num_classes, in_chans
        self.num_features, self._head_hidden_size = config.convs[-1].out_channels, config.fc_width
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        self._block_names: list[list[str]] = []
        in_ch = in_chans
        for i, spec in enumerate(config.convs, start=1):
            block = OrderedDict(
                [
                    (
                        f"conv{i}",
                        nn.Conv2d(in_ch, spec.out_channels, spec.kernel, spec.stride, spec.padding, groups=spec.groups),
                    ),
                    (f"relu{i}", nn.ReLU(inplace=True)),
                ]
            )
            if spec.lrn:
                block[f"norm{i}"] = nn.LocalResponseNorm(LRN_SIZE, alpha=LRN_SIZE * LRN_ALPHA, beta=LRN_BETA, k=LRN_K)
            if spec.pool:
                block[f"pool{i}"] = nn.MaxPool2d(POOL_KERNEL, POOL_STRIDE)
            layers.update(block)
            self._block_names.append([f"features.{name}" for name in block])
            in_ch = spec.out_channels
        self.features = nn.Sequential(layers)
        self.avgpool = nn.AdaptiveAvgPool2d(config.pooled_size)
        width = config.fc_width
        self.fc = nn.Sequential(
            OrderedDict(
                [
                    ("fc6", nn.Linear(in_ch * config.pooled_size**2, width)),
                    ("relu6", nn.ReLU(inplace=True)),
                    ("drop6", nn.Dropout(DROPOUT)),
                    ("fc7", nn.Linear(width, width)),
                    ("relu7", nn.ReLU(inplace=True)),
                    ("drop7", nn.Dropout(DROPOUT)),
                ]
            )
        )
        self.fc8 = nn.Linear(width, num_classes)
        self._init_weights(config)

    def _init_weights(self, config: AlexNetConfig) -> None:
        """Weights ~ N(0, 0.01) on the shared path (biases 0), then the paper's bias constants of 1."""
        self.init_torchvision_style(partial(nn.init.normal_, mean=0.0, std=INIT_STD))
        convs = [m for m in self.features if isinstance(m, nn.Conv2d)]
        for layer, spec in zip(convs, config.convs):
            nn.init.constant_(layer.bias, spec.bias_init)
        for layer in (self.fc.fc6, self.fc.fc7):
            nn.init.constant_(layer.bias, HIDDEN_FC_BIAS_INIT)

    def init_classifier(self, layer: nn.Linear) -> None:
        nn.init.normal_(layer.weight, 0.0, INIT_STD)
        nn.init.zeros_(layer.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.features(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.fc(self.avgpool(x).flatten(1))
        return x if pre_logits else self.fc8(x)

    def group_layout(self) -> list[tuple[str, list[str]]]:
        stages = [(f"stage{i}", names) for i, names in enumerate(self._block_names[1:], start=1)]
        return [("stem", self._block_names[0])] + stages + [("fc", ["fc"]), ("head", ["fc8"])]


def _registration(name: str) -> dict:
    smallest = min_input_size(CONFIGS[name].convs)
    return {"family": "alexnet", "paper": PAPER, "min_input_size": (3, smallest, smallest)}


@register_model(AlexNet, input_size=(3, 227, 227), small_input_model="alexnet_cifar", **_registration("alexnet"))
def alexnet(num_classes: int = 1000, in_chans: int = 3) -> AlexNet:
    """AlexNet as in the paper (its two GPU columns as groups=2 on conv2, conv4 and conv5)."""
    return AlexNet(CONFIGS["alexnet"], num_classes, in_chans)


@register_model(AlexNet, input_size=(3, 227, 227), **_registration("alexnet_single"))
def alexnet_single(num_classes: int = 1000, in_chans: int = 3) -> AlexNet:
    """AlexNet as one column: groups=1, the same widths."""
    return AlexNet(CONFIGS["alexnet_single"], num_classes, in_chans)


@register_model(AlexNet, **CIFAR_INPUT, **_registration("alexnet_cifar"))
def alexnet_cifar(num_classes: int = 1000, in_chans: int = 3) -> AlexNet:
    """AlexNet for 32x32 inputs: a 5x5 stride-1 conv1, pooled to 3x3, 1024-wide fc layers."""
    return AlexNet(CONFIGS["alexnet_cifar"], num_classes, in_chans)
