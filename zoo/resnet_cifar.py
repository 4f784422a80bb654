"""ResNet for CIFAR-10: the 6n+2-layer networks of He et al. 2016, Section 4.2.

He, Zhang, Ren, Sun. "Deep Residual Learning for Image Recognition", CVPR 2016 (arXiv:1512.03385).

The first layer is a 3x3 convolution with 16 filters; then three stages of n residual blocks (2n layers) of 3x3
convolutions on 32x32, 16x16 and 8x8 maps with 16, 32 and 64 filters, the first convolution of stages 2 and 3
subsampling with stride 2; then global average pooling and a 10-way fully connected layer: 6n+2 weighted
layers. ``CIFAR_RESNET_BLOCKS`` maps each depth of the paper's Table 6 to n; one builder reads it and the stage
table ``CIFAR_STAGE_WIDTHS``. Blocks are ``zoo.resnet.BasicBlock`` (conv-BN-ReLU-conv-BN, add, ReLU).

Shortcuts (``shortcut=``): ``"A"`` (default, what the paper uses on CIFAR) is the parameter-free identity; where
the stage doubles the width and halves the maps it takes every second pixel and appends zero channels.
``"B"`` projects with a 1x1 stride-2 convolution + BN where the shape changes, identity elsewhere.
Parameters at 10 classes, option A: resnet20 269,722; resnet32 464,154; resnet44 658,586; resnet56 853,018;
resnet110 1,727,962; resnet1202 19,421,274 (Table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M, 19.4M). Option B adds
2,752 (two projections: 16*32 + 2*32 and 32*64 + 2*64).
Init (the paper's reference [13], He et al. 2015): convolution weights ~ N(0, 2 / (k*k*c_in)), BN scale 1 and
shift 0. ``resnet18_cifar`` and its siblings in ``zoo.resnet`` are a different thing: ImageNet ResNets (64-512
filters, 11M+ parameters) with a small-image stem.

Deviations from the paper:
- Option A's zero channels are appended after the identity channels; the paper does not say where they go.
- The fully connected layer keeps PyTorch's default init (the paper does not give one).
- Global average pooling is adaptive, so inputs other than 32x32 (at least 8x8) run too.
- ``resnet1202`` zero-initialises the last BN scale of every block (``zero_init_residual=True``, Goyal et al.
  2017) by default: with fresh batch-norm statistics (the identity in eval mode) each of its 600 residual
  additions roughly doubles the variance and a new network's eval-mode output overflows float32 to NaN.
  ``zero_init_residual=False`` gives the paper's init; the other depths default to it and accept the option.

Plain networks (``plain20`` ... ``plain56``, Section 4.2 and Figure 6, left): the same 6n+2 stacks with every
shortcut removed, the paper's baselines for the degradation problem. With option A's parameter-free shortcuts gone
they have exactly the parameters of the ResNet of the same depth (plain20 269,722 ... plain56 853,018). Deviation:
none beyond those of the ResNets above that apply (fully connected init, adaptive pooling).
"""

from functools import partial
from typing import Literal, get_args

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .base import ZooModel
from .info import CIFAR_INPUT
from .registry import register_model
from .resnet import PAPER, BasicBlock

# Table 6: depth 6n+2 -> n, the number of blocks per stage
CIFAR_RESNET_BLOCKS: dict[int, int] = {20: 3, 32: 5, 44: 7, 56: 9, 110: 18, 1202: 200}
CIFAR_STAGE_WIDTHS = (16, 32, 64)  # filters on the 32x32, 16x16 and 8x8 maps
Shortcut = Literal["A", "B"]
SHORTCUT_TYPES = get_args(Shortcut)


class ZeroPadShortcut(nn.Module):
    """Option A where the shape changes: subsample by ``stride`` and append zero channels up to ``out_ch``."""

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.extra_channels = out_ch - in_ch
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, [0, 0, 0, 0, 0, self.extra_channels])


def _shortcut(kind: str, in_ch: int, out_ch: int, stride: int) -> nn.Module | None:
    if stride == 1 and in_ch == out_ch:
        return None  # identity
    if kind == "A":
        return ZeroPadShortcut(in_ch, out_ch, stride)
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch))


class PlainBlock(BasicBlock):
    """BasicBlock without its shortcut: conv-BN-ReLU-conv-BN-ReLU (the paper's plain baseline)."""

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))


