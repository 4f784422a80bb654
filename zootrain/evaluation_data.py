"""The data a trained model is evaluated on: rebuilt from the facts its checkpoint records, read from where the
user says, and checked against what the model was trained on before a number is reported.

A checkpoint is input, never an instruction: its stored dataset paths (root, cache, zip, download permission)
are dropped, so evaluating a checkpoint from elsewhere never creates, writes or deletes files where it says.
It contributes only facts about the data: name, classes, image size, normalisation, split seed and fraction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

from zoo import create_model
from zoo.weights import WeightsError, unusable_tensors

from .checkpoint import load_training_checkpoint
from .data import ImageClassificationData
from .errors import ConfigError
from .module import ZooClassifier

# where data is read from or written to (decoded caches, downloads): the user's command line and config only
LOCATION_SETTINGS = ("root", "cache_dir", "zip_path", "download")


# what draws the validation split out of the training images: evaluating split=val under other values of these
# would report images the model trained on as validation images
SPLIT_SETTINGS = ("val_fraction", "split_seed")


def evaluation_datamodule(
    stored: dict[str, Any], user_settings: dict[str, Any], split: str = "test"
) -> ImageClassificationData:
    """The dataset settings a model was trained with (a checkpoint's ``datamodule_hyper_parameters``) without
    their locations, overridden by the user's ``dataset.*`` (which alone say where the data is). Its own
    validation split (``split="val"``) is the one it was trained beside: the settings that draw it stay as stored."""
    redrawn = [
        k for k in SPLIT_SETTINGS if split == "val" and k in stored and user_settings.get(k, stored[k]) != stored[k]
    ]
    if redrawn:
        raise ConfigError(
            f"split=val with {', '.join(f'dataset.{k}={user_settings[k]}' for k in redrawn)}: the model was trained "
            f"beside the validation split {', '.join(f'{k}={stored[k]}' for k in redrawn)} drew, and another one "
            "would hold images it trained on; drop the override (or evaluate split=test)"
        )
    facts = {k: v for k, v in stored.items() if k not in LOCATION_SETTINGS}
    return ImageClassificationData(**{**facts, **user_settings})


@dataclass(frozen=True)
class TrainedOn:
    """What a model was trained on, as its checkpoint (or, later, its named weights' record) says."""

    source: str  # where the model comes from, for messages: a checkpoint path or a weights name
    class_names: tuple[str, ...]
    in_chans: int
    image_size: int | None  # None: not recorded

    @classmethod
    def of_checkpoint(cls, ckpt: dict[str, Any], path: str) -> TrainedOn:
        hparams = ckpt["hyper_parameters"]
        model = hparams["model"]
        names = hparams.get("class_names") or [str(c) for c in range(model["num_classes"])]
        size = ckpt.get("datamodule_hyper_parameters", {}).get("image_size") or hparams.get("input_size")
        return cls(path, tuple(map(str, names)), int(model["in_chans"]), size)


def _listed(names: tuple[str, ...]) -> str:
    shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
    return f"{len(names)} classes ({shown})"


def check_data_fits(trained: TrainedOn, data: ImageClassificationData) -> None:
    """The data's classes (names, order and count), channels and image size must be the model's; a mismatch
    would report a meaningless accuracy (another class subset scores 0, a renamed class folder permutes labels)."""
    names = tuple(map(str, data.class_names))
    if names != trained.class_names:
        differ = next((i for i, (a, b) in enumerate(zip(names, trained.class_names)) if a != b), None)
        where = (
            ""
            if differ is None
            else f"; label {differ} is {names[differ]!r} here, {trained.class_names[differ]!r} there"
        )
        raise ConfigError(
            f"the data has {_listed(names)}, but {trained.source} was trained on {_listed(trained.class_names)}"
            f"{where}; evaluate on the classes it was trained on (check dataset.classes and the class folders)"
        )
    if data.in_chans != trained.in_chans:
        raise ConfigError(
            f"the data has {data.in_chans}-channel images, but {trained.source} takes {trained.in_chans} channels; "
            "evaluate on the dataset it was trained on"
        )
    if trained.image_size is not None and data.image_size != trained.image_size:
        raise ConfigError(
            f"dataset.image_size={data.image_size}, but {trained.source} was trained at {trained.image_size} px; "
            "drop the override"
        )


def checkpoint_model(ckpt_path: str) -> tuple[ZooClassifier, dict[str, Any], TrainedOn]:
    """The trained module of a ``train.py`` checkpoint, the dataset settings it was trained with and what it was
    trained on. (Evaluating named weights, ``model=<name> pretrained=<tag>``, is to return the same three.)"""
    ckpt = load_training_checkpoint(ckpt_path)
    stored = ckpt.get("datamodule_hyper_parameters", {})
    return load_module(ckpt, ckpt_path), stored, TrainedOn.of_checkpoint(ckpt, ckpt_path)


def pretrained_model(name: str, tag: bool | str) -> tuple[ZooClassifier, dict[str, Any], TrainedOn]:
    """The same three for published weights (``evaluate.py model=resnet20 pretrained=cifar10``): the module holding
    them, the dataset facts their record states (dataset, input size, normalisation) and what they were trained on.
    An unknown name or tag is the zoo's one-line ``WeightsError`` listing what exists."""
    net = create_model(name, pretrained=tag)
    record = net.weights
    prep = record.preprocessing
    in_chans, size = prep.input_size[0], prep.input_size[1]
    module = ZooClassifier(
        model={
            "name": name,
            "num_classes": record.num_classes,
            "in_chans": in_chans,
            "kwargs": dict(record.model_kwargs),
        },
        optimizer={},
        class_names=list(record.class_names),
        input_size=size,
    )
    module.net.load_state_dict(net.state_dict())
    stored = {"name": record.dataset, "image_size": size, "mean": list(prep.mean), "std": list(prep.std)}
    return module, stored, TrainedOn(record.name, tuple(record.class_names), in_chans, size)


def load_module(ckpt: dict, ckpt_path: str) -> ZooClassifier:
    """The trained module of a ``train.py`` checkpoint; weights that do not fit its model are one clear error."""
    model = ckpt["hyper_parameters"]["model"]
    try:
        module = ZooClassifier(**ckpt["hyper_parameters"])
    except (TypeError, ValueError) as err:  # model arguments another model does not take
        raise WeightsError(
            f"{ckpt_path}: its settings do not build {model['name']}, the model its hyper_parameters "
            f"name ({err}); was the checkpoint edited or mixed up?"
        ) from None
    own, weights = module.state_dict(), ckpt["state_dict"]
    misfits = sorted(own.keys() ^ weights.keys()) + [
        k for k in own if k in weights and own[k].shape != weights[k].shape
    ]
    if misfits:
        raise WeightsError(
            f"{ckpt_path}: its weights are not those of {module.net.info.name}, the model its "
            f"hyper_parameters name ({len(misfits)} tensors differ in name or shape, e.g. "
            f"{misfits[0]}); was the checkpoint edited or mixed up?"
        )
    unusable = unusable_tensors(own, weights)
    if unusable:
        raise WeightsError(f"{ckpt_path}: its weights cannot be evaluated: {unusable}; was it edited or corrupted?")
    module.load_state_dict(weights)
    return module


def evaluated_model(cfg: DictConfig) -> tuple[ZooClassifier, dict[str, Any], TrainedOn]:
    """What is evaluated: published weights (``model=<name> pretrained=<tag>``) or a ``train.py`` checkpoint."""
    if cfg.get("pretrained"):
        if cfg.get("ckpt_path") or not cfg.get("model"):
            raise ConfigError("pretrained= evaluates published weights: give model=<name> and no ckpt_path")
        return pretrained_model(cfg.model.name, cfg.pretrained)
    if not cfg.get("ckpt_path"):
        raise ConfigError(
            "nothing to evaluate: give ckpt_path=<a train.py checkpoint>, or model=<name> pretrained=<tag>"
        )
    return checkpoint_model(str(cfg.ckpt_path))
