"""Command-line entry points shared by ``train.py``/``evaluate.py`` and the ``zoo-train``/``zoo-evaluate`` scripts."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable

import hydra
from lightning.fabric.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig

from zoo.weights import WeightsError

from . import resolvers  # noqa: F401  (used by configs/launcher)
from .data import DataConfigError
from .errors import ConfigError

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "configs")
USER_ERRORS = (ConfigError, DataConfigError, WeightsError, MisconfigurationException)
# configs/launcher/<name>.yaml -> (Hydra plugin module, what to pip install)
LAUNCHER_PLUGINS = {
    "joblib_gpus": ("hydra_plugins.hydra_joblib_launcher", "hydra-joblib-launcher"),
    "joblib_cpu": ("hydra_plugins.hydra_joblib_launcher", "hydra-joblib-launcher"),
    "submitit_slurm": ("hydra_plugins.hydra_submitit_launcher", "hydra-submitit-launcher"),
}


def require_launcher_plugins(argv: list[str]) -> None:
    """Hydra only says a launcher config is missing; say which package to install instead."""
    for arg in argv:
        key, _, value = arg.partition("=")
        if key.lstrip("+~") == "launcher" and value in LAUNCHER_PLUGINS:
            module, package = LAUNCHER_PLUGINS[value]
            if importlib.util.find_spec(module) is None:
                sys.exit(f"error: launcher={value} needs the Hydra plugin {package}: "
                         f"pip install {package}   (or pip install -e \".[sweep]\")")


def run_reporting_user_errors(task: Callable[[DictConfig], Any], cfg: DictConfig) -> Any:
    """Run a task; a mistake in what the user asked for ends in one line on stderr, not a traceback."""
    try:
        return task(cfg)
    except USER_ERRORS as err:
        sys.exit(f"error: {err}")


def _main(config_name: str, task_name: str) -> None:
    from . import run

    @hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name=config_name)
    def entry(cfg: DictConfig) -> None:
        run_reporting_user_errors(getattr(run, task_name), cfg)

    entry()


def train_main() -> None:
    require_launcher_plugins(sys.argv[1:])
    _main("train", "train")


def evaluate_main() -> None:
    _main("evaluate", "evaluate")
