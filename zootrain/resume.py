"""What makes a run directory safe to stop and restart: atomic checkpoint writes, the newest readable checkpoint
on resume, random-number state saved with each checkpoint, metrics kept across restarts, and a refusal to mix two
runs' settings in one directory."""

from __future__ import annotations

import csv
import logging
import os
import random
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment
from omegaconf import DictConfig, OmegaConf

from zoo.weights import WeightsError

from .checkpoint import load_training_checkpoint
from .errors import ConfigError

log = logging.getLogger(__name__)
CONFIG_FILE = "config.yaml"
# settings that may change between a run and its restart without changing what it computes
RESTART_SAFE_KEYS = (
    "ckpt_path",
    "auto_resume",
    "paths",
    "trainer.max_epochs",
    "trainer.enable_model_summary",
    "trainer.devices",
    "callbacks",
    "logger",
    "sweep_name",
)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write a checkpoint to a temporary file beside it and rename it into place: a full disk or a kill while
    saving leaves the previous checkpoint whole instead of a truncated file."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            torch.save(checkpoint, tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


class RandomState(L.Callback):
    """Saves the global random-number generators with each checkpoint and restores them when training resumes, so
    dropout and anything else drawing from them continue exactly where the interrupted run was."""

    def __init__(self) -> None:
        self._restore: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        state = {"torch": torch.get_rng_state(), "python": random.getstate()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restore = state_dict  # applied when training starts, after the sanity check has drawn its numbers

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if self._restore is None:
            return
        torch.set_rng_state(self._restore["torch"])
        random.setstate(self._restore["python"])
        if "cuda" in self._restore and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(self._restore["cuda"])
        self._restore = None


class _KeepingWriter(ExperimentWriter):
    """Lightning's CSV writer deletes an existing ``metrics.csv``; this one keeps the rows logged before the step a
    run resumes from (those after it belong to the interrupted epoch and are logged again)."""

    def __init__(self, log_dir: str, keep_before_step: int) -> None:
        self.keep_before_step = keep_before_step
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        with path.open(newline="") as file:
            reader = csv.DictReader(file)
            header, rows = list(reader.fieldnames or []), list(reader)
        kept = [row for row in rows if row.get("step") and int(float(row["step"])) < self.keep_before_step]
        with path.open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=header)
            writer.writeheader()
            writer.writerows(kept)
        self.metrics_keys = header


class RunCSVLogger(CSVLogger):
    """``CSVLogger`` whose ``metrics.csv`` survives a restart in the same run directory (see ``resume_step``)."""

    resume_step = 0  # the global step of the checkpoint the run resumes from; 0 for a fresh start

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _KeepingWriter(self.log_dir, self.resume_step)
        return self._experiment


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        return {k: v for key, value in node.items() for k, v in _flatten(value, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): node}


def _restart_safe(key: str) -> bool:
    return any(key == safe or key.startswith(safe + ".") for safe in RESTART_SAFE_KEYS)


def settings_changes(saved: dict, current: dict) -> list[str]:
    """``key: old -> new`` for each setting that differs and would change the result."""
    old, new = _flatten(saved), _flatten(current)
    return [
        f"{k}: {old.get(k)} -> {new.get(k)}"
        for k in sorted(old.keys() | new.keys())
        if not _restart_safe(k) and old.get(k) != new.get(k)
    ]


def check_same_settings(out_dir: Path, cfg: DictConfig, what: str) -> None:
    """Refuse to continue a run in ``out_dir`` with other settings than it was started with."""
    saved_file = out_dir / CONFIG_FILE
    if not saved_file.is_file():
        return
    saved = OmegaConf.to_container(OmegaConf.load(saved_file), resolve=False)
    changes = settings_changes(saved, OmegaConf.to_container(cfg, resolve=True))
    if changes:
        shown = "; ".join(changes[:3]) + (f"; and {len(changes) - 3} more" if len(changes) > 3 else "")
        raise ConfigError(
            f"{out_dir} holds {what} with other settings ({shown}); nothing was changed there. "
            "Start it in another directory (hydra.run.dir=... or another sweep_name) or delete that one"
        )


def save_settings(out_dir: Path, cfg: DictConfig) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, out_dir / CONFIG_FILE, resolve=True)


def checkpoint_to_resume(out_dir: Path, last: Path) -> Path | None:
    """An unfinished run's restart point: ``last.ckpt``, else the newest other readable checkpoint beside it
    (a disk that filled up while saving may have left ``last.ckpt`` truncated), said in a one-line notice."""
    others = sorted((p for p in last.parent.glob("*.ckpt") if p != last), key=lambda p: p.stat().st_mtime, reverse=True)
    unreadable = []
    for path in ([last] if last.is_file() else []) + others:
        try:
            load_training_checkpoint(path)
        except WeightsError:
            unreadable.append(path.name)
            continue
        if unreadable:
            log.info(f"notice: {', '.join(unreadable)} in {out_dir} cannot be read; resuming from {path.name} instead")
        return path
    return None
