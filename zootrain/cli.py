"""Command-line entry points shared by ``train.py``/``evaluate.py`` and the ``zoo-train``/``zoo-evaluate`` scripts.

A mistake in what the user asked for ends in one line on stderr (``error: ...``) and a non-zero exit, never a
traceback; ``HYDRA_FULL_ERROR=1`` shows the traceback for debugging.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException, MissingConfigException
from hydra.types import RunMode
from lightning.fabric.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from zoo.weights import WeightsError

from . import run
from .data import DataConfigError
from .errors import ConfigError, TrainingDiverged

# configs/ beside the package in a checkout (editable install); packaged as zootrain/configs in a wheel
_PACKAGED_CONFIGS = Path(__file__).resolve().parent / "configs"
CONFIG_DIR = str(_PACKAGED_CONFIGS if _PACKAGED_CONFIGS.is_dir() else _PACKAGED_CONFIGS.parent.parent / "configs")
USER_ERRORS = (
    ConfigError,
    DataConfigError,
    WeightsError,
    MisconfigurationException,
    TrainingDiverged,
    OmegaConfBaseException,
)
# configs/launcher/<name>.yaml -> (Hydra plugin module, what to pip install)
LAUNCHER_PLUGINS = {
    "joblib_gpus": ("hydra_plugins.hydra_joblib_launcher", "hydra-joblib-launcher"),
    "joblib_cpu": ("hydra_plugins.hydra_joblib_launcher", "hydra-joblib-launcher"),
    "submitit_slurm": ("hydra_plugins.hydra_submitit_launcher", "hydra-submitit-launcher"),
}


def show_tracebacks() -> bool:
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def fail(message: str) -> None:
    sys.exit(f"error: {' '.join(message.split())}")


def require_launcher_plugins(argv: list[str]) -> None:
    """Hydra only says a launcher config is missing; say which package to install instead."""
    for arg in argv:
        key, _, value = arg.partition("=")
        if key.lstrip("+~") == "launcher" and value in LAUNCHER_PLUGINS:
            module, package = LAUNCHER_PLUGINS[value]
            if importlib.util.find_spec(module) is None:
                fail(
                    f"launcher={value} needs the Hydra plugin {package}: "
                    f'pip install {package}   (or pip install -e ".[sweep]")'
                )


def describe_compose_error(err: Exception) -> str:
    """One line from Hydra's and OmegaConf's several-line messages, with the close matches of a missing option."""
    if isinstance(err, MissingConfigException) and err.options:
        wanted = re.search(r"Could not find '([^']+)'", str(err))
        asked = wanted.group(1).rsplit("/", 1)[-1] if wanted else ""
        close = difflib.get_close_matches(asked, err.options, n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        return f"{str(err).splitlines()[0]}; {hint}choose one of {', '.join(sorted(err.options))}"
    parts = [str(err).strip()]
    if err.__cause__ is not None:
        parts.append(str(err.__cause__).strip().splitlines()[0])
    return ": ".join(p.replace("\n", " ") for p in parts if p)


def writable_parent(path: Path) -> bool:
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    return existing is not None and existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)


def missing_keys(node: DictConfig, prefix: str = "") -> list[str]:
    """Keys still ``???``, found without resolving interpolations (Hydra's runtime values do not exist yet)."""
    found = []
    for key in node:
        if OmegaConf.is_missing(node, key):
            found.append(f"{prefix}{key}")
        elif not OmegaConf.is_interpolation(node, key) and isinstance(node._get_node(key), DictConfig):
            found += missing_keys(node._get_node(key), f"{prefix}{key}.")
    return found


def preflight(config_name: str, argv: list[str]) -> None:
    """Compose the config once before Hydra does, so a bad override, a missing required value or an unusable run
    directory is reported in one line before anything starts. Multirun sweeps and Hydra's own flags are left to
    Hydra."""
    if any(arg.startswith("-") for arg in argv):
        return
    try:
        with initialize_config_dir(version_base="1.3", config_dir=CONFIG_DIR, job_name=config_name):
            cfg = compose(config_name, overrides=argv, return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as err:
        fail(describe_compose_error(err))
    if cfg.hydra.mode == RunMode.MULTIRUN:
        return
    try:
        run_dir = Path(cfg.hydra.run.dir)
    except OmegaConfBaseException as err:
        fail(describe_compose_error(err))
    if not writable_parent(run_dir):
        fail(f"cannot create the run directory {run_dir}: not a writable folder; set paths.log_dir=... to one")
    missing = [k for k in missing_keys(cfg) if not k.startswith("hydra.")]
    if missing:
        fail(f"{', '.join(missing)} must be set for this command: add {missing[0]}=...")


def run_reporting_user_errors(task: Callable[[DictConfig], Any], cfg: DictConfig) -> Any:
    """Run a task; a mistake in what the user asked for, or a full or read-only disk, ends in one line."""
    try:
        return task(cfg)
    except USER_ERRORS as err:
        if show_tracebacks():
            raise
        fail(str(err))
    except OSError as err:  # disk full, permission denied, read-only file system: nothing to debug in our code
        if show_tracebacks():
            raise
        fail(
            f"could not read or write {err.filename or 'a file'}: {err.strerror or err}; free space or choose "
            "another folder (paths.log_dir=...)"
        )


def main(config_name: str, task: Callable[[DictConfig], Any]) -> Any:
    """The one entry point of ``train.py``, ``evaluate.py`` and the console scripts."""
    argv = sys.argv[1:]
    require_launcher_plugins(argv)
    preflight(config_name, argv)

    @hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name=config_name)
    def entry(cfg: DictConfig) -> Any:
        result = run_reporting_user_errors(task, cfg)
        return result.get("val/acc") if config_name == "train" else None  # the objective Hydra sweepers optimise

    return entry()


def train_main() -> Any:
    return main("train", run.train)


def evaluate_main() -> Any:
    return main("evaluate", run.evaluate)
