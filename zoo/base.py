"""The one interface every zoo model implements, so training and fine-tuning code never special-cases a family."""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.nn as nn
from torch import Tensor

from .registry import ModelInfo


class ClassifierOutput(NamedTuple):
    """What a model with auxiliary classifiers returns in training mode (GoogLeNet, Inception v3)."""

    logits: Tensor
    aux_logits: tuple[Tensor, ...]


def split_output(output: Tensor | ClassifierOutput) -> tuple[Tensor, tuple[Tensor, ...]]:
    """(main logits, auxiliary logits) of any zoo model's output; the auxiliary tuple is usually empty."""
    if isinstance(output, Tensor):
        return output, ()
    return output.logits, tuple(output.aux_logits)


class ZooModel(nn.Module):
    """Base class of every zoo model.

    Subclasses set ``first_conv_path`` and ``classifier_path`` (dotted module paths), ``num_features``, ``in_chans``,
    ``num_classes``, and implement ``forward_features``, ``forward_head`` and ``group_layout``.
    ``aux_weights`` holds the paper's loss weight of each auxiliary output returned in training mode.
    """

    first_conv_path: str = ""
    classifier_path: str = ""  # not ``classifier``: that would shadow a submodule of that name (torchvision layouts)
    aux_weights: tuple[float, ...] = ()
    info: ModelInfo | None = None  # set by `zoo.create_model`

    num_classes: int
    num_features: int
    in_chans: int

    def forward_features(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        raise NotImplementedError

    def group_layout(self) -> list[tuple[str, list[str]]]:
        """Ordered (group name, module paths) from input to output: ``stem``, ..., ``head``."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor | ClassifierOutput:
        self.check_input(x)
        return self.forward_head(self.forward_features(x))

    # ----- input validation: a clear error instead of a shape error deep inside a convolution -----
    def check_input(self, x: Tensor) -> None:
        name = self.info.name if self.info is not None else type(self).__name__
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            raise ValueError(
                f"{name} expects a batch of shape (N, {self.in_chans}, H, W), got {tuple(x.shape)}"
            )
        if self.info is not None:
            _, min_h, min_w = self.info.min_input_size
            if x.shape[-2] < min_h or x.shape[-1] < min_w:
                raise ValueError(
                    f"{name} needs inputs of at least {min_h}x{min_w} pixels, got {x.shape[-2]}x{x.shape[-1]}"
                )

    def init_torchvision_style(self, conv_init: Callable[[Tensor], object]) -> None:
        """Convolutions by ``conv_init`` (biases 0), batch norm to identity, linear layers by ``init_classifier``."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                conv_init(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                self.init_classifier(m)

    # ----- classifier -----
    def get_classifier(self) -> nn.Module:
        return self.get_submodule(self.classifier_path)

    def init_classifier(self, layer: nn.Linear) -> None:
        """Initialise a fresh final layer the family's way (override per family)."""
        layer.reset_parameters()

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the final layer; ``num_classes=0`` makes the model return pooled features."""
        self.num_classes = num_classes
        if num_classes > 0:
            layer: nn.Module = nn.Linear(self.num_features, num_classes)
            self.init_classifier(layer)
        else:
            layer = nn.Identity()
        _set_submodule(self, self.classifier_path, layer)

    # ----- named parameter groups for freezing and per-layer learning rates -----
    def group_names(self) -> list[str]:
        return [name for name, _ in self.group_layout()]

    def group_modules(self) -> dict[str, list[nn.Module]]:
        return {name: [self.get_submodule(p) for p in paths] for name, paths in self.group_layout()}

    def parameter_groups(self) -> dict[str, list[tuple[str, nn.Parameter]]]:
        """Every parameter, by group, in the order of ``group_layout``; a parameter in no group is a bug."""
        layout = self.group_layout()
        groups: dict[str, list[tuple[str, nn.Parameter]]] = {name: [] for name, _ in layout}
        for pname, param in self.named_parameters():
            group = next(
                (g for g, paths in layout for p in paths if pname == p or pname.startswith(p + ".")), None
            )
            if group is None:
                raise RuntimeError(f"{type(self).__name__}: parameter {pname!r} is in no group of group_layout()")
            groups[group].append((pname, param))
        return groups


def _set_submodule(root: nn.Module, path: str, module: nn.Module) -> None:
    parent_path, _, leaf = path.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    setattr(parent, leaf, module)


@torch.no_grad()
def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
