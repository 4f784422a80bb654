"""Inception-v4.

Szegedy, Ioffe, Vanhoucke & Alemi, "Inception-v4, Inception-ResNet and the Impact of Residual Connections on
Learning", AAAI 2017 (arXiv:1602.07261), Figures 3-9; figure and table numbers are the arXiv version's.

``inception_v4``: the stem of Figure 3 (299x299x3 -> 35x35x384), 4 Inception-A (Figure 4), Reduction-A
(Figure 7 with k, l, m, n = 192, 224, 256, 384 from Table 1), 7 Inception-B (Figure 5), Reduction-B (Figure 8),
3 Inception-C (Figure 6), average pooling, dropout (keep 0.8) and a softmax layer (Figure 9), as tables read by
the builder in ``zoo.inception_blocks``. Layer names are the authors' released TF-slim model's (``Mixed_5b``...).
Output grid at 299: 35x35x384 (stem, Inception-A), 17x17x1024 (Inception-B), 8x8x1536 (Inception-C).
42,679,816 parameters at 1000 classes, the count of timm's ``inception_v4`` (the TF-slim model's port), whose
parameters ours match in order and shape: its ``state_dict`` values load by position and give identical outputs
(tested where timm is installed).

Deviations and choices (shared with the released TF-slim model and timm, which the count above pins):
- Batch norm (eps 0.001, TensorFlow's) between every convolution and its ReLU, convolutions without bias; the
  figures draw none, the text implies it (only the residual variants leave it off their summations).
- The 1x7/7x1 (and 1x3/3x1) convolutions of a branch come in the released code's order; shapes and counts do
  not depend on it.
- Average pools exclude the zero padding from the mean (TensorFlow's 'SAME' pooling).
- No auxiliary classifier (the paper's figures have none; TF-slim's optional one on Mixed_6h is not built).
- Adaptive final average pool, so inputs from 75x75 run (the paper's 8x8 pool needs 299).
- Initialisation (the paper gives none): Xavier-uniform convolution and linear weights, zero biases (TF-slim's
  default initialiser).
- Input normalisation mean = std = 0.5 per channel (pixels scaled to [-1, 1], TF-slim's Inception preprocessing).
"""

from functools import partial

import torch.nn as nn

from .inception_blocks import (
    INCEPTION_MEAN,
    INCEPTION_STD,
    BasicConv2d,
    Block,
    Branch,
    ConvSpec,
    InceptionNet,
    conv_1xn,
    conv_nx1,
    repeat,
)
from .registry import register_model

PAPER = (
    "Szegedy et al., Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning, "
    "AAAI 2017, arXiv:1602.07261"
)

avg_3s1 = partial(nn.AvgPool2d, 3, stride=1, padding=1, count_include_pad=False)
max_3s2 = partial(nn.MaxPool2d, 3, stride=2)
tf_conv = partial(BasicConv2d, batch_norm=True, bn_eps=1e-3)  # TF-slim's conv -> BN -> ReLU

# Figure 3: the stem shared by Inception-v4 and (in the paper) Inception-ResNet-v2.
V4_STEM = (
    ("Conv2d_1a_3x3", ConvSpec(32, 3, 2)),
    ("Conv2d_2a_3x3", ConvSpec(32, 3)),
    ("Conv2d_2b_3x3", ConvSpec(64, 3, 1, 1)),
    ("Mixed_3a", (Branch("branch_pool", (), max_3s2), Branch("branch3x3", (ConvSpec(96, 3, 2),)))),
    (
        "Mixed_4a",
        (
            Branch("branch3x3", (ConvSpec(64, 1), ConvSpec(96, 3))),
            Branch("branch7x7", (ConvSpec(64, 1), conv_1xn(64, 7), conv_nx1(64, 7), ConvSpec(96, 3))),
        ),
    ),
    ("Mixed_5a", (Branch("branch3x3", (ConvSpec(192, 3, 2),)), Branch("branch_pool", (), max_3s2))),
)

