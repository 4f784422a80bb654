"""Inception-ResNet-v1 and Inception-ResNet-v2.

Szegedy, Ioffe, Vanhoucke & Alemi, "Inception-v4, Inception-ResNet and the Impact of Residual Connections on
Learning", AAAI 2017 (arXiv:1602.07261), Figures 10-20 and Table 1 (the arXiv version's numbers).

Each residual block (``Residual`` in ``zoo.inception_blocks``) concatenates its branches, projects them back to
the input width with a linear 1x1 convolution, scales the result and adds it to the input, then applies ReLU
(Figures 10 and 20). The residual scales are the released model's 0.17 (A), 0.10 (B) and 0.20 (C), inside the
paper's "between 0.1 and 0.3". Both networks end in average pooling, dropout (keep 0.8) and a linear layer (Figure 15).

``inception_resnet_v1`` follows the paper: the stem of Figure 14 (299x299x3 -> 35x35x256), 5 Inception-ResNet-A
(Figure 10), Reduction-A (Figure 7 with k, l, m, n = 192, 192, 256, 384), 10 Inception-ResNet-B (Figure 11),
Reduction-B (Figure 12), 5 Inception-ResNet-C (Figure 13). Grid at 299: 35x35x256, 17x17x896, 8x8x1792.
22,756,328 parameters at 1000 classes. No widely used ImageNet implementation exists (facenet's is a face
embedding net); the count is derived from the figures, block by block, in tests/test_inception_family.py, and
equals facenet-pytorch's ``InceptionResnetV1`` (23,482,624) less its sixth C block (1,600,768) and its 512-wide
embedding layers (918,528), plus a 1792 -> 1000 linear layer (1,793,000). Facenet's sixth C block (linear,
unscaled) is not built: the paper has five.

``inception_resnet_v2`` is the authors' released TF-slim model, whose count timm's ``inception_resnet_v2``
reproduces: 55,843,464 parameters at 1000 classes, in timm's order and shapes (its ``state_dict`` values load by
position and give identical outputs; tested where timm is installed). Grid at 299: 35x35x320, 17x17x1088,
8x8x1536 (after a final 1x1 convolution to 1536 on the 8x8x2080 map).

Deviations and choices:
- Both: batch norm (eps 0.001) between every convolution and its ReLU, bias-free convolutions; no batch norm
  on the summations (as the paper says). The residual projections are plain 1x1 convolutions with bias.
- Both: the 1x7/7x1 and 1x3/3x1 orders, the average pools that exclude padding, Xavier-uniform initialisation
  and the [-1, 1] input normalisation of the released TF-slim code (see ``zoo.inception_v4``); no auxiliary
  classifier; adaptive final average pool.
- Inception-ResNet-v2 follows the released model where the paper's figures disagree with it (their widths do
  not even agree with each other: Reduction-A outputs 384 + 384 + 384 = 1152 channels, Figure 17's projection
  1154): the Inception-v3 stem (3x3/2 32, 3x3 32, 3x3 64, max pool, 1x1 80, 3x3 192, max pool) and a 35x35
  inception module (``Mixed_5b``, 320 channels) instead of Figure 3's 384-channel stem; residual widths 320,
  1088 and 2080 instead of 384, 1154 and 2048; 10, 20 and 10 A/B/C blocks instead of 5, 10 and 5; the last C
  block unscaled (scale 1) and without ReLU; a 1x1 convolution to 1536 channels before the average pool.
"""

from collections.abc import Sequence

import torch.nn as nn

from .inception_blocks import (
    INCEPTION_MEAN,
    INCEPTION_STD,
    Block,
    Branch,
    ConvSpec,
    Group,
    InceptionNet,
    Residual,
    conv_1xn,
    conv_nx1,
    repeat,
)
from .inception_v4 import PAPER, avg_3s1, max_3s2, reduction_a, tf_conv
from .registry import register_model


def resnet_a(b1: int, b2: int, b3: tuple[int, int, int]) -> Block:
    """Figures 10 and 16: 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3 (35x35)."""
    return (
        Branch("branch1x1", (ConvSpec(b1, 1),)),
        Branch("branch3x3", (ConvSpec(b2, 1), ConvSpec(b2, 3, 1, 1))),
        Branch("branch3x3dbl", (ConvSpec(b3[0], 1), ConvSpec(b3[1], 3, 1, 1), ConvSpec(b3[2], 3, 1, 1))),
    )


def resnet_b(b1: int, b2: tuple[int, int, int]) -> Block:
    """Figures 11 and 17: 1x1 | 1x1 -> 1x7 -> 7x1 (17x17)."""
    return (
        Branch("branch1x1", (ConvSpec(b1, 1),)),
        Branch("branch7x7", (ConvSpec(b2[0], 1), conv_1xn(b2[1], 7), conv_nx1(b2[2], 7))),
    )


def resnet_c(b1: int, b2: tuple[int, int, int]) -> Block:
    """Figures 13 and 19: 1x1 | 1x1 -> 1x3 -> 3x1 (8x8)."""
    return (
        Branch("branch1x1", (ConvSpec(b1, 1),)),
        Branch("branch3x3", (ConvSpec(b2[0], 1), conv_1xn(b2[1], 3), conv_nx1(b2[2], 3))),
    )


