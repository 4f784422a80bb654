"""Faults triggered from inside a run (never by timers): importable by subprocesses through PYTHONPATH=tests."""
from __future__ import annotations

import os
import signal

import lightning as L


class KillAt(L.Callback):
    """``kill -9`` of the training process itself at a given epoch and batch."""

    def __init__(self, epoch: int, batch: int):
        self.epoch, self.batch = epoch, batch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            os.kill(os.getpid(), signal.SIGKILL)