INCEPTION_A = (  # Figure 4, 35x35
    Branch("branch1x1", (ConvSpec(96, 1),)),
    Branch("branch3x3", (ConvSpec(64, 1), ConvSpec(96, 3, 1, 1))),
    Branch("branch3x3dbl", (ConvSpec(64, 1), ConvSpec(96, 3, 1, 1), ConvSpec(96, 3, 1, 1))),
    Branch("branch_pool", (ConvSpec(96, 1),), avg_3s1),
)
INCEPTION_B = (  # Figure 5, 17x17
    Branch("branch1x1", (ConvSpec(384, 1),)),
    Branch("branch7x7", (ConvSpec(192, 1), conv_1xn(224, 7), conv_nx1(256, 7))),
    Branch("branch7x7dbl", (ConvSpec(192, 1), conv_nx1(192, 7), conv_1xn(224, 7), conv_nx1(224, 7), conv_1xn(256, 7))),
    Branch("branch_pool", (ConvSpec(128, 1),), avg_3s1),
)
INCEPTION_C = (  # Figure 6, 8x8: the last stage of each 3x3 branch is split into 1x3 and 3x1
    Branch("branch1x1", (ConvSpec(256, 1),)),
    Branch("branch3x3", (ConvSpec(384, 1), (conv_1xn(256, 3), conv_nx1(256, 3)))),
    Branch(
        "branch3x3dbl", (ConvSpec(384, 1), conv_nx1(448, 3), conv_1xn(512, 3), (conv_1xn(256, 3), conv_nx1(256, 3)))
    ),
    Branch("branch_pool", (ConvSpec(256, 1),), avg_3s1),
)


def reduction_a(k: int, l: int, m: int, n: int) -> Block:  # noqa: E741  (the paper's names, Table 1)
    """Figure 7, 35x35 -> 17x17; Table 1 gives k, l, m, n per network."""
    return (
        Branch("branch3x3", (ConvSpec(n, 3, 2),)),
        Branch("branch3x3dbl", (ConvSpec(k, 1), ConvSpec(l, 3, 1, 1), ConvSpec(m, 3, 2))),
        Branch("branch_pool", (), max_3s2),
    )


REDUCTION_B = (  # Figure 8, 17x17 -> 8x8
    Branch("branch3x3", (ConvSpec(192, 1), ConvSpec(192, 3, 2))),
    Branch("branch7x7x3", (ConvSpec(256, 1), conv_1xn(256, 7), conv_nx1(320, 7), ConvSpec(320, 3, 2))),
    Branch("branch_pool", (), max_3s2),
)

INCEPTION_V4_LAYERS = (
    ("stem", V4_STEM),
    ("stage1", repeat("Mixed_5", "bcde", INCEPTION_A)),
    ("stage2", [("Mixed_6a", reduction_a(192, 224, 256, 384))] + repeat("Mixed_6", "bcdefgh", INCEPTION_B)),
    ("stage3", [("Mixed_7a", REDUCTION_B)] + repeat("Mixed_7", "bcd", INCEPTION_C)),
)


class InceptionV4(InceptionNet):
    first_conv_path = "Conv2d_1a_3x3.conv"

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.2):
        super().__init__(num_classes, in_chans, INCEPTION_V4_LAYERS, tf_conv, dropout=dropout)
        self.init_torchvision_style(nn.init.xavier_uniform_)

    def init_classifier(self, layer: nn.Linear) -> None:
        nn.init.xavier_uniform_(layer.weight)
        nn.init.zeros_(layer.bias)


@register_model(
    InceptionV4,
    family="inception_v4",
    paper=PAPER,
    input_size=(3, 299, 299),
    min_input_size=(3, 75, 75),
    mean=INCEPTION_MEAN,
    std=INCEPTION_STD,
)
def inception_v4(num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.2) -> InceptionV4:
    """Inception-v4 (Figure 9): Figure 3 stem, 4 x A, Reduction-A, 7 x B, Reduction-B, 3 x C; dropout keeps 0.8."""
    return InceptionV4(num_classes, in_chans, dropout)