def reduction_b(b1: int, b2: int, b3: tuple[int, int]) -> Block:
    """Figures 12 and 18, 17x17 -> 8x8: three 1x1 (256) -> stride-2 3x3 branches and a max pool."""
    return (
        Branch("branch3x3a", (ConvSpec(256, 1), ConvSpec(b1, 3, 2))),
        Branch("branch3x3b", (ConvSpec(256, 1), ConvSpec(b2, 3, 2))),
        Branch("branch3x3dbl", (ConvSpec(256, 1), ConvSpec(b3[0], 3, 1, 1), ConvSpec(b3[1], 3, 2))),
        Branch("branch_pool", (), max_3s2),
    )


SCALE_A, SCALE_B, SCALE_C = 0.17, 0.10, 0.20

INCEPTION_RESNET_V1_LAYERS = (
    (
        "stem",
        (  # Figure 14
            ("Conv2d_1a_3x3", ConvSpec(32, 3, 2)),
            ("Conv2d_2a_3x3", ConvSpec(32, 3)),
            ("Conv2d_2b_3x3", ConvSpec(64, 3, 1, 1)),
            ("MaxPool_3a_3x3", max_3s2),
            ("Conv2d_3b_1x1", ConvSpec(80, 1)),
            ("Conv2d_4a_3x3", ConvSpec(192, 3)),
            ("Conv2d_4b_3x3", ConvSpec(256, 3, 2)),
        ),
    ),
    ("stage1", repeat("block35_", range(1, 6), Residual(resnet_a(32, 32, (32, 32, 32)), SCALE_A))),
    (
        "stage2",
        [("Mixed_6a", reduction_a(192, 192, 256, 384))]
        + repeat("block17_", range(1, 11), Residual(resnet_b(128, (128, 128, 128)), SCALE_B)),
    ),
    (
        "stage3",
        [("Mixed_7a", reduction_b(384, 256, (256, 256)))]
        + repeat("block8_", range(1, 6), Residual(resnet_c(192, (192, 192, 192)), SCALE_C)),
    ),
)

_BLOCK8_V2 = resnet_c(192, (192, 224, 256))
INCEPTION_RESNET_V2_LAYERS = (
    (
        "stem",
        (  # the released model's, not Figure 3
            ("Conv2d_1a_3x3", ConvSpec(32, 3, 2)),
            ("Conv2d_2a_3x3", ConvSpec(32, 3)),
            ("Conv2d_2b_3x3", ConvSpec(64, 3, 1, 1)),
            ("MaxPool_3a_3x3", max_3s2),
            ("Conv2d_3b_1x1", ConvSpec(80, 1)),
            ("Conv2d_4a_3x3", ConvSpec(192, 3)),
            ("MaxPool_5a_3x3", max_3s2),
            (
                "Mixed_5b",
                (
                    Branch("branch1x1", (ConvSpec(96, 1),)),
                    Branch("branch5x5", (ConvSpec(48, 1), ConvSpec(64, 5, 1, 2))),
                    Branch("branch3x3dbl", (ConvSpec(64, 1), ConvSpec(96, 3, 1, 1), ConvSpec(96, 3, 1, 1))),
                    Branch("branch_pool", (ConvSpec(64, 1),), avg_3s1),
                ),
            ),
        ),
    ),
    ("stage1", repeat("block35_", range(1, 11), Residual(resnet_a(32, 32, (32, 48, 64)), SCALE_A))),
    (
        "stage2",
        [("Mixed_6a", reduction_a(256, 256, 384, 384))]
        + repeat("block17_", range(1, 21), Residual(resnet_b(192, (128, 160, 192)), SCALE_B)),
    ),
    (
        "stage3",
        [("Mixed_7a", reduction_b(384, 288, (288, 320)))]
        + repeat("block8_", range(1, 10), Residual(_BLOCK8_V2, SCALE_C))
        + [("block8_10", Residual(_BLOCK8_V2, 1.0, activate=False)), ("Conv2d_7b_1x1", ConvSpec(1536, 1))],
    ),
)


class InceptionResNet(InceptionNet):
    first_conv_path = "Conv2d_1a_3x3.conv"

    def __init__(self, layers: Sequence[Group], num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.2):
        super().__init__(num_classes, in_chans, layers, tf_conv, dropout=dropout)
        self.init_torchvision_style(nn.init.xavier_uniform_)

    def init_classifier(self, layer: nn.Linear) -> None:
        nn.init.xavier_uniform_(layer.weight)
        nn.init.zeros_(layer.bias)


_REGISTER = {
    "family": "inception_resnet",
    "paper": PAPER,
    "input_size": (3, 299, 299),
    "min_input_size": (3, 75, 75),
    "mean": INCEPTION_MEAN,
    "std": INCEPTION_STD,
}


@register_model(InceptionResNet, **_REGISTER)
def inception_resnet_v1(num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.2) -> InceptionResNet:
    """Inception-ResNet-v1 as in the paper (Figures 10-15): 5 x A, Reduction-A, 10 x B, Reduction-B, 5 x C."""
    return InceptionResNet(INCEPTION_RESNET_V1_LAYERS, num_classes, in_chans, dropout)


@register_model(InceptionResNet, **_REGISTER)
def inception_resnet_v2(num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.2) -> InceptionResNet:
    """Inception-ResNet-v2 as released (TF-slim; timm's count): 10 x A, Reduction-A, 20 x B, Reduction-B, 10 x C."""
    return InceptionResNet(INCEPTION_RESNET_V2_LAYERS, num_classes, in_chans, dropout)
