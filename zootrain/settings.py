"""Checks of the composed config before anything runs or is written: a wrong value is a one-line error naming
the key, not a traceback from deep inside Lightning or PyTorch."""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from zoo import ZooModel, list_models

from .data import ImageClassificationData
from .data.config import dataset_config
from .errors import ConfigError
from .finetune import FinetuneSpec, statically_frozen_groups
from .optim import check_settings as check_optimizer_settings
from .schema import check_config


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
    if not _is_int(devices) or devices < 0:
        return
    available = torch.cuda.device_count()
    if devices > available:
        raise ConfigError(
            f"trainer.devices={devices} GPUs requested but this machine has {available}; "
            f"set trainer.devices={available} or use trainer=cpu"
            if available
            else f"trainer.devices={devices} GPUs requested but this machine has no GPU; use trainer=cpu "
            "(or trainer=ddp_cpu for several CPU processes)"
        )


def check_common(cfg: DictConfig) -> None:
    """What train and evaluate share: every key's type and range (``zootrain.schema``), and the devices."""
    check_config(cfg)
    check_devices(cfg.trainer)


def check_train_settings(cfg: DictConfig) -> None:
    """The whole training config, before anything is written: each key, then the rules between keys."""
    check_model_name(cfg.model.name)
    check_common(cfg)
    dataset_config(_plain(cfg.dataset))  # the datamodule's own check: required values, unknown and renamed keys
    check_optimizer_settings(_plain(cfg.optimizer), _plain(cfg.get("scheduler")))
    check_validation_happens(cfg.trainer)
    check_watched_metrics_are_logged(cfg)
    check_batches_to_train(cfg.trainer)
    check_nesterov(cfg.optimizer)


def check_batches_to_train(trainer: DictConfig) -> None:
    _require(
        trainer.get("limit_train_batches") != 0,
        "trainer.limit_train_batches",
        trainer.get("limit_train_batches"),
        "the run would train on nothing; give a number of batches >= 1 or a share in (0, 1], or null for all",
    )


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


def check_watched_metrics_are_logged(cfg: DictConfig) -> None:
    """Early stopping that watches a validation metric stops a run that never validates with a traceback after its
    first epoch."""
    if cfg.trainer.get("limit_val_batches") != 0:
        return
    for name, node in (cfg.get("callbacks") or {}).items():
        if not isinstance(node, DictConfig) or not str(node.get("_target_", "")).endswith("EarlyStopping"):
            continue  # a callback switched off with null, or one that stops nothing
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


def check_something_trains(net: ZooModel, finetune: DictConfig) -> None:
    """Freezing every group of the built model for the whole run would train nothing."""
    spec = FinetuneSpec(**_plain(finetune))
    if statically_frozen_groups(net, spec) == net.group_names():
        raise ConfigError(
            f"finetune.freeze={list(spec.freeze)} finetune.freeze_until={spec.freeze_until} freezes every group of "
            f"{type(net).__name__}, so nothing would train; leave the head out: finetune.freeze=[backbone]"
        )
