"""Faults triggered from inside a run (never by timers): importable by subprocesses through PYTHONPATH=tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import lightning as L

_fits_started = 0  # in this process: a Hydra sweep without a parallel launcher runs its jobs one after another here


class KillAt(L.Callback):
    """``kill -9`` of the training process itself at a given epoch and batch of its ``fit_number``-th fit."""

    def __init__(self, epoch: int, batch: int, fit_number: int = 1):
        self.epoch, self.batch, self.fit_number = epoch, batch, fit_number

    def on_fit_start(self, trainer, pl_module):
        global _fits_started
        _fits_started += 1
        self.armed = _fits_started == self.fit_number

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.armed and trainer.current_epoch == self.epoch and batch_idx == self.batch:
            os.kill(os.getpid(), signal.SIGKILL)


class SignalAt(L.Callback):
    """Sends this process ``signum`` (``SIGTERM``: what ``timeout``, SLURM preemption and ``docker stop`` send;
    ``SIGINT``: Ctrl-C) at a given epoch and batch."""

    def __init__(self, signum: str, epoch: int, batch: int):
        self.signum, self.epoch, self.batch = getattr(signal, signum), epoch, batch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            os.kill(os.getpid(), self.signum)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


class RunWhileTraining(L.Callback):
    """Once training starts (this run holding its directory), runs ``command`` — by default this process's own
    command line again, as a scheduler starting a job twice would — and writes to ``report`` (JSON) its exit
    status, its stderr and whether any file of the run directory changed meanwhile."""

    def __init__(self, report: str, command: list[str] | None = None):
        self.report, self.command = report, command

    def on_train_start(self, trainer, pl_module):
        run_dir = Path(trainer.default_root_dir)
        before = snapshot(run_dir)
        done = subprocess.run(self.command or [sys.executable, *sys.argv], capture_output=True, text=True)
        result = {"returncode": done.returncode, "stderr": done.stderr, "unchanged": snapshot(run_dir) == before}
        Path(self.report).write_text(json.dumps(result))
