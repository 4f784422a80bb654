"""Hydra callbacks (``configs/hydra/default.yaml: callbacks``).

``ClaimRunDirectory``: Hydra writes ``.hydra/`` and ``<task>.log`` into the run directory before the task runs, so
``train``'s own claim would come after another process's files were already mixed into a busy or foreign run
directory. This claims it first (``zootrain.resume.RunDirectory``: the lock, then for train.py what the folder may
hold, for evaluate.py that it holds no training run) and holds it until the job ends. A single run is claimed in
``on_run_start``, before Hydra creates anything; a multirun job in ``on_job_start``, the first hook that knows its
directory (Hydra has written that job's ``.hydra/`` by then).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict

from .cli import run_reporting_user_errors
from .resume import RunDirectory


def _task_settings(config: DictConfig, run_dir: Path) -> DictConfig:
    """The task's config as ``train`` will see it (no Hydra node; the run directory resolved)."""
    task = copy.deepcopy(config)
    with open_dict(task):
        del task["hydra"]
        task.paths.output_dir = str(run_dir)
    return task


class ClaimRunDirectory(Callback):
    def __init__(self) -> None:
        self._claims: list[RunDirectory] = []

    def _claim(self, config: DictConfig, run_dir: Path) -> None:
        run_reporting_user_errors(lambda cfg: self._claim_or_refuse(cfg, run_dir), config)  # one line, not a trace

    def _claim_or_refuse(self, config: DictConfig, run_dir: Path) -> None:
        claim = RunDirectory(run_dir)
        claim.__enter__()
        self._claims.append(claim)
        if config.hydra.job.config_name == "train":  # the script, whatever the run's task_name
            claim.check_can_hold(_task_settings(config, run_dir))
        else:
            claim.check_can_hold_evaluation()

    def _release(self) -> None:
        if self._claims:
            self._claims.pop().__exit__(None, None, None)

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._claim(config, Path(config.hydra.run.dir))  # resolved once: Hydra's job reuses the cached value

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._release()

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.mode.name == "MULTIRUN":
            self._claim(config, Path(config.hydra.runtime.output_dir))

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if config.hydra.mode.name == "MULTIRUN":
            self._release()
