"""Command-line entry points shared by ``train.py``/``evaluate.py`` and the ``zoo-train``/``zoo-evaluate`` scripts.

A mistake in what the user asked for ends in one line on stderr (``error: ...``) and a non-zero exit, never a
traceback; ``HYDRA_FULL_ERROR=1`` shows the traceback for debugging.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import difflib
import importlib.util
import os
import re
import sys
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.hydra import Hydra
from hydra._internal.utils import create_config_search_path, get_args_parser
from hydra.conf import HydraConf
from hydra.core.config_search_path import SearchPathQuery
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override
from hydra.errors import HydraException, MissingConfigException
from hydra.types import RunMode
from lightning.fabric.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException
from yaml import MarkedYAMLError

from zoo.weights import WeightsError

from . import run
from .data import DataConfigError
from .errors import ConfigError, TrainingDiverged
from .resume import CONFIG_FILE, FINISHED_FILE, LAST_CHECKPOINT
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
# what a ~key may leave out: the callbacks and loggers train.py builds (any number, none included); everything else the
# tasks read, and a group no experiment/debug/... config was chosen for is not there to remove
REMOVABLE = ("callbacks", "logger", "experiment", "debug", "hparams_search", "launcher")
# Hydra's flags that print or complete instead of running: nothing to compose
NOT_RUNNING = ("cfg", "info", "help", "hydra_help", "shell_completion", "config_path", "experimental_rerun")
SWEEP_ONLY = ("hydra.sweep.", "hydra.sweeper.")  # read by a multirun only; a single run would ignore them
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


@dataclasses.dataclass(frozen=True)
class Command:
    """What the command line composes: the script (train/evaluate), its primary config (``--config-name``) and
    the user's config folder (``--config-dir``)."""

    script: str
    config_name: str
    config_dir: str | None = None


@contextmanager
def _search_path(command: Command) -> Iterator[None]:
    """Hydra's search path as its command line builds it: ``--config-dir`` before the project's configs."""
    with initialize_config_dir(version_base="1.3", config_dir=CONFIG_DIR, job_name=command.script):
        if command.config_dir is not None:
            search_path = create_config_search_path(CONFIG_DIR)
            search_path.prepend(
                "command-line", f"file://{os.path.abspath(command.config_dir)}", SearchPathQuery("schema")
            )
            GlobalHydra.instance().clear()  # initialize_config_dir restores what was there before on leaving
            Hydra.create_main_hydra2(task_name=command.script, config_search_path=search_path)
        yield


def yaml_problem(err: MarkedYAMLError) -> str:
    mark = err.problem_mark
    where = f"{mark.name}, line {mark.line + 1}, column {mark.column + 1}" if mark else "a config file"
    return f"{where}: not valid YAML ({err.problem or err.context}); fix that file"


