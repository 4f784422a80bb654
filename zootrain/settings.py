"""Checks of the composed config before anything runs or is written: a wrong value is a one-line error naming
the key, not a traceback from deep inside Lightning or PyTorch."""

from __future__ import annotations

import math
import os
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from zoo import ZooModel, list_models

from .data import ImageClassificationData
from .data.config import dataset_config
from .errors import ConfigError
from .finetune import FinetuneSpec, frozen_groups_at, scheduled_frozen_groups, statically_frozen_groups
from .optim import check_settings as check_optimizer_settings
from .schema import check_config

# the arguments of Lightning's EMA callback that decide its first update
EMA_START = ("update_starting_at_step", "update_every_n_steps", "update_starting_at_epoch")


def _require(ok: bool, key: str, value: Any, expectation: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r}: {expectation}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def check_model_name(name: Any) -> None:
    if name not in list_models():
        import difflib

        close = difflib.get_close_matches(str(name), list_models(), n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise ConfigError(f"model.name={name!r} is not a zoo model; {hint}zoo.list_models() lists them all")


def on_cpu(trainer_cfg: DictConfig) -> bool:
    accelerator = trainer_cfg.get("accelerator", "auto")
    return accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())


def check_devices(trainer_cfg: DictConfig) -> None:
    """More GPUs than the machine has, or several CPU processes without asking for them, is a one-line error."""
    devices = trainer_cfg.get("devices", 1)
    if on_cpu(trainer_cfg):
        several = devices not in (1, "1", "auto")
        _require(
            not several or trainer_cfg.get("strategy") is not None,
            "trainer.devices",
            devices,
            "on the CPU that would start that many training processes; use trainer=ddp_cpu "
            f"trainer.devices={devices} to ask for them, or trainer.devices=1",
        )
        return
    if not _is_int(devices) or devices < 0 or trainer_cfg.get("accelerator", "auto") not in ("auto", "gpu", "cuda"):
        return  # Lightning itself refuses an accelerator the machine lacks (mps, tpu) in one line
    available = torch.cuda.device_count()
    if devices > available:
        raise ConfigError(
            f"trainer.devices={devices} GPUs requested but this machine has {available}; "
            f"set trainer.devices={available} or use trainer=cpu"
            if available
            else f"trainer.devices={devices} GPUs requested but this machine has no GPU; use trainer=cpu "
            "(or trainer=ddp_cpu for several CPU processes)"
        )


# set by the launchers that start the processes of several nodes (SLURM, torchrun, LSF, MPI, or by hand)
LAUNCHER_VARIABLES = ("SLURM_NTASKS", "GROUP_RANK", "NODE_RANK", "LSB_JOBID", "OMPI_COMM_WORLD_SIZE")


def check_nodes(trainer_cfg: DictConfig) -> None:
    """A process of a several-node run started alone would wait for the other nodes' processes forever."""
    nodes = trainer_cfg.get("num_nodes", 1)
    _require(
        nodes == 1 or any(name in os.environ for name in LAUNCHER_VARIABLES),
        "trainer.num_nodes",
        nodes,
        "needs every node's processes started by srun, torchrun or mpirun, and none started this one (it would "
        "wait for the other nodes forever); start it that way, or set trainer.num_nodes=1",
    )


def check_common(cfg: DictConfig) -> None:
    """What train and evaluate share: every key's type and range (``zootrain.schema``), and the devices."""
    check_config(cfg)
    check_devices(cfg.trainer)
    check_nodes(cfg.trainer)


def _pictures(cfg: DictConfig) -> list[str]:
    shown = cfg.get("visualize")
    return list(shown) if isinstance(shown, ListConfig) else [shown]


# evaluate.py's settings that mean something only beside another: alone they would be ignored without a word
MEANINGFUL_WITH = {
    "model": (
        lambda cfg: cfg.get("pretrained"),
        "picks the architecture of published weights: add pretrained=<tag>, or drop it (a checkpoint builds the "
        "model it was trained as)",
    ),
    "target_class": (
        lambda cfg: "gradcam" in _pictures(cfg),
        "is the class Grad-CAM explains: add visualize=gradcam (and images=...), or drop it",
    ),
}


def check_evaluate_settings(cfg: DictConfig) -> None:
    check_common(cfg)
    check_batches(cfg.trainer, "limit_test_batches", "evaluate on")
    for key, (meaningful, why) in MEANINGFUL_WITH.items():
        if cfg.get(key) is not None and not meaningful(cfg):
            value = cfg.model.get("name") if key == "model" else cfg.get(key)
            raise ConfigError(f"{key}={value}: {why}")


