"""LeNet-5.

LeCun, Bottou, Bengio, Haffner. "Gradient-Based Learning Applied to Document Recognition",
Proceedings of the IEEE 86(11), 1998 (Section II-B, Table I, Appendix A).

Layers C1, S2, C3, S4, C5, F6 follow the paper: every unit up to F6 is squashed by f(a) = 1.7159 tanh(2a/3);
S2/S4 add each 2x2 window, scale it by a trainable per-map coefficient and add a trainable per-map bias;
C3 connects to the S2 maps listed in Table I only (``C3_TABLE``). Parameters up to F6: exactly 60,000.
Weights and biases are drawn uniformly from +-2.4/F_i, F_i being the fan-in of the unit (Appendix A).

``lenet5_modern`` is the same widths with today's defaults: ReLU, 2x2 max pooling, C3 fully connected,
Kaiming-uniform init; the same builder (``LeNet5(classic=False)``) serves both.

Deviations from the paper:
- The output layer is a plain ``Linear(84, num_classes)`` trained with softmax cross-entropy instead of the
  paper's Euclidean RBF units with fixed bitmap prototypes (so ``reset_classifier`` works like every other model).
- Inputs must be exactly 32x32 (the paper pads 28x28 MNIST digits to 32x32): C5 is a 5x5 convolution that
  reduces S4 to 1x1 and there is no adaptive pooling, so other sizes are refused with a clear error.
- The fan-in of an S2/S4 unit is taken as 4 (its 2x2 window) for the init range.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .base import ZooModel
from .registry import MNIST_MEAN, MNIST_STD, register_model

PAPER = "LeCun et al., Gradient-Based Learning Applied to Document Recognition, Proc. IEEE 1998"

# Table I: the S2 maps each C3 map reads. Maps 0-5: contiguous triples; 6-11: contiguous quadruples;
# 12-14: discontinuous quadruples; 15: all six.
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)

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


class LeNet5(ZooModel):
    first_conv_path = "c1"
    classifier_path = "output"

    def __init__(self, num_classes: int = 10, in_chans: int = 1, classic: bool = True):
        super().__init__()
        self.num_classes, self.in_chans, self.num_features = num_classes, in_chans, 120
        self._head_hidden_size = 84
        self.classic = classic
        self.c1 = nn.Conv2d(in_chans, 6, 5)
        self.s2 = Subsampling(6) if classic else nn.MaxPool2d(2)
        self.c3 = ConnectionTableConv(6, C3_TABLE, 5) if classic else nn.Conv2d(6, 16, 5)
        self.s4 = Subsampling(16) if classic else nn.MaxPool2d(2)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.f6 = nn.Linear(120, 84)
        self.act = Squash() if classic else nn.ReLU(inplace=True)
        self.output = nn.Linear(84, num_classes)
        self._init_weights()

    # ----- init -----
    def _init_layer(self, layer: nn.Module, fan_in: int | list[int]) -> None:
        """Classic: weights and biases ~ U(+-2.4/F_i) (per output map when fan-ins differ); modern: Kaiming."""
        if not self.classic:
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")
                nn.init.zeros_(layer.bias)
            return
        if isinstance(fan_in, int):
            bound = INIT_RANGE / fan_in
            nn.init.uniform_(layer.weight, -bound, bound)
            nn.init.uniform_(layer.bias, -bound, bound)
            return
        with torch.no_grad():  # ConnectionTableConv: each output map has its own fan-in
            bounds = torch.tensor([INIT_RANGE / f for f in fan_in])
            per_connection = bounds.repeat_interleave(torch.tensor([len(i) for i in layer.table]))
            layer.weight.uniform_(-1, 1).mul_(per_connection.view(-1, 1, 1))
            layer.bias.uniform_(-1, 1).mul_(bounds)

    def _init_weights(self) -> None:
        c3_fan_in = self.c3.fan_ins() if self.classic else 6 * 25
        for layer, fan_in in ((self.c1, 25 * self.in_chans), (self.s2, 4), (self.c3, c3_fan_in),
                              (self.s4, 4), (self.c5, 16 * 25), (self.f6, 120), (self.output, 84)):
            self._init_layer(layer, fan_in)

    def init_classifier(self, layer: nn.Linear) -> None:
        self._init_layer(layer, layer.in_features)

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
        return [("stem", ["c1", "s2"]), ("stage1", ["c3", "s4"]), ("stage2", ["c5"]), ("stage3", ["f6"]),
                ("head", ["output"])]


_REGISTER = dict(paper=PAPER, input_size=(1, INPUT_SIZE, INPUT_SIZE), min_input_size=(1, INPUT_SIZE, INPUT_SIZE),
                 mean=MNIST_MEAN, std=MNIST_STD, num_classes=10, tags=("mnist",))


@register_model(LeNet5, **_REGISTER)
def lenet5(num_classes: int = 10, in_chans: int = 1) -> LeNet5:
    """LeNet-5 as in the paper (squashing, trainable subsampling, Table I C3), with a linear output layer."""
    return LeNet5(num_classes, in_chans, classic=True)


@register_model(LeNet5, **_REGISTER)
def lenet5_modern(num_classes: int = 10, in_chans: int = 1) -> LeNet5:
    """LeNet-5 widths with ReLU, max pooling and a fully connected C3."""
    return LeNet5(num_classes, in_chans, classic=False)

