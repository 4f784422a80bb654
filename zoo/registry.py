"""Name -> model factory registry with per-model metadata.

`zoo` is pure PyTorch: nothing here (or anywhere under `zoo/`) imports Lightning or Hydra.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import typing
from collections.abc import Callable, Sequence
from dataclasses import replace

import torch.nn as nn

from .arguments import boolean, integer, probability, shown, text
from .catalog import WeightsRecord, weights_record
from .features import FeatureListNet
from .info import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR_INPUT,
    IMAGENET_MEAN,
    IMAGENET_STD,
    MNIST_MEAN,
    MNIST_STD,
    SMALL_INPUT_PIXELS,
    ModelInfo,
)
from .pretrained import load_published

# the statistics are re-exported: the training layer reads them from here
__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "CIFAR_INPUT",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MNIST_MEAN",
    "MNIST_STD",
    "SMALL_INPUT_PIXELS",
    "ModelInfo",
    "create_model",
    "fit_channels",
    "list_models",
    "model_arguments",
    "model_info",
    "register_model",
]

_REGISTRY: dict[str, tuple[Callable[..., nn.Module], ModelInfo]] = {}


def register_model(
    model_cls: type[nn.Module],
    *,
    family: str,
    paper: str,
    input_size: tuple[int, int, int],
    min_input_size: tuple[int, int, int],
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
    num_classes: int = 1000,
    tags: tuple[str, ...] = (),
    small_input_model: str | None = None,
):
    """Register a factory function under its own name. A name may be registered once.

    ``family`` groups the models of one design (``resnet``, ``resnet_cifar``, ``vgg``, ...): per-family policies
    (``zootrain.hardware``'s CPU fast path, the benchmarks' JSONs) are keyed on it, so it is written out, not derived.
    ``model_cls`` is the class the factory builds; its ``first_conv_path`` and ``classifier_path`` are recorded.
    ``small_input_model`` names the sibling built for small (CIFAR-sized) images, if the zoo has one.
    """

    def decorator(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = factory.__name__
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        info = ModelInfo(
            name=name,
            paper=paper,
            input_size=input_size,
            min_input_size=min_input_size,
            mean=mean,
            std=std,
            first_conv=model_cls.first_conv_path,
            classifier=model_cls.classifier_path,
            num_classes=num_classes,
            tags=tags,
            small_input_model=small_input_model,
            family=family,
        )
        _REGISTRY[name] = (factory, info)
        return factory

    return decorator


def list_models(pattern: str = "*") -> list[str]:
    """Registered names matching a glob pattern such as ``"resnet*"``, sorted."""
    pattern = text("pattern", pattern, "a glob such as 'resnet*'")
    return sorted(name for name in _REGISTRY if fnmatch.fnmatchcase(name, pattern))


def _lookup(name: str) -> tuple[Callable[..., nn.Module], ModelInfo]:
    text("name", name, "a registered model name (zoo.list_models() lists them)")
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown model {name!r}.{hint} `zoo.list_models()` lists all {len(_REGISTRY)}.") from None


def model_info(name: str) -> ModelInfo:
    """Metadata of a registered model, without building it."""
    return _lookup(name)[1]


def fit_channels(values: tuple[float, ...], in_chans: int) -> tuple[float, ...]:
    """Per-channel statistics for ``in_chans`` channels: their mean for one (grey), else repeated cyclically,
    as ``zoo.weights.adapt_first_conv`` adapts the first convolution."""
    if len(values) == in_chans:
        return values
    if in_chans == 1:
        return (sum(values) / len(values),)
    return tuple(values[i % len(values)] for i in range(in_chans))


def create_model(
    name: str,
    num_classes: int | None = None,
    in_chans: int | None = None,
    *,
    pretrained: bool | str = False,
    features_only: bool = False,
    out_indices: int | Sequence[int] | None = None,
    **kwargs,
) -> nn.Module:
    """Build the registered model ``name`` (``list_models()`` lists them; ``list_models("resnet*")`` filters with a
    shell-style glob: ``*`` any text, ``?`` one character, ``[ab]`` one of a set; case-sensitive).

    Args:
        name: a registered name; an unknown one raises a KeyError suggesting close names.
        num_classes: classifier outputs; default the paper's (``model_info(name).num_classes``). ``0`` builds no
            classifier: the model returns the pre-logits vector of width ``model.head_hidden_size``
            (the same as ``model.reset_classifier(0)``), and models with auxiliary heads lose them.
        in_chans: input channels; default the paper's. ``model.info.mean``/``std`` follow (the mean of the
            statistics for one channel, repeated cyclically for more).
        pretrained: ``True`` loads the model's default weights, a string the weights of that tag
            (``zoo.list_pretrained("resnet50.*")`` lists ``arch.tag``), ``False`` none. The zoo's own files ship in
            the package; torchvision's and timm's are downloaded once into torch.hub's cache (offline, the error
            names the file to place there); every file's SHA-256 is checked. ``model.weights`` is then the
            ``zoo.catalog.WeightsRecord`` (preprocessing, class names, accuracy; ``zoo.resolve_data_config``
            reads it). ``num_classes`` defaults to the weights'; a different one gets a fresh classifier, a
            different ``in_chans`` an adapted first convolution.
        features_only: return a ``zoo.features.FeatureListNet`` instead: it maps images to the list of feature maps
            of the stages ``out_indices`` (stem, stage1, ... of ``group_layout``), with ``feature_info``
            (channels and reduction of each) — a backbone for FPN or U-Net heads.
        out_indices: stages kept with ``features_only``: None for all, an int k for the last k, or indices
            (negative count from the end).
        **kwargs: the model's own factory arguments (e.g. ``aux=False`` for GoogLeNet, ``drop_rate`` for DenseNet,
            ``transform_input`` for Inception v3); ``help(zoo.registry._REGISTRY[name][0])`` shows them.

    Returns the model (a ``zoo.ZooModel``) with ``model.info`` (a ``ModelInfo``) describing it.
    """
    factory, info = _lookup(name)
    record = _pretrained_record(name, pretrained)
    boolean("features_only", features_only)
    if out_indices is not None and not features_only:
        raise ValueError("out_indices selects the stages of a features_only model: pass features_only=True too")
    default_classes = record.num_classes if record else info.num_classes
    num_classes = integer("num_classes", default_classes if num_classes is None else num_classes, minimum=0)
    in_chans = integer("in_chans", info.input_size[0] if in_chans is None else in_chans, minimum=1)
    if record:
        kwargs = {**record.model_kwargs, **kwargs}
    check_model_arguments(name, kwargs)
    model = factory(num_classes=num_classes, in_chans=in_chans, **kwargs)
    channels = (in_chans,)
    model.info = replace(
        info,
        input_size=channels + info.input_size[1:],
        min_input_size=channels + info.min_input_size[1:],
        mean=fit_channels(info.mean, in_chans),
        std=fit_channels(info.std, in_chans),
        num_classes=num_classes,
    )
    if record:
        load_published(model, record)
    if num_classes == 0:
        model.reset_classifier(0)
    return FeatureListNet(model, out_indices) if features_only else model


def _pretrained_record(name: str, pretrained: bool | str) -> WeightsRecord | None:
    if isinstance(pretrained, bool):
        return weights_record(name) if pretrained else None
    if isinstance(pretrained, str):
        return weights_record(name, pretrained)
    raise TypeError(f"pretrained={pretrained!r}: expected True, False or a weights tag (zoo.list_pretrained())")


def check_model_arguments(name: str, kwargs: dict[str, object]) -> None:
    """Each of ``kwargs`` checked against its annotation in ``name``'s factory, so a wrong one is an error naming it
    rather than a value taken by its truth (``aux="no"``) or a failure inside a layer: ``bool`` arguments must be
    bools and drop rates in [0, 1] (``Literal`` choices the factories check themselves)."""
    accepted = model_arguments(name)
    open_ended = any(p.kind is p.VAR_KEYWORD for p in accepted.values())  # a user's factory taking **kwargs
    for argument, value in kwargs.items():
        if argument not in accepted and not open_ended:
            own = ", ".join(accepted) or "none"
            raise TypeError(f"{argument}={shown(value)}: {name} takes no such argument; its own are: {own}")
        kind = accepted[argument].annotation if argument in accepted else None
        if kind is bool:
            boolean(argument, value)
        elif is_rate(argument, kind):
            probability(argument, value)


def is_rate(argument: str, kind: object) -> bool:
    """Whether a factory argument is a drop rate (``dropout``, ``drop_rate``, ``drop_path_rate``, ...)."""
    return kind is float and "drop" in argument


def model_arguments(name: str) -> dict[str, inspect.Parameter]:
    """The keyword arguments a registered model's factory takes besides ``num_classes`` and ``in_chans``."""
    factory = _lookup(name)[0]
    hints = typing.get_type_hints(factory)  # names, not strings: a choice is a Literal the settings schema reads
    return {
        n: p.replace(annotation=hints.get(n, p.annotation))
        for n, p in inspect.signature(factory).parameters.items()
        if n not in ("num_classes", "in_chans")
    }