def check_train_settings(cfg: DictConfig) -> None:
    """The whole training config, before anything is written: each key, then the rules between keys."""
    check_model_name(cfg.model.name)
    check_common(cfg)
    dataset_config(_plain(cfg.dataset))  # the datamodule's own check: required values, unknown and renamed keys
    check_optimizer_settings(_plain(cfg.optimizer), _plain(cfg.get("scheduler")))
    check_validation_happens(cfg.trainer)
    check_run_length(cfg.trainer)
    check_watched_metrics_are_logged(cfg)
    check_loggers_for_callbacks(cfg)
    check_checkpoint_files_differ(cfg)
    check_batches(cfg.trainer, "limit_train_batches", "train on")
    check_nesterov(cfg.optimizer)
    check_capturable(cfg.optimizer, cfg.trainer)


def check_batches(trainer: DictConfig, key: str, what: str) -> None:
    _require(
        trainer.get(key) != 0,
        f"trainer.{key}",
        trainer.get(key),
        f"the run would {what} nothing; give a number of batches >= 1 or a share in (0, 1], or null for all",
    )


def check_run_length(trainer: DictConfig) -> None:
    """Lightning ends a run at max_epochs (max_steps) whatever min_epochs (min_steps) asks, without a word."""
    for least, most in (("min_epochs", "max_epochs"), ("min_steps", "max_steps")):
        low, high = trainer.get(least), trainer.get(most)
        _require(
            low is None or high in (None, -1) or low <= high,
            f"trainer.{least}",
            low,
            f"more than trainer.{most}={high}, which ends the run first; lower it or raise trainer.{most}",
        )


def check_capturable(optimizer: DictConfig, trainer: DictConfig) -> None:
    """torch keeps a capturable optimizer's state for CUDA graphs: on the CPU its first step fails."""
    _require(
        not (optimizer.get("capturable") and on_cpu(trainer)),
        "optimizer.capturable",
        True,
        "keeps the optimizer's state on a GPU (for CUDA graphs), and this run trains on the CPU; drop it",
    )


def check_checkpoint_files_differ(cfg: DictConfig) -> None:
    """Two checkpoint callbacks writing one file would overwrite, and delete, each other's checkpoints."""
    seen: dict[tuple, str] = {}
    for name, node in _callbacks_of(cfg, "ModelCheckpoint"):
        where = (OmegaConf.to_container(node).get("dirpath"), node.get("filename"))  # dirpath unresolved: same text
        _require(
            where not in seen,
            f"callbacks.{name}.filename",
            node.get("filename"),
            f"is callbacks.{seen.get(where)}'s too, in the same folder: each would overwrite or delete the other's "
            "checkpoints; give each its own filename",
        )
        seen[where] = name


def _callbacks_of(cfg: DictConfig, kind: str) -> list[tuple[str, DictConfig]]:
    """The configured callbacks whose class name ends with ``kind`` (those switched off with null left out)."""
    nodes = (cfg.get("callbacks") or {}).items()
    return [(n, c) for n, c in nodes if isinstance(c, DictConfig) and str(c.get("_target_", "")).endswith(kind)]


def check_nesterov(optimizer: DictConfig) -> None:
    """torch's SGD refuses Nesterov momentum without momentum, or with dampening, when training starts."""
    momentum_without_dampening = optimizer.get("momentum", 0) > 0 and optimizer.get("dampening", 0) == 0
    _require(
        not optimizer.get("nesterov") or momentum_without_dampening,
        "optimizer.nesterov",
        True,
        "Nesterov momentum needs optimizer.momentum > 0 and optimizer.dampening=0; set them, or "
        "optimizer.nesterov=false",
    )


def check_validation_happens(trainer: DictConfig) -> None:
    epochs, every = trainer.get("max_epochs"), trainer.get("check_val_every_n_epoch")
    never_validates = _is_int(every) and every > epochs and trainer.get("limit_val_batches") != 0
    _require(
        not never_validates,
        "trainer.check_val_every_n_epoch",
        every,
        f"more than trainer.max_epochs={epochs}, so the run would never validate (no val/acc, no best checkpoint); "
        "lower it, or set trainer.limit_val_batches=0 to train without validation",
    )


