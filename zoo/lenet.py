"""LeNet-5.

LeCun, Bottou, Bengio, Haffner. "Gradient-Based Learning Applied to Document Recognition",
Proceedings of the IEEE 86(11), 1998 (Section II-B, Table I, Appendix A).

Layers C1, S2, C3, S4, C5, F6 follow the paper: every unit up to F6 is squashed by f(a) = 1.7159 tanh(2a/3);
S2/S4 add each 2x2 window, scale it by a trainable per-map coefficient and add a trainable per-map bias;
C3 connects to the S2 maps listed in Table I only (``C3_TABLE``). Parameters up to F6: exactly 60,000, the
paper's total of trainable parameters (Section II-B: "340,908 connections, but only 60,000 trainable free
parameters"; the 840 connections of the output layer carry fixed, not trainable, parameters).
Weights and biases are drawn uniformly from +-2.4/F_i, F_i being the fan-in of the unit (Appendix A).

The paper's output layer is ``lenet5(output="rbf")``: one Euclidean RBF unit per digit,
y_i = sum_j (x_j - w_ij)^2 over the 84 F6 outputs, with fixed prototypes w_i in {-1, +1}: 7x12 bitmaps of the
digits (``DIGIT_BITMAPS``; Figure 3 shows the paper's set). ``forward`` returns -y (negative distances), so
arg max is the nearest prototype and softmax cross-entropy trains it as-is; ``rbf_map_loss`` is the paper's
loss (Eq. 9), which adds a competing "rubbish class" term e^-j. The prototypes are a buffer, not parameters.

``lenet5_modern`` is the same widths with today's defaults: ReLU, 2x2 max pooling, C3 fully connected,
Kaiming-uniform init; the same builder (``LeNet5(classic=False)``) serves both.

Deviations from the paper:
- By default the output layer is a plain ``Linear(84, num_classes)`` trained with softmax cross-entropy, not the
  paper's Euclidean RBF units (``output="rbf"``), so any class count and ``reset_classifier`` work as on every
  other model. The RBF output serves the 10 digits only.
- ``DIGIT_BITMAPS`` are drawn for this zoo in the style of the paper's Figure 3 (stylised 7x12 characters),
  not copied from it pixel by pixel. The paper does not give the constant j of Eq. 9: ``rbf_map_loss`` uses 1.
- Inputs must be exactly 32x32 (the paper pads 28x28 MNIST digits to 32x32): C5 is a 5x5 convolution that
  reduces S4 to 1x1 and there is no adaptive pooling, so other sizes are refused with a clear error.
- The fan-in of an S2/S4 unit is taken as 4 (its 2x2 window) for the init range.
"""

from __future__ import annotations

from functools import partial
from typing import Literal, get_args

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .base import ZooModel
from .info import MNIST_MEAN, MNIST_STD
from .registry import register_model

PAPER = "LeCun et al., Gradient-Based Learning Applied to Document Recognition, Proc. IEEE 1998"

# Table I: the S2 maps each C3 map reads. Maps 0-5: contiguous triples; 6-11: contiguous quadruples;
# 12-14: discontinuous quadruples; 15: all six.
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2),
    (1, 2, 3),
    (2, 3, 4),
    (3, 4, 5),
    (4, 5, 0),
    (5, 0, 1),
    (0, 1, 2, 3),
    (1, 2, 3, 4),
    (2, 3, 4, 5),
    (3, 4, 5, 0),
    (4, 5, 0, 1),
    (5, 0, 1, 2),
    (0, 1, 3, 4),
    (1, 2, 4, 5),
    (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)

# Output layer prototypes (Section II-B, Figure 3): the digits 0-9 side by side, 12 rows of 7 pixels each,
# "#" = +1, "." = -1.
_DIGIT_ART = """
.......  .......  .......  .......  .......  .......  .......  .......  .......  .......
..###..  ...#...  ..###..  #######  .....#.  #######  ..###..  #######  ..###..  ..###..
.#...#.  ..##...  .#...#.  .....#.  ....##.  #......  .#.....  ......#  .#...#.  .#...#.
#.....#  .#.#...  #.....#  ....#..  ...#.#.  #......  #......  .....#.  #.....#  #.....#
#.....#  ...#...  ......#  ...#...  ..#..#.  #.###..  #......  ....#..  .#...#.  #.....#
#.....#  ...#...  .....#.  ..###..  .#...#.  ##...#.  #.###..  ...#...  ..###..  .#...##
#.....#  ...#...  ....#..  .....#.  #....#.  ......#  ##...#.  ...#...  .#...#.  ..###.#
#.....#  ...#...  ...#...  ......#  #######  ......#  #.....#  ..#....  #.....#  ......#
#.....#  ...#...  ..#....  ......#  .....#.  ......#  #.....#  ..#....  #.....#  ......#
.#...#.  ...#...  .#.....  #....#.  .....#.  #....#.  .#...#.  ..#....  .#...#.  .....#.
..###..  .#####.  #######  .####..  .....#.  .####..  ..###..  ..#....  ..###..  ..###..
.......  .......  .......  .......  .......  .......  .......  .......  .......  .......
"""
DIGIT_BITMAPS: tuple[tuple[str, ...], ...] = tuple(zip(*(row.split() for row in _DIGIT_ART.strip().splitlines())))
RBF_REJECT_J = 1.0  # j of Eq. 9 (the paper gives no value)
Output = Literal["linear", "rbf"]
OUTPUTS = get_args(Output)

