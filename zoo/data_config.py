"""Preprocessing for library users: the data config of a model or of its weights, and the transform it implies.

    config = zoo.resolve_data_config(model)            # or "resnet50", "resnet50.tv2_in1k", a WeightsRecord
    evaluate = zoo.create_transform(config)            # PIL image or uint8 tensor -> normalised float tensor
    train = zoo.create_transform(config, training=True)

A model built with ``pretrained=...`` is prepared as its weights were (``model.weights.preprocessing``); any other
as its ``model.info`` says. Images of at most ``SMALL_INPUT_PIXELS`` (CIFAR, digits) are resized to the input size;
larger ones get torchvision's evaluation preset (shorter side to ``input * 256 / 224``, then a center crop).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .arguments import boolean, instance, integer
from .catalog import WeightsRecord, catalogue
from .features import FeatureListNet
from .info import SMALL_INPUT_PIXELS, ModelInfo
from .registry import fit_channels, model_info

CROP_FRACTION = 224 / 256  # torchvision's ImageNet evaluation: resize to 256, crop 224
PAD_CROP_PIXELS = 4  # He et al. 2016, Section 4.2: "4 pixels are padded on each side", a random 32x32 crop


@dataclass(frozen=True)
class DataConfig:
    """How to prepare images for a model: the crop it takes, the resize before it, the normalisation."""

    input_size: tuple[int, int, int]  # (C, H, W) the model receives
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize_size: int  # the shorter side before the center crop (equal to the crop for small images)
    interpolation: str = "bilinear"
    class_names: tuple[str, ...] | None = None  # of the weights, when the config comes from weights

    def __post_init__(self) -> None:
        """A size torchvision cannot crop to, or statistics for other channels, fails here, not inside the transform."""
        if len(self.input_size) != 3:
            raise ValueError(f"input_size={self.input_size!r}: give (channels, height, width)")
        for i, side in enumerate(self.input_size):
            integer(f"input_size[{i}]", side, minimum=1)
        integer("resize_size", self.resize_size, minimum=1)
        if {len(self.mean), len(self.std)} - {1, self.input_size[0]}:
            raise ValueError(
                f"mean={self.mean} std={self.std}: give one value per channel ({self.input_size[0]}) or one for all"
            )

    @property
    def small_images(self) -> bool:
        return max(self.input_size[1:]) <= SMALL_INPUT_PIXELS


def _from_info(info: ModelInfo) -> DataConfig:
    size = info.input_size[-1]
    resize = size if size <= SMALL_INPUT_PIXELS else round(size / CROP_FRACTION)
    return DataConfig(input_size=info.input_size, mean=info.mean, std=info.std, resize_size=resize)


def _from_weights(record: WeightsRecord, in_chans: int | None = None) -> DataConfig:
    prep = record.preprocessing
    in_chans = in_chans or prep.input_size[0]
    return DataConfig(
        input_size=(in_chans, *prep.input_size[1:]),
        mean=fit_channels(prep.mean, in_chans),
        std=fit_channels(prep.std, in_chans),
        resize_size=prep.resize_size or prep.crop_size,
        interpolation=prep.interpolation,
        class_names=record.class_names,
    )


def resolve_data_config(source: nn.Module | str | WeightsRecord) -> DataConfig:
    """The data config of a model (its weights' preprocessing when it has weights, else its ``info``), of a model
    name, of an ``"arch.tag"`` weights name, or of a ``WeightsRecord``."""
    if isinstance(source, WeightsRecord):
        return _from_weights(source)
    if isinstance(source, str):
        if source in catalogue():
            return _from_weights(catalogue()[source])
        return _from_info(model_info(source))  # a KeyError suggesting close names for an unknown one
    model = source.model if isinstance(source, FeatureListNet) else source
    info = getattr(model, "info", None)
    if not isinstance(info, ModelInfo):
        raise TypeError(
            f"source={type(source).__name__}: expected a zoo model (built by zoo.create_model), a model name, "
            "an 'arch.tag' weights name or a WeightsRecord"
        )
    weights = getattr(model, "weights", None)
    return _from_weights(weights, info.input_size[0]) if weights is not None else _from_info(info)


def evaluation_geometry(config: DataConfig) -> list:
    """Resize the shorter side to ``resize_size``, then center-crop to the input size."""
    from torchvision.transforms import v2  # here, not at the top: it takes seconds and `import zoo` does not need it

    interpolation = v2.InterpolationMode(config.interpolation)
    size = tuple(config.input_size[1:])
    return [v2.Resize(config.resize_size, interpolation, antialias=True), v2.CenterCrop(size)]


def training_geometry(config: DataConfig, hflip: bool = True) -> list:
    """Small images: resize, 4-pixel padding and a random crop (the ResNet paper's CIFAR augmentation); larger
    ones: a random resized crop. Then a horizontal flip unless ``hflip=False``."""
    from torchvision.transforms import v2

    interpolation = v2.InterpolationMode(config.interpolation)
    size = tuple(config.input_size[1:])
    if config.small_images:
        geometry = [v2.Resize(size, interpolation, antialias=True), v2.RandomCrop(size, padding=PAD_CROP_PIXELS)]
    else:
        geometry = [v2.RandomResizedCrop(size, interpolation=interpolation, antialias=True)]
    return geometry + ([v2.RandomHorizontalFlip()] if hflip else [])


def model_input_steps(config: DataConfig) -> list:
    """uint8 image(s) at the input size -> the model's channels, floats in [0, 1], normalised."""
    from torchvision.transforms import v2

    grey = [v2.Grayscale(1)] if config.input_size[0] == 1 else []
    return [*grey, v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(config.mean), list(config.std))]


def create_transform(config: DataConfig, training: bool = False, hflip: bool = True):
    """A torchvision v2 transform from a PIL image or uint8 tensor (one image or a batch) to the model's
    normalised float tensor: ``evaluation_geometry`` or ``training_geometry``, then ``model_input_steps``.

    The image becomes a tensor first, so a PIL image and its tensor give the same numbers; ``zootrain`` builds its
    training, evaluation and prediction transforms from these same steps.
    """
    instance("config", config, DataConfig, "a DataConfig: pass zoo.resolve_data_config(model) (or of a model name)")
    boolean("training", training)
    boolean("hflip", hflip)
    from torchvision.transforms import v2

    geometry = training_geometry(config, hflip) if training else evaluation_geometry(config)
    return v2.Compose([v2.ToImage(), *geometry, *model_input_steps(config), v2.ToPureTensor()])