def check_loggers_for_callbacks(cfg: DictConfig) -> None:
    """Lightning's learning-rate monitor writes to the loggers: without one it stops the run at the start."""
    if any(node is not None for node in (cfg.get("logger") or {}).values()):
        return
    for name, _ in _callbacks_of(cfg, "LearningRateMonitor"):
        raise ConfigError(
            f"callbacks.{name} logs to the loggers, and this run has none; leave it out too "
            f"(~callbacks.{name}) or keep a logger (logger=csv)"
        )


def check_watched_metrics_are_logged(cfg: DictConfig) -> None:
    """A watched metric is followed the way it improves (a loss down, an accuracy up: the other way keeps the worst
    checkpoint, or stops at the first improvement). Early stopping that watches a validation metric stops a run
    that never validates with a traceback after its first epoch."""
    for name, node in _callbacks_of(cfg, "ModelCheckpoint") + _callbacks_of(cfg, "EarlyStopping"):
        monitor, mode = str(node.get("monitor")), node.get("mode", "min")  # Lightning's default mode is min
        better = "min" if "loss" in monitor else "max" if "acc" in monitor else mode
        _require(
            node.get("monitor") is None or mode == better,
            f"callbacks.{name}.mode",
            mode,
            f"callbacks.{name}.monitor={monitor} improves as it goes {'down' if better == 'min' else 'up'}; "
            f"set callbacks.{name}.mode={better}",
        )
    if cfg.trainer.get("limit_val_batches") != 0:
        return
    for name, node in _callbacks_of(cfg, "EarlyStopping"):
        _require(
            not str(node.get("monitor")).startswith("val/"),
            f"callbacks.{name}.monitor",
            node.get("monitor"),
            "trainer.limit_val_batches=0 means no validation, so there is nothing to watch; watch train/acc or "
            "train/loss_epoch, or let the run validate",
        )


def check_data_fits_run(datamodule: ImageClassificationData, cfg: DictConfig) -> None:
    """What only the data tells: fewer than two classes (nothing to classify), an empty training split (nothing to
    learn from) or an empty validation split while validating (nothing to report) is refused. Sets the datamodule
    up for fitting, as ``trainer.fit`` would."""
    datamodule.setup("fit")
    name, sizes = cfg.dataset.name, {split: len(data) for split, data in datamodule.splits.items()}
    if datamodule.num_classes < 2:
        raise ConfigError(
            f"dataset={name} gives {datamodule.num_classes} class here, so there is nothing to classify; "
            "give dataset.classes at least two indices, or a folder with two class sub-folders or more"
        )
    for split, fix in (("train", "lower dataset.val_fraction"), ("val", "raise dataset.val_fraction")):
        validating = split == "train" or cfg.trainer.get("limit_val_batches") != 0
        if validating and sizes[split] == 0:
            raise ConfigError(
                f"the {split} split of dataset={name} is empty (dataset.val_fraction={cfg.dataset.val_fraction}, "
                f"{sum(sizes.values())} images); {fix} or add images"
                + (", or set trainer.limit_val_batches=0 to train without validation" if split == "val" else "")
            )
    check_run_fits_its_batches(datamodule, cfg)


def training_batches(datamodule: ImageClassificationData, trainer: DictConfig) -> int:
    """The training batches of an epoch, as Lightning counts them in one process."""
    batches = len(datamodule.train_dataloader())
    limit = trainer.get("overfit_batches") or trainer.get("limit_train_batches")
    if limit is None:
        return batches
    return min(batches, limit) if _is_int(limit) else int(batches * limit)


def first_validation_batch(trainer: DictConfig, batches: int) -> int:
    """How many training batches run before the first validation (``val_check_interval`` and
    ``check_val_every_n_epoch`` as Lightning reads them)."""
    interval = trainer.get("val_check_interval")
    if _is_int(interval):
        return interval
    within = batches if interval is None else int(batches * interval)
    return within + batches * ((trainer.get("check_val_every_n_epoch") or 1) - 1)