SQUASH_A = 1.7159  # amplitude A of f(a) = A tanh(S a), Appendix A
SQUASH_S = 2.0 / 3.0  # slope S
INIT_RANGE = 2.4  # weights ~ U(-2.4/F_i, 2.4/F_i), Appendix A
INPUT_SIZE = 32


def squash(x: Tensor) -> Tensor:
    return SQUASH_A * torch.tanh(SQUASH_S * x)


class Squash(nn.Module):
    """The paper's scaled tanh, as a module (so summaries list it)."""

    def forward(self, x: Tensor) -> Tensor:
        return squash(x)


class Subsampling(nn.Module):
    """S2/S4: per map, (sum of each 2x2 window) * trainable coefficient + trainable bias, then squashed."""

    kernel_size = 2

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels))
        self.bias = nn.Parameter(torch.empty(channels))

    def forward(self, x: Tensor) -> Tensor:
        window_sum = F.avg_pool2d(x, self.kernel_size) * self.kernel_size**2
        return squash(window_sum * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1))


class ConnectionTableConv(nn.Module):
    """A convolution whose output map ``j`` reads only the input maps ``table[j]``.

    One kernel is stored per (output, input) connection, so the parameter count is the paper's.
    Table I's groups have 3, 4 and 6 inputs, which one grouped convolution cannot express; instead the
    kernels are scattered into a dense (out, in, k, k) weight whose unconnected slots are constant zeros
    (not parameters) and one ordinary convolution runs.
    """

    def __init__(self, in_channels: int, table: tuple[tuple[int, ...], ...], kernel_size: int):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, len(table)
        self.kernel_size = kernel_size
        self.table = table
        n_connections = sum(len(inputs) for inputs in table)
        self.weight = nn.Parameter(torch.empty(n_connections, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(self.out_channels))
        slots = [out * in_channels + i for out, inputs in enumerate(table) for i in inputs]
        self.register_buffer("slots", torch.tensor(slots), persistent=False)

    def dense_weight(self) -> Tensor:
        k = self.kernel_size
        dense = self.weight.new_zeros(self.out_channels * self.in_channels, k, k)
        return dense.index_copy(0, self.slots, self.weight).view(self.out_channels, self.in_channels, k, k)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.dense_weight(), self.bias)

    def macs(self, output: Tensor) -> int:
        """Multiply-adds per image: one per connection weight per output position (used by ``zoo.summary``)."""
        return output.shape[-2] * output.shape[-1] * self.weight.numel()

    def fan_ins(self) -> list[int]:
        return [len(inputs) * self.kernel_size**2 for inputs in self.table]


def _init_uniform_by_fan_in(layer: nn.Module, fan_in: int | list[int]) -> None:
    """Weights and biases ~ U(+-2.4/F_i) (Appendix A); a list gives each output map its own fan-in (C3)."""
    if isinstance(fan_in, int):
        bound = INIT_RANGE / fan_in
        nn.init.uniform_(layer.weight, -bound, bound)
        nn.init.uniform_(layer.bias, -bound, bound)
        return
    with torch.no_grad():
        bounds = torch.tensor([INIT_RANGE / f for f in fan_in])
        counts = [len(i) for i in layer.table]  # output_size: so that a model also builds on the meta device
        per_connection = bounds.repeat_interleave(torch.tensor(counts), output_size=sum(counts))
        layer.weight.uniform_(-1, 1).mul_(per_connection.view(-1, 1, 1))
        layer.bias.uniform_(-1, 1).mul_(bounds)


class EuclideanRBF(nn.Module):
    """The paper's output layer: returns -y_i = -sum_j (x_j - w_ij)^2 for fixed +-1 prototypes w_i."""

    def __init__(self, bitmaps: tuple[tuple[str, ...], ...] = DIGIT_BITMAPS):
        super().__init__()
        prototypes = [[1.0 if pixel == "#" else -1.0 for row in bitmap for pixel in row] for bitmap in bitmaps]
        self.register_buffer("prototypes", torch.tensor(prototypes))
        self.out_features = len(bitmaps)  # as nn.Linear, for get_classifier().out_features

    def forward(self, x: Tensor) -> Tensor:
        return -(x.unsqueeze(1) - self.prototypes).pow(2).sum(-1)

    def macs(self, output: Tensor) -> int:
        """One multiply-add per (unit, input) pair, as a linear layer (used by ``zoo.summary``)."""
        return self.prototypes.numel()


def rbf_map_loss(negative_distances: Tensor, target: Tensor, j: float = RBF_REJECT_J) -> Tensor:
    """The paper's loss (Eq. 9): mean over the batch of y_target + log(e^-j + sum_i e^-y_i).

    ``negative_distances`` is the RBF output (-y). Without the e^-j term this is cross-entropy on -y.
    """
    y_target = -negative_distances.gather(1, target.unsqueeze(1)).squeeze(1)
    reject = negative_distances.new_full((negative_distances.shape[0], 1), -j)
    return (y_target + torch.logsumexp(torch.cat([reject, negative_distances], 1), 1)).mean()


