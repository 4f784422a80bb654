"""The one interface every zoo model implements, so training and fine-tuning code never special-cases a family."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import NamedTuple

import torch
import torch.nn as nn
from torch import Tensor
from torch.fx._symbolic_trace import is_fx_symbolic_tracing

from . import features
from .arguments import boolean, choice, instance, integer
from .catalog import WeightsRecord
from .info import ModelInfo


class ClassifierOutput(NamedTuple):
    """What a model with auxiliary classifiers returns in training mode (GoogLeNet, Inception v3)."""

    logits: Tensor
    aux_logits: tuple[Tensor, ...]


def split_output(output: Tensor | ClassifierOutput) -> tuple[Tensor, tuple[Tensor, ...]]:
    """(main logits, auxiliary logits) of any zoo model's output; the auxiliary tuple is usually empty."""
    instance("output", output, (Tensor, ClassifierOutput), "a zoo model's output (a Tensor or a ClassifierOutput)")
    if isinstance(output, Tensor):
        return output, ()
    return output.logits, tuple(output.aux_logits)


class ZooModel(nn.Module):
    """Base class of every zoo model.

    Subclasses set ``first_conv_path`` and ``classifier_path`` (dotted module paths), ``num_features`` (channels of
    ``forward_features``, timm's meaning), ``in_chans``, ``num_classes``, ``_head_hidden_size`` when the head has
    hidden layers, and implement ``forward_features``, ``forward_head`` and ``group_layout``.
    ``aux_weights`` holds the paper's loss weight of each auxiliary output returned in training mode.

    Used by other code: the eager input check is skipped under torch.fx, ``torch.jit.trace``, ``torch.compile`` and
    ``torch.export``; ``torch.jit.script(model)`` scripts the model's torch.fx graph (without auxiliary outputs);
    ``forward_intermediates`` and ``feature_info`` (zoo.features) give each stage's feature maps.
    """

    first_conv_path: str = ""
    classifier_path: str = ""  # not ``classifier``: that would shadow a submodule of that name (torchvision layouts)
    aux_weights: tuple[float, ...] = ()
    info: ModelInfo | None = None  # set by `zoo.create_model`
    weights: WeightsRecord | None = None  # the published weights `create_model(pretrained=...)` loaded
    global_pool: str = "avg"  # "" (after ``reset_classifier(0, global_pool="")``): forward returns unpooled maps

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

    @property
    def head_hidden_size(self) -> int:
        """Width of ``forward_head(x, pre_logits=True)``, the input of the final layer (timm's name)."""
        return self.__dict__.get("_head_hidden_size", self.num_features)

    def forward(self, x: Tensor) -> Tensor | ClassifierOutput:
        self.check_eager_input(x)
        x = self.forward_features(x)
        return x if self.global_pool == "" else self.forward_head(x)

    def __prepare_scriptable__(self) -> nn.Module:
        """``torch.jit.script`` compiles the torch.fx graph of the inference forward (no auxiliary outputs): the same
        modules and state_dict keys, no Python control flow; ``train()``/``eval()`` still switch dropout and BN."""
        was_training = self.training
        graph_module = torch.fx.symbolic_trace(self.eval())
        self.train(was_training)
        graph_module.train(was_training)
        for node in graph_module.graph.nodes:
            node.type = None  # forward's annotation (Tensor | ClassifierOutput) is no TorchScript type; it infers one
        graph_module.recompile()
        return graph_module

    # ----- multi-scale features (zoo.features): the output of each stage, timm's contract -----
    @property
    def feature_info(self) -> features.FeatureInfo:
        """Channels (``num_chs``) and ``reduction`` of each stage's output (stem, stage1, ...)."""
        return features.feature_info(self)

    def forward_intermediates(
        self,
        x: Tensor,
        indices: int | list[int] | None = None,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ):
        """``(forward_features(x), [output of each stage in indices])``; only the list with ``intermediates_only``.
        ``indices``: None for every stage, an int k for the last k, or a list of stage indices."""
        self.check_eager_input(x)
        return features.forward_intermediates(self, x, indices, stop_early, output_fmt, intermediates_only)

    # ----- input validation: a clear error instead of a shape error deep inside a convolution -----
    def check_eager_input(self, x: Tensor) -> None:
        """``check_input`` on real tensors; tracers, compilers and exporters see no Python ``if`` on shapes."""
        if not (is_fx_symbolic_tracing() or torch.jit.is_tracing() or torch.compiler.is_compiling()):
            self.check_input(x)

    def check_input(self, x: Tensor) -> None:
        name = self.info.name if self.info is not None else type(self).__name__
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            raise ValueError(f"{name} expects a batch of shape (N, {self.in_chans}, H, W), got {tuple(x.shape)}")
        if not x.is_floating_point():  # uint8 pixels straight from an image: a convolution would fail on the dtype
            raise TypeError(
                f"{name} expects normalised float images, got {x.dtype}: prepare them with "
                "zoo.create_transform(zoo.resolve_data_config(model))"
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

    def new_linear(self, in_features: int, out_features: int, init: Callable[[nn.Linear], None]) -> nn.Linear:
        """A fresh linear layer initialised by ``init``, on the device and in the dtype of the model's head."""
        reference = next(self.get_classifier().parameters(), None)
        if reference is None:
            reference = next(self.parameters())
        layer = nn.Linear(in_features, out_features)
        init(layer)
        return layer.to(device=reference.device, dtype=reference.dtype)

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the final layer (timm's signature). ``num_classes=0`` makes the model return the pre-logits
        vector (width ``head_hidden_size``); with ``global_pool=""`` too, the unpooled ``forward_features`` maps.
        ``global_pool`` is ``None`` (unchanged), ``"avg"`` (every zoo model pools by average) or ``""``."""
        num_classes = integer("num_classes", num_classes, minimum=0)
        choice(
            "global_pool",
            global_pool,
            (None, "avg", ""),
            ': zoo models pool by average ("avg"); "" (with num_classes=0) returns the unpooled feature maps',
        )
        if global_pool == "" and (num_classes != 0 or self.head_hidden_size != self.num_features):
            raise ValueError(
                f'global_pool="" needs num_classes=0 and a head without hidden layers; '
                f"{type(self).__name__}'s head has {self.head_hidden_size}-wide hidden layers: "
                "use forward_features(x) for its unpooled maps"
            )
        if global_pool is not None:
            self.global_pool = global_pool
        self.num_classes = num_classes
        if num_classes > 0:
            layer: nn.Module = self.new_linear(self.head_hidden_size, num_classes, self.init_classifier)
        else:
            layer = nn.Identity()
        _set_submodule(self, self.classifier_path, layer)
        if self.info is not None:
            self.info = replace(self.info, num_classes=num_classes)

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
            group = next((g for g, paths in layout for p in paths if pname == p or pname.startswith(p + ".")), None)
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
    instance("model", model, nn.Module, "a model (zoo.create_model(name) builds one)")
    boolean("trainable_only", trainable_only)
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