def _compose(command: Command, overrides: list[str], context: str = "") -> DictConfig:
    try:
        with _search_path(command):
            return compose(command.config_name, overrides=overrides, return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as err:
        if isinstance(err.__cause__, MarkedYAMLError):
            fail(context + yaml_problem(err.__cause__))
        fail(context + describe_compose_error(err))
    except MarkedYAMLError as err:
        fail(context + yaml_problem(err))
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
    args, unknown = get_args_parser().parse_known_args(argv)
    command = check_config_flags(config_name, args)
    parsed = _parse(args.overrides)
    check_given_once(command, parsed)
    check_removals(command, parsed)
    check_hydra_keys(parsed)
    if unknown or any(getattr(args, flag) for flag in NOT_RUNNING):
        return None
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    cfg = _compose(command, fixed)
    multirun = args.multirun or cfg.hydra.mode == RunMode.MULTIRUN
    check_mode_settings(parsed, multirun)
    if multirun:
        return preflight_sweep(command, cfg, fixed, parsed)
    if len(fixed) < len(parsed):
        _compose(command, args.overrides)  # Hydra's own line: a sweep needs --multirun
    check_required_and_writable(cfg, "run")
    try:
        SETTINGS_CHECKS[config_name](cfg)
    except USER_ERRORS as err:
        if show_tracebacks():
            raise
        fail(str(err))
    return None


def check_config_flags(config_name: str, args: argparse.Namespace) -> Command:
    """Hydra's ``--config-dir`` or ``--config-name`` naming a folder or a config that is not there: Hydra's own
    message is several lines, none an error line."""
    folders = [Path(CONFIG_DIR)]
    if args.config_dir:
        if not Path(args.config_dir).is_dir():
            fail(f"--config-dir={args.config_dir}: no such folder; give the folder that holds your own configs")
        folders.append(Path(args.config_dir))
    name = args.config_name
    if name and not any((folder / name).is_file() or (folder / f"{name}.yaml").is_file() for folder in folders):
        fail(f"--config-name={name}: no {name}.yaml in {' or '.join(map(str, folders))}; fix the name or drop it")
    return Command(config_name, name or config_name, args.config_dir)


def check_given_once(command: Command, parsed: list[Override]) -> None:
    """Hydra applies overrides in turn, so the last value of a key wins: what appending overrides to a command relies
    on (a script shortening a run), said in a notice. Two options of one config group, or a sweep and a value of one
    key, contradict each other: refused."""
    first: dict[str, Override] = {}
    for override in parsed:
        key = override.get_key_element().lstrip("+~")
        earlier = first.get(key)
        first[key] = override
        if earlier is None:
            continue
        both = f"{earlier.input_line} and {override.input_line}"
        if _is_group(command, key) or earlier.is_sweep_override() or override.is_sweep_override():
            fail(
                f"{key} is given twice ({both}): give it once, with the value you mean (a sweep over several: "
                "-m key=a,b)"
            )
        print(f"notice: {key} is given twice ({both}); the last, {override.input_line}, is used", file=sys.stderr)


def _is_group(command: Command, key: str) -> bool:
    """Whether ``key`` names a config group (a folder of options) of the project's configs or ``--config-dir``."""
    folders = [CONFIG_DIR, *([command.config_dir] if command.config_dir else [])]
    return any(Path(folder, *key.split(".")).is_dir() for folder in folders)


def check_removals(command: Command, parsed: list[Override]) -> None:
    """``~key`` of a setting the task reads leaves a run that fails on it later (``Key 'trainer' is not in
    struct``), possibly after Hydra has written its files."""
    for override in parsed:
        key = override.key_or_group
        if not override.is_delete() or key.startswith("hydra.") or key.split(".")[0] in REMOVABLE:
            continue
        group = _is_group(command, key)
        instead = f"choose another {key}=<option> or set its keys ({key}.<key>=...)" if group else f"set {key}=..."
        fail(
            f"~{key}: {command.script}.py cannot leave out {key}, it needs it; {instead} instead (only callbacks and "
            "loggers can be left out: ~callbacks.<name>, ~logger.<name>)"
        )


def check_mode_settings(parsed: list[Override], multirun: bool) -> None:
    """Hydra reads hydra.run.* in a single run and hydra.sweep.* in a multirun only: the other is ignored."""
    for override in parsed:
        key = override.key_or_group
        if multirun and key.startswith("hydra.run."):
            fail(
                f"{override.input_line}: a sweep (-m) writes to hydra.sweep.dir, not hydra.run.dir; name its folder "
                "with sweep_name=... or hydra.sweep.dir=..., or drop -m for a single run"
            )
        if not multirun and key.startswith(SWEEP_ONLY):
            fail(
                f"{override.input_line}: only a sweep (-m) reads {key}, a single run would ignore it; add -m, or "
                "name a single run's folder with hydra.run.dir=..."
            )


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


def preflight_sweep(command: Command, cfg: DictConfig, fixed: list[str], parsed: list[Override]) -> Path:
    points = sweep_points(cfg, parsed)
    if not points:
        fail("the sweep has no points: a swept key has no values (e.g. range(0,0)); give each at least one")
    sweep_dir = Path(cfg.hydra.sweep.dir)
    check_sweep_dir_holds_no_run(sweep_dir)
    check_sweep_dir_is_this_sweeps(sweep_dir, cfg, [o.input_line for o in parsed])
    configs = [_compose(command, [*fixed, *p], context=f"in the sweep point {' '.join(p)}: ") for p in points]
    check_points_have_their_own_folders(points, configs)
    refusals = [refusal(command.script, point_cfg) for point_cfg in configs]
    if all(refusals):  # the points differ in values only: a value wrong for every point is the sweep's mistake
        fail(f"every point of the sweep: {refusals[0]}")
    return sweep_dir


def check_sweep_dir_holds_no_run(sweep_dir: Path) -> None:
    """A sweep's jobs would run inside a run's folder (or one inside it), and its summary would list that run."""
    checkpoints = str(Path(LAST_CHECKPOINT).parent)
    for folder in (sweep_dir, *sweep_dir.resolve().parents):
        found = [name for name in (CONFIG_FILE, FINISHED_FILE, checkpoints) if (folder / name).exists()]
        if found if folder == sweep_dir else {CONFIG_FILE, checkpoints} <= set(found):  # above it: a training run
            fail(
                f"hydra.sweep.dir={sweep_dir} is {'inside' if folder != sweep_dir else 'the folder of'} a run "
                f"({', '.join(found)} in {folder}); nothing was changed there. Give the sweep a folder of "
                "its own: another sweep_name=... or hydra.sweep.dir=..."
            )


def sweep_settings(cfg: DictConfig, given: list[str]) -> list[str]:
    """What makes a sweep the same sweep again: its primary config, the sweeper's parameters and the command
    line's overrides, less those that change neither a point's result nor its folder (the job-name exclusions)."""
    excluded = (*cfg.hydra.job.config.override_dirname.exclude_keys, "hydra.sweep.dir", "hydra.mode")
    kept = [line for line in given if line.lstrip("+~").partition("=")[0] not in excluded]
    params = OmegaConf.to_container(cfg.hydra.sweeper, resolve=False).get("params") or {}
    return sorted(kept) + [f"--config-name={cfg.hydra.job.config_name}"] + [f"{k}={v}" for k, v in params.items()]


def check_sweep_dir_is_this_sweeps(sweep_dir: Path, cfg: DictConfig, given: list[str]) -> None:
    """One folder, one sweep: another sweep's points would join this one's in the summary and its best. The same
    sweep again finds its finished points there and resumes the others."""
    earlier_file = sweep_dir / "multirun.yaml"  # Hydra's record of the sweep that wrote the folder
    if not earlier_file.is_file():
        return
    try:
        record = OmegaConf.load(earlier_file)
        earlier = sweep_settings(record, [*record.hydra.overrides.hydra, *record.hydra.overrides.task])
    except (OmegaConfBaseException, MarkedYAMLError) as err:
        fail(f"{earlier_file} is not a sweep's record ({err}); delete it or give the sweep another folder")
    now = sweep_settings(cfg, given)
    if earlier != now:
        then_only = [s for s in earlier if s not in now] or ["none"]
        now_only = [s for s in now if s not in earlier] or ["none"]
        fail(
            f"{sweep_dir} holds an earlier sweep with other settings (that one: {' '.join(then_only)}; this one: "
            f"{' '.join(now_only)}); nothing was changed there. Give this sweep its own folder (another "
            "sweep_name=... or hydra.sweep.dir=...) or delete that one; the same sweep again resumes it"
        )


def job_folder(cfg: DictConfig, num: int) -> str:
    """Where a launcher puts job ``num``: it sets ``hydra.job.num``/``id``, then resolves the sweep's subdir."""
    job = copy.deepcopy(cfg)
    with open_dict(job):
        job.hydra.job.num, job.hydra.job.id = num, str(num)
    holder = HydraConfig.instance()
    before = holder.cfg
    try:
        holder.set_config(job)  # a subdir may read ${hydra:job.num}
        return os.path.normpath(Path(job.hydra.sweep.dir) / str(job.hydra.sweep.subdir))
    except OmegaConfBaseException as err:
        fail(f"hydra.sweep.subdir: {describe_compose_error(err)}")
    finally:
        holder.cfg = before  # a test's later task must not find itself inside this job


def check_points_have_their_own_folders(points: list[list[str]], configs: list[DictConfig]) -> None:
    """Two points in one folder: the second is refused there (or resumes the first) and the summary shows one
    point's result under the other's settings."""
    seen: dict[str, list[str]] = {}
    for num, (point, point_cfg) in enumerate(zip(points, configs, strict=True)):
        folder = job_folder(point_cfg, num)
        if folder in seen:
            subdir = OmegaConf.to_container(point_cfg.hydra.sweep, resolve=False)["subdir"]
            fail(
                f"the sweep points {' '.join(seen[folder])} and {' '.join(point)} would both write to {folder} "
                f"(hydra.sweep.subdir={subdir}): each point needs its own folder; drop hydra.sweep.subdir, or name "
                "${hydra.job.num} or ${hydra.job.override_dirname} in it"
            )
        seen[folder] = point


def refusal(script: str, cfg: DictConfig) -> str | None:
    """Why a composed sweep point cannot run, or None. A point that does not compose stops the sweep (Hydra would
    stop at it, with a long dump); a value out of range is the point's own."""
    check_required_and_writable(cfg, "sweep")  # per point: a required value may be what the sweep varies
    try:
        SETTINGS_CHECKS[script](cfg)
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