class LeNet5(ZooModel):
    first_conv_path = "c1"
    classifier_path = "output"

    def __init__(self, num_classes: int = 10, in_chans: int = 1, classic: bool = True, output: Output = "linear"):
        super().__init__()
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        self.num_classes, self.in_chans, self.num_features = num_classes, in_chans, 120
        self._head_hidden_size = 84
        self.classic = classic
        self.rbf_output = output == "rbf"
        _check_rbf_classes(self.rbf_output, num_classes)
        self.c1 = nn.Conv2d(in_chans, 6, 5)
        self.s2 = Subsampling(6) if classic else nn.MaxPool2d(2)
        self.c3 = ConnectionTableConv(6, C3_TABLE, 5) if classic else nn.Conv2d(6, 16, 5)
        self.s4 = Subsampling(16) if classic else nn.MaxPool2d(2)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.f6 = nn.Linear(120, 84)
        self.act = Squash() if classic else nn.ReLU(inplace=True)
        self.output: nn.Module = EuclideanRBF() if self.rbf_output else nn.Linear(84, num_classes)
        self._init_weights()

    # ----- init -----
    def _init_weights(self) -> None:
        if not self.classic:  # the shared path: Kaiming-uniform convolutions, linear layers by init_classifier
            self.init_torchvision_style(partial(nn.init.kaiming_uniform_, nonlinearity="relu"))
            return
        layers = [
            (self.c1, 25 * self.in_chans),
            (self.s2, 4),
            (self.c3, self.c3.fan_ins()),
            (self.s4, 4),
            (self.c5, 16 * 25),
            (self.f6, 120),
        ]
        if not self.rbf_output:
            layers.append((self.output, 84))
        for layer, fan_in in layers:
            _init_uniform_by_fan_in(layer, fan_in)

    def init_classifier(self, layer: nn.Linear) -> None:
        if self.classic:
            _init_uniform_by_fan_in(layer, layer.in_features)
        else:
            nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """With the RBF output: a fresh RBF layer (10 classes only) or, for 0, the pre-logits features."""
        if not self.rbf_output or num_classes == 0:
            super().reset_classifier(num_classes, global_pool)
            return
        _check_rbf_classes(True, num_classes)
        like = self.f6.weight  # the new layer follows the model's device and dtype
        self.num_classes, self.output = num_classes, EuclideanRBF().to(device=like.device, dtype=like.dtype)

    # ----- forward -----
    def check_input(self, x: Tensor) -> None:
        super().check_input(x)
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            name = self.info.name if self.info is not None else type(self).__name__
            raise ValueError(
                f"{name} needs inputs of exactly {INPUT_SIZE}x{INPUT_SIZE} pixels (pad 28x28 digits by 2), "
                f"got {x.shape[-2]}x{x.shape[-1]}"
            )

    def forward_features(self, x: Tensor) -> Tensor:
        """C1..C5; returns the (N, 120, 1, 1) C5 maps."""
        x = self.s2(self.act(self.c1(x)))
        x = self.s4(self.act(self.c3(x)))
        return self.act(self.c5(x))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.act(self.f6(x.flatten(1)))
        return x if pre_logits else self.output(x)

    def group_layout(self) -> list[tuple[str, list[str]]]:
        return [
            ("stem", ["c1", "s2"]),
            ("stage1", ["c3", "s4"]),
            ("stage2", ["c5"]),
            ("stage3", ["f6"]),
            ("head", ["output"]),
        ]


def _check_rbf_classes(rbf_output: bool, num_classes: int) -> None:
    if rbf_output and num_classes != len(DIGIT_BITMAPS):
        raise ValueError(
            f"lenet5's RBF output has prototypes for the {len(DIGIT_BITMAPS)} digits only, got "
            f"num_classes={num_classes}: use output='linear' for another number of classes"
        )


_REGISTER = dict(
    family="lenet",
    paper=PAPER,
    input_size=(1, INPUT_SIZE, INPUT_SIZE),
    min_input_size=(1, INPUT_SIZE, INPUT_SIZE),
    mean=MNIST_MEAN,
    std=MNIST_STD,
    num_classes=10,
    tags=("mnist",),
)


@register_model(LeNet5, **_REGISTER)
def lenet5(num_classes: int = 10, in_chans: int = 1, output: Output = "linear") -> LeNet5:
    """LeNet-5 as in the paper (squashing, trainable subsampling, Table I C3); ``output="rbf"``: its RBF outputs."""
    return LeNet5(num_classes, in_chans, classic=True, output=output)


@register_model(LeNet5, **_REGISTER)
def lenet5_modern(num_classes: int = 10, in_chans: int = 1) -> LeNet5:
    """LeNet-5 widths with ReLU, max pooling and a fully connected C3."""
    return LeNet5(num_classes, in_chans, classic=False)
