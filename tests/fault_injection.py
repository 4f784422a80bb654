"""Faults triggered from inside a run (never by timers): importable by subprocesses through PYTHONPATH=tests."""

from __future__ import annotations

import os
import signal

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
