"""Command-line entry points shared by ``train.py``/``evaluate.py`` and the ``zoo-train``/``zoo-evaluate`` scripts.

A mistake in what the user asked for ends in one line on stderr (``error: ...``) and a non-zero exit, never a
traceback; ``HYDRA_FULL_ERROR=1`` shows the traceback for debugging.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import os
import re
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.utils import get_args_parser
from hydra.conf import HydraConf
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override
from hydra.errors import HydraException, MissingConfigException
from hydra.types import RunMode
from lightning.fabric.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from zoo.weights import WeightsError

from . import run
from .data import DataConfigError
from .errors import ConfigError, TrainingDiverged
from .settings import check_evaluate_settings, check_train_settings

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
SETTINGS_CHECKS = {"train": check_train_settings, "evaluate": check_evaluate_settings}
MULTIRUN_FLAGS = ("-m", "--multirun")
BASIC_SWEEPER = f"{BasicSweeper.__module__}.{BasicSweeper.__name__}"
FAILED = "failed.txt"  # in a multirun job's directory: the one error line of a point that could not run
FAILED_POINTS = "failed_points.txt"  # in the sweep directory: this sweep's failed jobs, one directory name a line
# configs/launcher/<name>.yaml -> (Hydra plugin module, what to pip install)
LAUNCHER_PLUGINS = {
    "joblib_gpus": ("hydra_plugins.hydra_joblib_launcher", "hydra-joblib-launcher"),
    "joblib_cpu": ("hydra_plugins.hydra_joblib_launcher", "hydra-joblib-launcher"),
    "submitit_slurm": ("hydra_plugins.hydra_submitit_launcher", "hydra-submitit-launcher"),
}


def show_tracebacks() -> bool:
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def error_line(message: str) -> str:
    return f"error: {' '.join(message.split())}"


def user_message(err: BaseException) -> str:
    """The error's own message. One a DataLoader worker raised arrives inside the worker's traceback (torch raises
    it again as "Caught X in DataLoader worker process N. Original Traceback ... X: message"): that is cut away."""
    text, marker = str(err), f"{type(err).__name__}: "
    return text.rpartition(marker)[2].strip() if "Original Traceback" in text and marker in text else text


def fail(message: str) -> None:
    sys.exit(error_line(message))


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


def _compose(config_name: str, overrides: list[str], context: str = "") -> DictConfig:
    try:
        with initialize_config_dir(version_base="1.3", config_dir=CONFIG_DIR, job_name=config_name):
            return compose(config_name, overrides=overrides, return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as err:
        fail(context + describe_compose_error(err))
    except ValueError as err:  # Hydra's refusal of a group set to null (logger=null)
        fail(f"{context}{err}; to leave a config group out, write ~group (e.g. ~logger)")


def _parse(overrides: list[str]) -> list[Override]:
    try:
        return OverridesParser.create().parse_overrides(overrides)
    except HydraException as err:
        fail(describe_compose_error(err))


def _bounds_of_interval(override: Override) -> Override:
    """An interval (Optuna's ``interval(0.005, 0.5)``) is checked at its two ends: the basic sweeper cannot expand
    it, and any value between them has the type and range of the ends."""
    value = override.value()
    if not isinstance(value, IntervalSweep):
        return override
    return _parse([f"{override.get_key_element()}={value.start},{value.end}"])[0]


def sweep_points(cfg: DictConfig, parsed: list[Override]) -> list[list[str]]:
    """Each job's swept overrides, as Hydra's basic sweeper expands them: the config's ``hydra.sweeper.params``
    (``hparams_search=lr_wd``), then the command line's."""
    params = cfg.hydra.sweeper.get("params") or {}
    from_config = [f"{key}={value}" for key, value in params.items()]
    sweeps = [o for o in [*_parse(from_config), *parsed] if o.is_sweep_override()]
    intervals = [o.input_line for o in sweeps if isinstance(o.value(), IntervalSweep)]
    if intervals and cfg.hydra.sweeper._target_ == BASIC_SWEEPER:
        fail(
            f"{intervals[0]}: Hydra's grid sweeper takes lists of values, not an interval to sample; give values "
            "(a,b,c or range(...)), or sample with Optuna (hparams_search=optuna_lr_wd)"
        )
    batches = BasicSweeper.split_arguments([_bounds_of_interval(o) for o in sweeps], max_batch_size=None)
    return [point for batch in batches for point in batch]


def check_required_and_writable(cfg: DictConfig, run_dir: str) -> None:
    try:
        directory = Path(cfg.hydra[run_dir].dir)
    except OmegaConfBaseException as err:
        fail(describe_compose_error(err))
    if not writable_parent(directory):
        fail(f"cannot create the run directory {directory}: not a writable folder; set paths.log_dir=... to one")
    missing = [k for k in missing_keys(cfg) if not k.startswith("hydra.")]
    if missing:
        fail(f"{', '.join(missing)} must be set for this command: add {missing[0]}=...")


def preflight(config_name: str, argv: list[str]) -> Path | None:
    """Compose the config before Hydra does, so a bad override, a missing required value, an unusable run
    directory or a setting out of its range is one line before anything is written. A multirun sweep: every point
    is composed (a misspelt key or option is one line, not a failed sweep), while a value out of range fails only
    its own point when it runs. Returns the sweep's directory in a multirun. Hydra's other flags are Hydra's."""
    flags = [arg for arg in argv if arg.startswith("-")]
    if any(flag not in MULTIRUN_FLAGS for flag in flags):
        check_config_flags(argv)
        return None
    overrides = [arg for arg in argv if arg not in MULTIRUN_FLAGS]
    parsed = _parse(overrides)
    check_hydra_keys(parsed)
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    cfg = _compose(config_name, fixed)
    if flags or cfg.hydra.mode == RunMode.MULTIRUN:
        return preflight_sweep(config_name, cfg, fixed, parsed)
    if len(fixed) < len(overrides):
        _compose(config_name, overrides)  # Hydra's own line: a sweep needs --multirun
    check_required_and_writable(cfg, "run")
    try:
        SETTINGS_CHECKS[config_name](cfg)
    except USER_ERRORS as err:
        if show_tracebacks():
            raise
        fail(str(err))
    return None


def check_config_flags(argv: list[str]) -> None:
    """Hydra's ``--config-dir`` or ``--config-name`` naming a folder or a config that is not there: Hydra's own
    message is several lines, none an error line."""
    args = get_args_parser().parse_known_args(argv)[0]
    folders = [Path(CONFIG_DIR)]
    if args.config_dir:
        if not Path(args.config_dir).is_dir():
            fail(f"--config-dir={args.config_dir}: no such folder; give the folder that holds your own configs")
        folders.append(Path(args.config_dir))
    name = args.config_name
    if name and not any((folder / name).is_file() or (folder / f"{name}.yaml").is_file() for folder in folders):
        fail(f"--config-name={name}: no {name}.yaml in {' or '.join(map(str, folders))}; fix the name or drop it")


def check_hydra_keys(parsed: list[Override]) -> None:
    """``+hydra.<key>`` that Hydra's settings lack composes without a word: Hydra ignores it, or drops it
    (``+hydra.run.dirr=...`` leaves the run in the default folder)."""
    for override in parsed:
        key = override.key_or_group
        if not (override.is_add() or override.is_force_add()) or not key.startswith("hydra."):
            continue
        node: Any = HydraConf
        parts = key.split(".")
        for depth, part in enumerate(parts[1:], start=1):
            if not dataclasses.is_dataclass(node):
                break  # a free-form node (job_logging, launcher, sweeper): its keys are its plugin's
            fields = typing.get_type_hints(node)
            if part not in fields:
                close = [".".join([*parts[:depth], c]) for c in difflib.get_close_matches(part, fields, cutoff=0.6)]
                hint = f"did you mean {' or '.join(close)}? " if close else ""
                fail(f"{key} is not a Hydra setting; {hint}drop it or fix its name")
            node = fields[part]


def preflight_sweep(config_name: str, cfg: DictConfig, fixed: list[str], parsed: list[Override]) -> Path:
    points = sweep_points(cfg, parsed)
    if not points:
        fail("the sweep has no points: a swept key has no values (e.g. range(0,0)); give each at least one")
    refusals = [refusal(config_name, fixed, point) for point in points]
    if all(refusals):  # the points differ in values only: a value wrong for every point is the sweep's mistake
        fail(f"every point of the sweep: {refusals[0]}")
    return Path(cfg.hydra.sweep.dir)


def refusal(config_name: str, fixed: list[str], point: list[str]) -> str | None:
    """Why a sweep point cannot run, or None. A point that does not compose stops the sweep (Hydra would stop at
    it, with a long dump); a value out of range is the point's own."""
    cfg = _compose(config_name, [*fixed, *point], context=f"in the sweep point {' '.join(point)}: ")
    check_required_and_writable(cfg, "sweep")  # per point: a required value may be what the sweep varies
    try:
        SETTINGS_CHECKS[config_name](cfg)
    except (ConfigError, DataConfigError) as err:
        return str(err)
    except OmegaConfBaseException:
        pass  # a value that resolves only inside the job (launcher=joblib_gpus' devices): checked there
    return None


def multirun_job_dir() -> Path | None:
    """This multirun job's own directory; None outside a Hydra multirun (a single run, a test calling the task)."""
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    return Path(HydraConfig.get().runtime.output_dir)


def refuse(message: str) -> None:
    """One ``error:`` line. A multirun point that cannot run writes it to its ``failed.txt`` and returns, so the
    sweep's other points still run; the sweep then exits non-zero (``report_failed_points``)."""
    line = error_line(message)
    job_dir = multirun_job_dir()
    if job_dir is None:
        sys.exit(line)
    (job_dir / FAILED).write_text(line + "\n")
    with open(job_dir.parent / FAILED_POINTS, "a") as points:  # one short append per job: safe across processes
        points.write(f"{job_dir.name}\n")
    print(line, file=sys.stderr)


def run_reporting_user_errors(task: Callable[[DictConfig], Any], cfg: DictConfig) -> Any:
    """Run a task; a mistake in what the user asked for, or a full or read-only disk, ends in one line."""
    job_dir = multirun_job_dir()
    if job_dir is not None:
        (job_dir / FAILED).unlink(missing_ok=True)  # from an earlier sweep: this point runs again
    try:
        return task(cfg)
    except USER_ERRORS as err:
        if show_tracebacks():
            raise
        refuse(user_message(err))
    except OSError as err:  # disk full, permission denied, read-only file system: nothing to debug in our code
        if show_tracebacks():
            raise
        refuse(
            f"could not read or write {err.filename or 'a file'}: {err.strerror or err}; free space or choose "
            "another folder (paths.log_dir=...)"
        )


def report_failed_points(sweep_dir: Path) -> None:
    failed_list = sweep_dir / FAILED_POINTS
    failed = failed_list.read_text().split() if failed_list.is_file() else []
    if failed:
        fail(
            f"{len(failed)} point(s) of the sweep could not run ({', '.join(failed)}): each one's {FAILED} in "
            f"{sweep_dir} says why; the other points ran"
        )


def main(config_name: str, task: Callable[[DictConfig], Any]) -> Any:
    """The one entry point of ``train.py``, ``evaluate.py`` and the console scripts."""
    argv = sys.argv[1:]
    sys.stdout.reconfigure(errors="backslashreplace")  # a file name that is not UTF-8 is printed escaped, not a crash
    require_launcher_plugins(argv)
    sweep_dir = preflight(config_name, argv)
    if sweep_dir is not None:
        (sweep_dir / FAILED_POINTS).unlink(missing_ok=True)  # an earlier sweep's; this one's jobs append theirs

    @hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name=config_name)
    def entry(cfg: DictConfig) -> Any:
        result = run_reporting_user_errors(task, cfg)
        return result.get("val/acc") if config_name == "train" and result else None  # what sweepers optimise

    result = entry()
    if sweep_dir is not None:
        report_failed_points(sweep_dir)
    return result


def train_main() -> Any:
    return main("train", run.train)


def evaluate_main() -> Any:
    return main("evaluate", run.evaluate)
