"""Checks of the composed config before anything runs or is written: a wrong value is a one-line error naming
the key, not a traceback from deep inside Lightning or PyTorch."""

from __future__ import annotations

from numbers import Real
from typing import Any

import torch
from omegaconf import DictConfig

from zoo import list_models

from .errors import ConfigError
from .optim import check_settings as check_optimizer_settings


def _require(ok: bool, key: str, value: Any, expectation: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r}: {expectation}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


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
    """What train and evaluate share: the seed, the CPU threads and the devices."""
    _require(_is_int(cfg.get("seed", 0)), "seed", cfg.get("seed"), "give an integer, e.g. seed=42")
    threads = cfg.get("threads", "auto")
    _require(
        threads in ("auto", None) or _is_int(threads) and threads >= 1,
        "threads",
        threads,
        "give a number of CPU threads >= 1, auto (the cores this process may use) or null (torch's choice)",
    )
    check_devices(cfg.trainer)


def check_train_settings(cfg: DictConfig) -> None:
    check_common(cfg)
    check_model_name(cfg.model.name)
    _require(
        cfg.model.get("variant", "auto") in ("auto", "none"),
        "model.variant",
        cfg.model.get("variant"),
        "choose auto (the small-image sibling on images of 64 px or less) or none (exactly model.name)",
    )
    trainer = cfg.trainer
    epochs = trainer.get("max_epochs")
    _require(
        _is_int(epochs) and epochs >= 1 or epochs == -1,
        "trainer.max_epochs",
        epochs,
        "give a whole number of epochs >= 1 (or -1 for no limit)",
    )
    every = trainer.get("check_val_every_n_epoch")
    never_validates = _is_int(every) and epochs != -1 and every > epochs and trainer.get("limit_val_batches") != 0
    _require(
        not never_validates,
        "trainer.check_val_every_n_epoch",
        every,
        f"more than trainer.max_epochs={epochs}, so the run would never validate (no val/acc, no best checkpoint); "
        "lower it, or set trainer.limit_val_batches=0 to train without validation",
    )
    clip = trainer.get("gradient_clip_val")
    _require(
        clip is None or _is_number(clip) and clip >= 0,
        "trainer.gradient_clip_val",
        clip,
        "give a number >= 0, or null for no clipping",
    )
    smoothing = cfg.get("label_smoothing", 0.0)
    _require(_is_number(smoothing) and 0 <= smoothing < 1, "label_smoothing", smoothing, "give a number in [0, 1)")
    lr = cfg.optimizer.get("lr")
    _require(_is_number(lr) and lr > 0, "optimizer.lr", lr, "give a positive number, e.g. optimizer.lr=0.05")
    check_optimizer_settings(cfg.optimizer, cfg.get("scheduler"))
    _require(cfg.get("tune") in (None, "lr_find"), "tune", cfg.get("tune"), "choose lr_find, or null to train")
    steps = cfg.get("tune_steps", 100)
    _require(_is_int(steps) and steps >= 2, "tune_steps", steps, "give a whole number of steps >= 2, e.g. 100")
