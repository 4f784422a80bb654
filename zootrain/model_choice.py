"""Which network a run trains, at which input size, and the module around it: the one place that decides.

``model=<name>`` selects a model's config node (its factory arguments as typed keys, ``zootrain.config_store``);
it is the one way to switch models. With ``model.variant=auto`` a model with a small-image sibling (registry field
``small_input_model``: resnet18 -> resnet18_cifar) trains as that sibling on images of at most
``SMALL_INPUT_PIXELS`` — unless ``finetune.init_from`` holds weights of the model as named (ImageNet resnet18
weights, say): the weights win. Nothing is built to decide it: the checkpoint's recorded model name says, else
the tensor shapes are compared with the models' built on the ``meta`` device (shapes only, no memory).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from zoo import ModelInfo, create_model, model_info
from zoo.registry import SMALL_INPUT_PIXELS, model_arguments
from zoo.weights import extract_state_dict, load_file, load_pretrained, source_architecture

from .checkpoint import load_training_checkpoint
from .config_store import MODEL_KEYS
from .data import ImageClassificationData
from .errors import ConfigError
from .finetune import FinetuneSpec, frozen_groups_at
from .hardware import auto_channels_last
from .module import ZooClassifier
from .resume import settings_changes
from .settings import on_cpu

log = logging.getLogger(__name__)


def plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def on_gpu(trainer_cfg: DictConfig) -> bool:
    return not on_cpu(trainer_cfg) and torch.cuda.is_available()


@dataclass(frozen=True)
class ModelChoice:
    """The registered model a run builds, its factory arguments and the side of the images it is fed."""

    name: str
    kwargs: dict[str, Any]
    input_size: int

    @property
    def info(self) -> ModelInfo:
        return model_info(self.name)


# ----- which model -----
def check_model_node(model_cfg: DictConfig) -> None:
    """``model.name`` must be the model whose node ``model=`` selected: another name would be built with the
    first one's arguments (or their defaults) and no error."""
    node_type = OmegaConf.get_type(model_cfg)
    if not dataclasses.is_dataclass(node_type):
        return  # a plain node (a test's or a user's own): its name is all there is
    selected = next(f.default for f in dataclasses.fields(node_type) if f.name == "name")
    if model_cfg.name != selected:
        raise ConfigError(
            f"model.name={model_cfg.name} differs from the model config selected (model={selected}); switch "
            f"models with model={model_cfg.name}, which brings that model's own arguments"
        )


def sibling_kwargs(kwargs: dict[str, Any], name: str, sibling: str) -> dict[str, Any]:
    """The arguments of ``name`` that its sibling takes too; one it lacks is an error unless left at default."""
    accepted, defaults = model_arguments(sibling), model_arguments(name)
    changed = [k for k, v in kwargs.items() if k not in accepted and v != defaults[k].default]
    if changed:
        raise ConfigError(
            f"{sibling} (what {name} trains as on small images) takes no {', '.join(f'model.{k}' for k in changed)}; "
            "drop the override, or set model.variant=none to train "
            f"{name} itself"
        )
    return {k: v for k, v in kwargs.items() if k in accepted}


def _misfits(name: str, weights: dict[str, torch.Tensor], sizes: dict[str, int], kwargs: dict) -> int:
    """How many tensors of ``name``'s body (head aside) the weights lack or hold in another shape; the first
    convolution may differ in its input channels (``load_pretrained`` adapts it). Built on the meta device."""
    with torch.device("meta"):
        model = create_model(name, **sizes, **kwargs)
    head = tuple(dict(model.group_layout())["head"])
    first = f"{model.first_conv_path}.weight"
    misfit = 0
    for key, own in model.state_dict().items():
        if key.startswith(head):
            continue
        theirs = weights.get(key)
        shape = (own.shape[0], *own.shape[2:]) if key == first else own.shape
        seen = None if theirs is None else (theirs.shape[0], *theirs.shape[2:]) if key == first else theirs.shape
        misfit += seen != shape
    return misfit


def weights_prefer_named(init_from: str, name: str, sibling: str, sizes: dict, kwargs: dict) -> bool:
    """Whether the weights at ``init_from`` are ``name``'s and not its sibling's."""
    raw = load_file(init_from)
    recorded = source_architecture(raw)
    if recorded in (name, sibling):
        return recorded == name
    weights = extract_state_dict(raw)
    sibling_args = {k: v for k, v in kwargs.items() if k in model_arguments(sibling)}
    return _misfits(sibling, weights, sizes, sibling_args) > 0 and _misfits(name, weights, sizes, kwargs) == 0


def model_name(cfg: DictConfig, datamodule: ImageClassificationData) -> str:
    """``model.name``, or its small-image sibling (see the module docstring)."""
    name = cfg.model.name
    sibling = model_info(name).small_input_model
    if cfg.model.variant != "auto" or datamodule.native_size > SMALL_INPUT_PIXELS or sibling is None:
        return name
    init_from = cfg.finetune.get("init_from")
    sizes = {"num_classes": datamodule.num_classes, "in_chans": datamodule.in_chans}
    if init_from and weights_prefer_named(init_from, name, sibling, sizes, model_kwargs(cfg.model, name)):
        log.info(f"note: {init_from} fits {name}, not its small-image sibling {sibling}: training {name}")
        return name
    return sibling