def check_run_fits_its_batches(datamodule: ImageClassificationData, cfg: DictConfig) -> None:
    """What counts in the run's batches: it must reach its first validation (``val_check_interval`` batches, or
    the end of an epoch, within ``max_steps``), and an EMA must be updated at least once, or the run would end
    with the initial weights."""
    trainer, emas = cfg.trainer, _callbacks_of(cfg, "EMAWeightAveraging")
    interval, max_steps = trainer.get("val_check_interval"), trainer.get("max_steps", -1)
    if trainer.get("fast_dev_run") or not (_is_int(interval) or max_steps != -1 or emas):
        return
    batches, accumulate = training_batches(datamodule, trainer), trainer.get("accumulate_grad_batches", 1)
    steps = trainer.max_epochs * math.ceil(batches / accumulate)
    steps = steps if max_steps == -1 else min(steps, max_steps)
    _require(
        not _is_int(interval) or trainer.get("check_val_every_n_epoch") is None or interval <= batches,
        "trainer.val_check_interval",
        interval,
        f"more batches than an epoch has ({batches}), and Lightning counts them within an epoch; lower it, give a "
        "share of the epoch (0.5), or set trainer.check_val_every_n_epoch=null to count across epochs",
    )
    if trainer.get("limit_val_batches") != 0:
        first = first_validation_batch(trainer, batches)
        key = "max_steps" if max_steps != -1 else "val_check_interval"
        _require(
            steps * accumulate >= first,
            f"trainer.{key}",
            trainer.get(key),
            f"the run would end after {steps} optimizer steps ({batches} batches an epoch), before its first "
            f"validation after {first} batches; lower trainer.val_check_interval, raise trainer.max_steps, or set "
            "trainer.limit_val_batches=0 to train without validation",
        )
    for name, ema in emas:
        _check_ema_updates(name, ema, steps, trainer.max_epochs)


def _check_ema_updates(name: str, ema: DictConfig, steps: int, epochs: int) -> None:
    """Lightning's EMA updates at each step_idx >= the start that is a multiple of ``update_every_n_steps``: none
    in the run leaves the initial weights, one leaves a copy of that one step's weights."""
    start, every, at_epoch = (ema.get(k) for k in EMA_START)
    if at_epoch is not None and at_epoch < epochs:
        return
    every = every or 1
    first_update = 0 if start is None else -(-start // every) * every  # a step_idx, from 0
    updates = len(range(first_update, steps, every))
    _require(
        updates > 0,
        f"callbacks.{name}.update_starting_at_step",
        start,
        f"this run takes {steps} optimizer steps, so the average would never be updated and the run would end "
        "with its initial weights; start it earlier",
    )
    key, value = ("update_every_n_steps", every) if every > 1 else ("update_starting_at_step", start)
    _require(
        updates > 1 or steps == 1,
        f"callbacks.{name}.{key}",
        value,
        f"this run takes {steps} optimizer steps, so the average would be updated once, at step {first_update}, and "
        "the run would end with that step's weights; update it more often or start it earlier",
    )


def check_input_fits(net: ZooModel, datamodule: ImageClassificationData) -> None:
    """The model's own check of its input (channels, size: LeNet-5 takes exactly 32 px) on a batch of the data's
    shape, on the meta device (nothing computed), so a misfit is refused before training starts, not mid-step."""
    side = datamodule.image_size
    try:
        net.check_input(torch.empty(2, datamodule.in_chans, side, side, device="meta"))
    except (TypeError, ValueError) as err:
        raise ConfigError(f"dataset.image_size={side}: {err}; choose the size the model takes") from err


def check_something_trains(net: ZooModel, finetune: DictConfig, epochs: int) -> None:
    """Freezing every group of the built model for the whole run would train nothing; a gradual unfreezing that
    thaws no group within the run's epochs would be head-only fine-tuning without a word."""
    spec = FinetuneSpec(**_plain(finetune))
    if statically_frozen_groups(net, spec) == net.group_names():
        raise ConfigError(
            f"finetune.freeze={list(spec.freeze)} finetune.freeze_until={spec.freeze_until} freezes every group of "
            f"{type(net).__name__}, so nothing would train; leave the head out: finetune.freeze=[backbone]"
        )
    held = scheduled_frozen_groups(net, spec, 0)
    if held and frozen_groups_at(net, spec, 0) == frozen_groups_at(net, spec, epochs - 1):
        when = (
            f"finetune.unfreeze_at_epoch={spec.unfreeze_at_epoch}"
            if spec.strategy == "freeze_unfreeze"
            else f"finetune.unfreeze_milestones={spec.unfreeze_milestones}"
        )
        raise ConfigError(
            f"finetune.strategy={spec.strategy} would thaw {held[-1]} and below, but no group thaws in this run's "
            f"{epochs} epochs ({when}, finetune.freeze={spec.freeze}); thaw before trainer.max_epochs={epochs}, "
            "leave those groups out of finetune.freeze, or train the head alone with finetune=head_only"
        )