class CifarResNet(ZooModel):
    first_conv_path = "conv1"
    classifier_path = "fc"

    def __init__(
        self,
        depth: int,
        num_classes: int = 10,
        in_chans: int = 3,
        shortcut: Shortcut = "A",
        zero_init_residual: bool = False,
        residual: bool = True,
    ):
        super().__init__()
        if shortcut not in SHORTCUT_TYPES:
            raise ValueError(f"shortcut must be one of {SHORTCUT_TYPES} (paper Section 3.3), got {shortcut!r}")
        n_blocks = CIFAR_RESNET_BLOCKS[depth]
        self.num_classes, self.in_chans = num_classes, in_chans
        self.shortcut = shortcut if residual else None
        block = BasicBlock if residual else PlainBlock
        in_ch = CIFAR_STAGE_WIDTHS[0]
        self.conv1 = nn.Conv2d(in_chans, in_ch, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.relu = nn.ReLU(inplace=True)
        for i, width in enumerate(CIFAR_STAGE_WIDTHS):
            stride = 1 if i == 0 else 2
            shortcut_module = _shortcut(shortcut, in_ch, width, stride) if residual else None
            blocks = [block(in_ch, width, stride, shortcut_module)]
            blocks += [block(width, width) for _ in range(n_blocks - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            in_ch = width
        self.num_features = in_ch
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, num_classes)
        self.init_torchvision_style(partial(nn.init.kaiming_normal_, mode="fan_in", nonlinearity="relu"))
        if zero_init_residual:
            for block in self.modules():
                if isinstance(block, BasicBlock):
                    nn.init.zeros_(block.last_bn().weight)

    def init_classifier(self, layer: nn.Linear) -> None:
        """PyTorch's default init, which a new ``nn.Linear`` already has: nothing to redo."""

    def forward_features(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        return self.layer3(self.layer2(self.layer1(x)))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.avgpool(x).flatten(1)
        return x if pre_logits else self.fc(x)

    def group_layout(self) -> list[tuple[str, list[str]]]:
        return [("stem", ["conv1", "bn1"])] + [(f"stage{i}", [f"layer{i}"]) for i in range(1, 4)] + [("head", ["fc"])]


_REGISTER = {"family": "resnet_cifar", "paper": PAPER, "min_input_size": (3, 8, 8), **CIFAR_INPUT}


@register_model(CifarResNet, **_REGISTER)
def resnet20(
    num_classes: int = 10, in_chans: int = 3, shortcut: Shortcut = "A", zero_init_residual: bool = False
) -> CifarResNet:
    """ResNet-20 for CIFAR-10 (n=3, 16/32/64 filters, option A shortcuts; shortcut='B' projects)."""
    return CifarResNet(20, num_classes, in_chans, shortcut, zero_init_residual)


@register_model(CifarResNet, **_REGISTER)
def resnet32(
    num_classes: int = 10, in_chans: int = 3, shortcut: Shortcut = "A", zero_init_residual: bool = False
) -> CifarResNet:
    """ResNet-32 for CIFAR-10 (n=5, 16/32/64 filters, option A shortcuts; shortcut='B' projects)."""
    return CifarResNet(32, num_classes, in_chans, shortcut, zero_init_residual)


@register_model(CifarResNet, **_REGISTER)
def resnet44(
    num_classes: int = 10, in_chans: int = 3, shortcut: Shortcut = "A", zero_init_residual: bool = False
) -> CifarResNet:
    """ResNet-44 for CIFAR-10 (n=7, 16/32/64 filters, option A shortcuts; shortcut='B' projects)."""
    return CifarResNet(44, num_classes, in_chans, shortcut, zero_init_residual)


@register_model(CifarResNet, **_REGISTER)
def resnet56(
    num_classes: int = 10, in_chans: int = 3, shortcut: Shortcut = "A", zero_init_residual: bool = False
) -> CifarResNet:
    """ResNet-56 for CIFAR-10 (n=9, 16/32/64 filters, option A shortcuts; shortcut='B' projects)."""
    return CifarResNet(56, num_classes, in_chans, shortcut, zero_init_residual)


@register_model(CifarResNet, **_REGISTER)
def resnet110(
    num_classes: int = 10, in_chans: int = 3, shortcut: Shortcut = "A", zero_init_residual: bool = False
) -> CifarResNet:
    """ResNet-110 for CIFAR-10 (n=18, 16/32/64 filters, option A shortcuts; shortcut='B' projects)."""
    return CifarResNet(110, num_classes, in_chans, shortcut, zero_init_residual)


@register_model(CifarResNet, **_REGISTER)
def resnet1202(
    num_classes: int = 10, in_chans: int = 3, shortcut: Shortcut = "A", zero_init_residual: bool = True
) -> CifarResNet:
    """ResNet-1202 for CIFAR-10 (n=200; zero-initialised residual BN by default, see Deviations)."""
    return CifarResNet(1202, num_classes, in_chans, shortcut, zero_init_residual)


@register_model(CifarResNet, **_REGISTER)
def plain20(num_classes: int = 10, in_chans: int = 3) -> CifarResNet:
    """Plain-20 for CIFAR-10: ResNet-20's 6n+2 stack (n=3) with no shortcuts (Figure 6, left)."""
    return CifarResNet(20, num_classes, in_chans, residual=False)


@register_model(CifarResNet, **_REGISTER)
def plain32(num_classes: int = 10, in_chans: int = 3) -> CifarResNet:
    """Plain-32 for CIFAR-10: ResNet-32's 6n+2 stack (n=5) with no shortcuts (Figure 6, left)."""
    return CifarResNet(32, num_classes, in_chans, residual=False)


@register_model(CifarResNet, **_REGISTER)
def plain44(num_classes: int = 10, in_chans: int = 3) -> CifarResNet:
    """Plain-44 for CIFAR-10: ResNet-44's 6n+2 stack (n=7) with no shortcuts (Figure 6, left)."""
    return CifarResNet(44, num_classes, in_chans, residual=False)


@register_model(CifarResNet, **_REGISTER)
def plain56(num_classes: int = 10, in_chans: int = 3) -> CifarResNet:
    """Plain-56 for CIFAR-10: ResNet-56's 6n+2 stack (n=9) with no shortcuts (Figure 6, left)."""
    return CifarResNet(56, num_classes, in_chans, residual=False)