def model_kwargs(model_cfg: DictConfig, name: str) -> dict[str, Any]:
    """The factory arguments in ``model_cfg`` (the node of ``model.name``) that ``name`` takes."""
    kwargs = {k: v for k, v in plain(model_cfg).items() if k not in MODEL_KEYS}
    if name == model_cfg.name:
        unknown = [k for k in kwargs if k not in model_arguments(name)]
        if unknown:
            raise ConfigError(f"{name} takes no {', '.join(f'model.{k}' for k in unknown)}; drop the override")
        return kwargs
    return sibling_kwargs(kwargs, model_cfg.name, name)


def input_size(cfg: DictConfig, name: str, datamodule: ImageClassificationData) -> int:
    """The side images are resized to: ``dataset.image_size``, else the model's own; never below its minimum."""
    info = model_info(name)
    size = cfg.dataset.get("image_size") or info.input_size[1]
    smallest = info.min_input_size[1]
    if size < smallest:
        raise ConfigError(
            f"dataset.image_size={size} is below {name}'s smallest input ({smallest} px); "
            f"use dataset.image_size={smallest} or more, or leave it null for {info.input_size[1]}"
        )
    how = "" if size == datamodule.native_size else f", resized from the dataset's {datamodule.native_size} px"
    log.info(f"model: {name} ({info.paper}), input {datamodule.in_chans}x{size}x{size}{how}")
    return size


def check_resumes_same_model(ckpt_path: str, name: str) -> None:
    trained_as = load_training_checkpoint(ckpt_path)["hyper_parameters"]["model"]["name"]
    if trained_as != name:
        raise ConfigError(
            f"{ckpt_path} was trained as {trained_as}, but this run builds {name}; resume it with "
            f"model={trained_as} (and its dataset), or start from its weights with "
            f"finetune.init_from={ckpt_path} instead of ckpt_path"
        )


# what a resume restores as the checkpoint saved it: the network, the optimizer's and the schedule's states (and so
# the parameter groups fine-tuning makes); other settings of these would fail to load or be overridden unsaid
RESUMED_AS_SAVED = ("model", "optimizer", "scheduler", "finetune", "label_smoothing")


def check_resume_fits(ckpt_path: str, module: ZooClassifier, max_epochs: int) -> None:
    """Resuming continues the checkpoint's run: another optimizer or other frozen groups would fail to load, another
    learning rate would be replaced by the saved one without a word, and a checkpoint that has trained every epoch
    asked for would train nothing (and leave no validation figures)."""
    ckpt = load_training_checkpoint(ckpt_path)
    saved = ckpt["hyper_parameters"]
    pick = {key: saved.get(key) for key in RESUMED_AS_SAVED}, {key: module.hparams.get(key) for key in RESUMED_AS_SAVED}
    changes = settings_changes(*pick)
    if changes:
        raise ConfigError(
            f"{ckpt_path} was trained with other settings than this run's ({'; '.join(changes[:3])}); resume it "
            f"with its own, or start from its weights with finetune.init_from={ckpt_path} instead of ckpt_path"
        )
    progress = ckpt.get("loops", {}).get("fit_loop", {}).get("epoch_progress", {}).get("current", {})
    done = int(progress.get("processed", 0))  # epochs finished: one saved mid-epoch does not count
    if done >= max_epochs:
        raise ConfigError(
            f"{ckpt_path} has trained {done} epochs, as many as trainer.max_epochs={max_epochs} asks, so resuming "
            "it would train nothing (and report no validation figures); raise trainer.max_epochs to train it "
            f"further, or report it with python evaluate.py ckpt_path={ckpt_path} split=val"
        )


def choose_model(cfg: DictConfig, datamodule: ImageClassificationData, ckpt_path: str | None) -> ModelChoice:
    """The model, its arguments and input size; prepares ``datamodule`` for that input (its size and
    normalisation, the dataset's own statistics when the channel counts differ)."""
    check_model_node(cfg.model)
    name = model_name(cfg, datamodule)
    if ckpt_path:
        check_resumes_same_model(ckpt_path, name)
    choice = ModelChoice(name, model_kwargs(cfg.model, name), input_size(cfg, name, datamodule))
    datamodule.set_model_input(choice.input_size, choice.info.mean, choice.info.std)
    return choice


# ----- the module around it -----
def build_module(
    cfg: DictConfig, choice: ModelChoice, datamodule: ImageClassificationData, ckpt_path: str | None
) -> ZooClassifier:
    """The LightningModule of ``choice``, with ``finetune.init_from`` weights loaded on a fresh start."""
    channels_last = cfg.get("channels_last", "auto")
    if channels_last == "auto":
        channels_last = auto_channels_last(choice.info.family, on_gpu(cfg.trainer))
    module = ZooClassifier(
        model={
            "name": choice.name,
            "num_classes": datamodule.num_classes,
            "in_chans": datamodule.in_chans,
            "kwargs": choice.kwargs,
        },
        optimizer=plain(cfg.optimizer),
        scheduler=plain(cfg.get("scheduler")),
        finetune=plain(cfg.finetune),
        label_smoothing=cfg.get("label_smoothing", 0.0),
        compile=cfg.get("compile", False),
        channels_last=channels_last,
        class_names=list(datamodule.class_names),
        input_size=choice.input_size,
    )
    spec = FinetuneSpec(**plain(cfg.finetune))
    frozen_groups_at(module.net, spec, 0)  # misnamed groups fail here, before anything is written
    if ckpt_path:
        check_resume_fits(ckpt_path, module, cfg.trainer.max_epochs)
    if spec.init_from and not ckpt_path:
        report = load_pretrained(module.net, spec.init_from, allow_partial=spec.allow_partial)
        loaded, fresh = len(report.loaded), report.reinitialised or "nothing"
        log.info(f"init_from {spec.init_from}: loaded {loaded} tensors, re-initialised {fresh}")
    return module
