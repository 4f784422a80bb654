"""What makes a run directory safe to stop and restart: one process per directory (``RunDirectory``), atomic
checkpoint writes, the newest readable checkpoint on resume, random-number state saved with each checkpoint, metrics
kept across restarts, a refusal to mix two runs' settings in one directory, and a non-zero exit when a signal
stops the run."""

from __future__ import annotations

import csv
import fcntl
import json
import logging
import math
import os
import random
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from zoo.weights import WeightsError, load_file

from .checkpoint import load_training_checkpoint
from .console import checkpoint_line
from .errors import ConfigError

log = logging.getLogger(__name__)
CONFIG_FILE = "config.yaml"
FINISHED_FILE = "metrics.json"
METRICS_CSV = "metrics.csv"  # where configs/logger/csv.yaml writes it
LOCK_FILE = ".lock"
LAST_CHECKPOINT = "checkpoints/last.ckpt"  # where configs/callbacks/default.yaml saves it
TMP_PATTERN = ".*.tmp"  # AtomicCheckpointIO's half-written files
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
# a finished run asked for other epochs is not that run: its stored result is of its own epochs
FINISHED_SAFE_KEYS = tuple(key for key in RESTART_SAFE_KEYS if key != "trainer.max_epochs")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's ``TorchCheckpointIO`` writes ``torch.save`` straight onto the checkpoint's path, so a full disk,
    a kill or a power cut while saving leaves a truncated ``last.ckpt`` in place of the previous good one, and the
    run cannot resume. This one writes ``.<name>.<pid>.tmp`` beside it and renames it into place (``os.replace`` is
    atomic on one file system): a reader sees the old checkpoint or the new one, never half of one. A failed write
    removes its temporary file; one left by a killed process is removed when the next run claims the directory
    (``RunDirectory``)."""

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


def _among(key: str, keys: tuple[str, ...]) -> bool:
    return any(key == k or key.startswith(k + ".") for k in keys)


def settings_changes(saved: dict, current: dict, safe: tuple[str, ...] = RESTART_SAFE_KEYS) -> list[str]:
    """``key: old -> new`` for each setting that differs and is not ``safe`` to change."""
    old, new = _flatten(saved), _flatten(current)
    return [
        f"{k}: {old.get(k)} -> {new.get(k)}"
        for k in sorted(old.keys() | new.keys())
        if not _among(k, safe) and old.get(k) != new.get(k)
    ]


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
    if unreadable:  # starting over would replace them, and the run's epochs, without a word
        raise ConfigError(
            f"{', '.join(unreadable)} in {out_dir} cannot be read and no other checkpoint there can, so the run "
            "cannot resume; restore them, or delete them to start the run over"
        )
    return None


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


_held: dict[Path, tuple[Any, int]] = {}  # run directory -> (its open lock file, how many claims) in this process


class RunDirectory:
    """A run's folder, owned by one process from the first check to the result: everything about restarting it.

    ``with RunDirectory(path) as run_dir:`` takes an exclusive lock (``fcntl.flock`` on ``.lock``, released by the
    OS however the process ends) before anything else is read or written there; another process in the same
    folder is refused in one line. Only global rank 0 claims it: DDP ranks share their run's folder. Claims by one
    process nest (``zootrain.hydra_callbacks`` claims the folder before Hydra writes into it, ``train`` claims it
    again). A claim removes the half-written checkpoint files a killed save left in ``checkpoints/``: holding the
    lock, no other writer can be saving there."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._key = self.path.resolve()  # one folder however it is spelt: claims nest by it
        self.config_file, self.finished_file = self.path / CONFIG_FILE, self.path / FINISHED_FILE
        self.last = self.path / LAST_CHECKPOINT

    def __enter__(self) -> RunDirectory:
        if rank_zero_only.rank != 0:
            return self  # a DDP rank started as a process of its own (torchrun, srun): rank 0 holds the folder
        handle, claims = _held.get(self._key, (None, 0))
        if handle is None:
            handle = self._lock()
            for tmp in self.last.parent.glob(TMP_PATTERN):
                tmp.unlink()
        _held[self._key] = (handle, claims + 1)
        return self

    def __exit__(self, *exc: object) -> None:
        if rank_zero_only.rank != 0:
            return
        handle, claims = _held.pop(self._key)
        if claims > 1:
            _held[self._key] = (handle, claims - 1)
        else:
            handle.close()  # releases the lock

    def _lock(self) -> Any:
        self.path.mkdir(parents=True, exist_ok=True)
        handle = open(self.path / LOCK_FILE, "a")  # noqa: SIM115 (held open: the lock lives with it)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise ConfigError(
                f"{self.path} is in use by another process (it holds {LOCK_FILE} there): one run directory holds "
                "one run, and nothing was changed in it. Wait for that run, or start this one in another directory "
                "(hydra.run.dir=... or another sweep_name)"
            ) from None
        return handle

    # ----- what the folder may hold -----
    def check_can_hold(self, cfg: DictConfig) -> None:
        """Refuse a folder whose files this training run would mix with another's: one with another run's settings
        in its ``config.yaml`` (those in ``RESTART_SAFE_KEYS`` may differ while it is unfinished), checkpoint or
        not; one with results or checkpoints but no ``config.yaml`` (an evaluation's, another program's); one
        holding a run that ``auto_resume=false`` would start over in it."""
        if not self.config_file.is_file():
            written = (self.finished_file, self.path / METRICS_CSV, *self.last.parent.glob("*.ckpt"))
            found = [p.name for p in written if p.is_file()]
            if found:
                self._refuse(
                    f"{', '.join(found)} but no {CONFIG_FILE} of a train.py run (an evaluation's or another "
                    "program's files)"
                )
            return
        saved = OmegaConf.to_container(OmegaConf.load(self.config_file), resolve=False)
        finished = self.finished_file.is_file()
        what = "a finished run" if finished else "an unfinished run"
        safe = FINISHED_SAFE_KEYS if finished else RESTART_SAFE_KEYS
        changes = settings_changes(saved, OmegaConf.to_container(cfg, resolve=True), safe)
        if changes:
            shown = "; ".join(changes[:3]) + (f"; and {len(changes) - 3} more" if len(changes) > 3 else "")
            self._refuse(f"{what} with other settings ({shown})")
        if not cfg.get("auto_resume"):
            self._refuse(f"{what}, and auto_resume=false would start it over there, mixing its files with this run's")

    def check_can_hold_evaluation(self) -> None:
        """An evaluation writes ``metrics.json`` and its pictures: in a training run's folder they would replace the
        run's result (which marks it finished), in a sub-folder of one they would lie among its checkpoints, and in
        an earlier evaluation's folder they would replace its figures."""
        if self.config_file.is_file():
            self._refuse(f"a training run ({CONFIG_FILE}), whose metrics.json an evaluation would replace")
        if self.finished_file.is_file():
            self._refuse(f"the results of an earlier evaluation ({FINISHED_FILE}), which this one would replace")
        for folder in self.path.resolve().parents:
            if (folder / CONFIG_FILE).is_file() and (folder / LAST_CHECKPOINT).parent.is_dir():
                raise ConfigError(
                    f"{self.path} is inside the training run {folder}, among whose files an evaluation's would "
                    "lie; nothing was changed there. Write it elsewhere (hydra.run.dir=... outside that run)"
                )

    def _refuse(self, what: str) -> None:
        raise ConfigError(
            f"{self.path} holds {what}; nothing was changed there. Start this in another directory "
            "(hydra.run.dir=... or another sweep_name) or delete that one"
        )

    def save_settings(self, cfg: DictConfig) -> None:
        OmegaConf.save(cfg, self.config_file, resolve=True)

    # ----- restarting -----
    def finished_result(self, cfg: DictConfig) -> dict[str, Any] | None:
        """With ``auto_resume``, the result of the finished run this folder holds: not run again. Refuses a folder
        that this run's files would mix with first (``check_can_hold``)."""
        self.check_can_hold(cfg)
        if not (cfg.get("auto_resume") and self.finished_file.is_file()):
            return None
        log.info(f"{self.path} already holds this finished run (same settings); not training it again")
        return json.loads(self.finished_file.read_text())

    def resume_point(self, cfg: DictConfig) -> str | None:
        """The checkpoint to resume from: ``ckpt_path`` (which must be a training checkpoint), else with
        ``auto_resume`` this unfinished run's newest readable checkpoint."""
        if cfg.get("ckpt_path"):
            load_training_checkpoint(cfg.ckpt_path)
            return str(cfg.ckpt_path)
        found = checkpoint_to_resume(self.path, self.last) if cfg.get("auto_resume") else None
        if found is not None:
            log.info(f"resuming the unfinished run in {self.path} from {found.name}")
        return str(found) if found else None

    # ----- the result -----
    def epochs_done(self, trainer: L.Trainer) -> int:
        """Completed epochs: the last checkpoint knows even when training ran in spawned processes."""
        return int(load_file(self.last)["epoch"]) + 1 if self.last.is_file() else trainer.current_epoch

    def write_result(self, trainer: L.Trainer, model: str) -> dict[str, Any]:
        """The final metrics and where the run's files are; written to ``metrics.json`` (which marks the run
        finished) by rank 0."""
        metrics = {k: _finite(float(v)) for k, v in trainer.callback_metrics.items()}
        result = {
            **metrics,
            "run_dir": str(self.path),
            "model": model,
            "epochs": self.epochs_done(trainer),
            "best_model_path": getattr(trainer.checkpoint_callback, "best_model_path", ""),
            "last_model_path": str(self.last) if self.last.is_file() else "",
        }
        if trainer.is_global_zero:
            self.finished_file.write_text(json.dumps(result, indent=2, allow_nan=False))
            log.info(
                f"\n{model}: val/acc {metrics.get('val/acc') or float('nan'):.4f} after {result['epochs']} epochs\n"
                f"  run directory: {self.path}\n"
                f"  best checkpoint: {checkpoint_line(result['best_model_path'], trainer.fast_dev_run)}\n"
                f"  last checkpoint: {checkpoint_line(result['last_model_path'], trainer.fast_dev_run)}\n"
                f"  plots: {self.path / 'curves.png'}, {self.path / 'filters.png'}"
            )
        return result

    @contextmanager
    def exit_nonzero_when_stopped(self) -> Iterator[None]:
        """SIGTERM (``timeout``, SLURM preemption, ``docker stop``) stops training like Ctrl-C: Lightning finishes
        the step, the loggers flush, ``last.ckpt`` stays the end of the last whole epoch (the point an exact
        resume restarts from) and no ``metrics.json`` is written. Lightning then exits with SystemExit(None),
        status 0; this makes it 128 + SIGTERM, as a process killed by the signal reports, so ``train.py &&
        evaluate.py`` and schedulers see the run did not finish. (Ctrl-C: Lightning itself exits with 1.)"""
        try:
            yield
        except SIGTERMException:
            log.info(f"stopped by SIGTERM; run the same command again to resume {self.path} from {self.last.name}")
            raise SystemExit(128 + signal.SIGTERM) from None
