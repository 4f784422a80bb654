"""Every setting's type and range, read in one place: ``check_config(cfg)`` checks each value of a composed config
before anything is written, so a wrong one is one line naming the key, its value and what it may be.

A setting accepts one or more ``Kind``s (``trainer.limit_val_batches``: a whole number >= 0, a share in [0, 1] or
null). Where code already declares a group's settings, the keys and types are read from that code, so the schema
follows it: Lightning's ``Trainer`` signature, the signature of each allow-listed optimizer and schedule
(``zootrain.optim``), the zoo factories' signatures (``zoo.registry.model_arguments``), ``FinetuneSpec`` and the
datamodule's ``DatasetConfig``. ``RANGES`` adds what no signature spells: the range of a number, the choices of a
text, the kinds of a top-level key. A key no source declares is refused with the close matches.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
import importlib.util
import inspect
import math
import re
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any, Literal, Union

import lightning as L
from lightning.pytorch.loggers import Logger
from lightning.pytorch.strategies import StrategyRegistry
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from zoo import list_models
from zoo.registry import model_arguments

from .data import DATASETS, DatasetConfig
from .errors import ConfigError
from .finetune import BN_POLICIES, STRATEGIES, FinetuneSpec
from .optim import OPTIMIZERS, SCHEDULERS, allowed_target

MAX_EPOCHS = 10_000  # per-step schedules (warm-up, cosine) spread over the whole run: an absurd length flattens them
MAX_IMAGE_SIDE = 4096  # 14x the largest input a zoo model was designed for (Inception's 299 px)
MAX_SEED = 2**32 - 1  # Lightning's seed_everything replaces a seed outside [0, 2**32) by 0, with a warning only


@dataclass(frozen=True)
class Kind:
    """One shape a value may take: a type and, for numbers, a range; for texts, the choices; for lists, their
    items' kind."""

    type: type | None  # None: one of ``choices``
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple = ()
    item: Kind | None = None  # a list's items
    length: int | None = None  # a list's length, where it has one
    pattern: str | None = None  # a text's form, as a regular expression ...
    form: str = ""  # ... and in words (NAME, DURATION)
    why: str = ""  # the reason for a narrow kind, said in the refusal

    def admits(self, value: Any) -> bool:
        if self.type is None:
            return any(type(value) is type(c) and value == c for c in self.choices)
        if self.type is list:
            if not isinstance(value, list) or self.length not in (None, len(value)):
                return False
            return self.item is None or all(map(self.item.admits, value))
        if self.type is dict:
            return isinstance(value, dict)
        if self.type in (int, float):
            number = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
            return number and (self.type is float or isinstance(value, int)) and self._in_range(value)
        if self.pattern is not None:
            return isinstance(value, str) and re.fullmatch(self.pattern, value) is not None
        return isinstance(value, self.type)

    def _in_range(self, value: float) -> bool:
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def describe(self, plural: bool = False) -> str:
        if self.type is None:
            return _either([str(c) for c in self.choices])
        if self.type is list:
            items = [str(self.length)] * bool(self.length) + [self.item.describe(plural=True)] * bool(self.item)
            return " ".join(["a list", *(["of", *items] if items else [])])
        if self.pattern is not None:
            return self.form
        what = {int: "whole number", float: "number", bool: "true or false", str: "text", dict: "mapping"}
        name = what.get(self.type, "null")
        if self.type in (int, float, str, dict):
            name = f"{name}s" if plural else f"a {name}"
        return name + self._range_text()

    def _range_text(self) -> str:
        low, high = _shown(self.low), _shown(self.high)
        if self.low is not None and self.high is not None:
            return f" in {'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f" {'>' if self.low_open else '>='} {low}"
        if self.high is not None:
            return f" {'<' if self.high_open else '<='} {high}"
        return ""


def _shown(bound: float | None) -> str:
    return str(bound) if isinstance(bound, (int, type(None))) else f"{bound:g}"


def _either(names: list[str]) -> str:
    return " or ".join(names) if len(names) <= 2 else f"one of {', '.join(names)}"


def whole(low: int | None = None, high: int | None = None) -> Kind:
    return Kind(int, low, high)


def number(low: float | None = None, high: float | None = None, low_open=False, high_open=False) -> Kind:
    return Kind(float, low, high, low_open, high_open)


def choice(*names: Any, why: str = "") -> Kind:
    return Kind(None, choices=names, why=why)


def list_of(item: Kind, length: int | None = None) -> Kind:
    return Kind(list, item=item, length=length)


NULL, BOOL, TEXT, MAPPING = Kind(type(None)), Kind(bool), Kind(str), Kind(dict)
# a name that becomes part of a path (task_name: the run's folder and log file; sweep_name: the sweep's folder)
NAME = Kind(str, pattern=r"[\w-][\w.-]*", form="a name of letters, digits, _, - and . (no /, not starting with .)")
DURATION = Kind(str, pattern=r"\d+:\d\d:\d\d:\d\d", form="a duration DD:HH:MM:SS")  # Lightning's text for a time
SHARE = number(0, 1)
POSITIVE = number(0, low_open=True)
PROBABILITY_BELOW_ONE = number(0, 1, high_open=True)
# what zootrain.module logs each epoch, so what a checkpoint or early stopping can watch
MONITORED = ("val/acc", "val/top5", "val/loss", "train/acc", "train/loss_epoch")
BATCH_LIMIT = (whole(0), SHARE, NULL)  # Lightning's limit_*_batches: a number of batches or a share of them


def kinds_of(annotation: Any) -> tuple[Kind, ...]:
    """The kinds a config value of this annotation may take; () for types no config value can be (a Tensor, a
    Callback), so a union keeps only its plain members."""
    if isinstance(annotation, str):  # a postponed annotation of a plain type
        annotation = {"bool": bool, "int": int, "float": float, "str": str}.get(annotation, annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        return tuple(kind for arg in args for kind in kinds_of(arg))
    if origin is Literal:
        return (choice(*args),)
    if origin in (list, tuple, Sequence) and args:
        items = kinds_of(args[0])
        return (list_of(items[0]) if len(items) == 1 else Kind(list),)
    plain = {bool: BOOL, int: whole(), float: number(), str: TEXT, type(None): NULL}
    return (plain[annotation],) if annotation in plain else ()


# Lightning's precisions, but those of a package this install lacks (NVIDIA's Transformer Engine)
RUNNABLE_PRECISIONS = tuple(
    name
    for kind in kinds_of(typing.get_type_hints(L.Trainer.__init__)["precision"])
    for name in kind.choices
    if not str(name).startswith("transformer-engine") or importlib.util.find_spec("transformer_engine")
)

# Lightning's profilers, but XLA's where torch_xla is not installed (it fails half-built, with a traceback at exit)
RUNNABLE_PROFILERS = ("simple", "advanced", "pytorch", *(["xla"] if importlib.util.find_spec("torch_xla") else []))

# What no signature spells. Top-level keys of train.yaml and evaluate.yaml, then ranges within the groups.
RANGES: dict[str, tuple[Kind, ...]] = {
    "task_name": (NAME,),
    "seed": (whole(0, MAX_SEED),),
    "deterministic": (BOOL, choice("warn")),
    "ckpt_path": (TEXT, NULL),
    "sweep_name": (NAME,),
    "auto_resume": (BOOL,),
    "label_smoothing": (PROBABILITY_BELOW_ONE,),
    "compile": (BOOL,),
    "channels_last": (choice("auto"), BOOL),
    "tune": (choice("lr_find"), NULL),
    "tune_steps": (whole(2),),
    "threads": (whole(1), choice("auto"), NULL),
    "split": (choice("test", "val"),),
    "images": (TEXT, list_of(TEXT), NULL),
    "top_k": (whole(1),),
    "visualize": (choice("feature_maps", "gradcam"), list_of(choice("feature_maps", "gradcam")), NULL),
    "target_class": (whole(0), TEXT, NULL),
    "misclassified": (whole(0),),
    "tta": (choice("flip", "flip_crops"), NULL),
    "pretrained": (BOOL, TEXT, NULL),
    # callbacks (the keys and the other types: each callback class's signature; the names of configs/callbacks/)
    "callbacks.ema.decay": (PROBABILITY_BELOW_ONE,),
    "callbacks.ema.update_every_n_steps": (whole(1),),
    "callbacks.ema.update_starting_at_step": (whole(0), NULL),
    "callbacks.ema.update_starting_at_epoch": (whole(0), NULL),
    "callbacks.early_stopping.monitor": (choice(*MONITORED),),
    "callbacks.early_stopping.mode": (choice("min", "max"),),
    "callbacks.early_stopping.patience": (whole(0),),
    "callbacks.early_stopping.min_delta": (number(0),),
    "callbacks.best_checkpoint.monitor": (choice(*MONITORED),),
    "callbacks.best_checkpoint.mode": (choice("min", "max"),),
    "callbacks.best_checkpoint.save_top_k": (whole(-1),),
    "callbacks.last_checkpoint.save_top_k": (whole(-1),),
    "callbacks.progress_bar.refresh_rate": (whole(0),),
    # trainer (the keys and the other types: Lightning's Trainer signature)
    "trainer._target_": (choice("lightning.Trainer", "lightning.pytorch.Trainer"),),
    "trainer.accelerator": (choice("auto", "cpu", "gpu", "cuda", "mps", "tpu"),),
    "trainer.strategy": (choice("auto", *StrategyRegistry.available_strategies()), MAPPING),
    "trainer.profiler": (choice(*RUNNABLE_PROFILERS), NULL),
    "trainer.devices": (whole(1), choice(-1), list_of(whole(0)), TEXT),  # a text: "auto", "0,1"
    "trainer.num_nodes": (whole(1),),
    "trainer.precision": (choice("auto", *RUNNABLE_PRECISIONS), NULL),
    "trainer.benchmark": (choice("auto"), BOOL, NULL),
    "trainer.max_epochs": (whole(1, MAX_EPOCHS),),
    "trainer.min_epochs": (whole(0), NULL),
    "trainer.max_steps": (choice(-1), whole(1)),
    "trainer.min_steps": (whole(0), NULL),
    "trainer.log_every_n_steps": (whole(1), NULL),
    "trainer.check_val_every_n_epoch": (whole(1), NULL),
    "trainer.val_check_interval": (whole(1), number(0, 1, low_open=True), DURATION, NULL),
    "trainer.max_time": (DURATION, MAPPING, NULL),
    "trainer.gradient_clip_val": (number(0), NULL),
    "trainer.gradient_clip_algorithm": (choice("norm", "value"), NULL),
    "trainer.accumulate_grad_batches": (whole(1),),
    "trainer.num_sanity_val_steps": (whole(-1), NULL),
    "trainer.fast_dev_run": (BOOL, whole(0)),
    "trainer.limit_train_batches": BATCH_LIMIT,
    "trainer.limit_val_batches": BATCH_LIMIT,
    "trainer.limit_test_batches": BATCH_LIMIT,
    "trainer.limit_predict_batches": BATCH_LIMIT,
    "trainer.overfit_batches": (whole(0), SHARE),
    "trainer.reload_dataloaders_every_n_epochs": (whole(0),),
    # optimizer and scheduler (the keys and the other types: the allow-listed callables' signatures)
    "optimizer._partial_": (choice(True),),
    "optimizer.lr": (POSITIVE,),
    "optimizer.weight_decay": (number(0),),
    "optimizer.momentum": (PROBABILITY_BELOW_ONE,),
    "optimizer.dampening": (PROBABILITY_BELOW_ONE,),
    "optimizer.betas": (list_of(PROBABILITY_BELOW_ONE, length=2),),
    "optimizer.eps": (POSITIVE,),
    "optimizer.alpha": (PROBABILITY_BELOW_ONE,),
    "optimizer.momentum_decay": (number(0),),
    # torch's optimizer flags a classifier's training cannot use
    "optimizer.differentiable": (
        choice(False, why="Lightning steps the weights in place, and torch refuses a step to differentiate through"),
    ),
    "optimizer.maximize": (choice(False, why="it climbs the loss: training would unlearn"),),
    "scheduler._partial_": (choice(True),),
    "scheduler.warmup_fraction": (PROBABILITY_BELOW_ONE,),
    "scheduler.min_lr_ratio": (SHARE,),
    "scheduler.peak_fraction": (number(0, 1, low_open=True, high_open=True),),
    "scheduler.start_ratio": (SHARE,),
    "scheduler.end_ratio": (SHARE,),
    "scheduler.fractions": (list_of(number(0, 1, low_open=True, high_open=True)),),
    "scheduler.gamma": (number(0, 1, low_open=True),),
    "scheduler.step_size": (whole(1),),
    "scheduler.milestones": (list_of(whole(1)),),
    "scheduler.T_max": (whole(1),),
    "scheduler.eta_min": (number(0),),
    "scheduler.last_epoch": (choice(-1),),
    # finetune (the keys and the other types: FinetuneSpec)
    "finetune.bn_policy": (choice(*BN_POLICIES),),
    "finetune.strategy": (choice(*STRATEGIES),),
    "finetune.head_lr_mult": (POSITIVE,),
    "finetune.backbone_lr_mult": (POSITIVE,),
    "finetune.layer_decay": (number(0, 1, low_open=True),),
    "finetune.unfreeze_at_epoch": (whole(0),),
    "finetune.unfreeze_milestones": (list_of(whole(0)),),
    # dataset (the keys and the other types: DatasetConfig; its own check adds its ranges)
    "dataset.name": (choice(*DATASETS),),
    "dataset.image_size": (whole(1, MAX_IMAGE_SIDE), NULL),
    "dataset.split_seed": (whole(0, MAX_SEED),),
    "dataset.std": (list_of(POSITIVE), NULL),
    "dataset.classes": (list_of(whole(0)), NULL),
    # model (the keys and the other types: the zoo factory's signature)
    "model.variant": (choice("auto", "none"),),
    "model.dropout": (PROBABILITY_BELOW_ONE,),
    "model.drop_rate": (PROBABILITY_BELOW_ONE,),
}
# Trainer arguments train.py sets itself (from other keys, or its own callbacks and loggers)
SET_BY_THE_PROJECT = frozenset({"callbacks", "logger", "plugins", "default_root_dir", "deterministic"})
GROUPS_CHECKED_ELSEWHERE = ("paths", "callbacks", "logger", "hydra")  # paths: preflight; callbacks, logger: below
BUILT_GROUPS = {"callbacks": L.Callback, "logger": Logger}  # what each member of these groups must be


def _type_hints(function: Callable) -> dict[str, Any]:
    """The function's annotations as types; as written (strings) where one names what its module does not import
    (torch's ``MultiStepLR``: ``Iterable[int]``), so those arguments keep only the kinds ``RANGES`` gives."""
    try:
        return typing.get_type_hints(function)
    except NameError:
        return {name: p.annotation for name, p in inspect.signature(function).parameters.items()}


@functools.cache
def _signature_kinds(function: Callable, skip: frozenset[str] = frozenset()) -> dict[str, tuple[Kind, ...]]:
    hints = _type_hints(function.__init__ if inspect.isclass(function) else function)
    return {
        name: kinds_of(hints.get(name, Any))
        for name in inspect.signature(function).parameters
        if name not in skip and name not in ("self", "args", "kwargs")
    }


@functools.cache
def _field_kinds(spec: type) -> dict[str, tuple[Kind, ...]]:
    hints = typing.get_type_hints(spec)
    return {field.name: kinds_of(hints[field.name]) for field in dataclasses.fields(spec)}


def declared_kinds(cfg: DictConfig, group: str) -> dict[str, tuple[Kind, ...]] | None:
    """Each key of ``group`` and its kinds as declared by the code that reads it; None for an empty optimizer or
    scheduler node (``scheduler=none``)."""
    node = cfg.get(group)
    if group == "trainer":
        return {"_target_": (TEXT,), **_signature_kinds(L.Trainer, SET_BY_THE_PROJECT)}
    if group in ("optimizer", "scheduler") and node:
        table = OPTIMIZERS if group == "optimizer" else SCHEDULERS
        callable_ = table[allowed_target(node, table, group)]
        return {
            "_target_": (TEXT,),
            "_partial_": (BOOL,),
            **_signature_kinds(callable_, frozenset({"params", "optimizer"})),
        }
    if group in ("finetune", "dataset"):
        return _field_kinds(FinetuneSpec if group == "finetune" else DatasetConfig)
    if group == "model":
        arguments = model_arguments(node.name) if node.get("name") in list_models() else {}
        return {"name": (TEXT,), "variant": (TEXT,), **{k: kinds_of(p.annotation) for k, p in arguments.items()}}
    return None


def _leaves(node: DictConfig, prefix: str, skip: Sequence[str] = ()) -> Iterator[tuple[str, Any]]:
    """(dotted key, plain value) of each set leaf but ``skip``. Missing values (``???``) are preflight's; a value
    that resolves only inside the running job (``${hydra:job.num}``) is checked there, when the task calls the
    check again."""
    for key in node:
        if key in skip or OmegaConf.is_missing(node, key):
            continue
        try:
            value = node[key]
            if isinstance(value, (DictConfig, ListConfig)):
                value = OmegaConf.to_container(value, resolve=True)
        except OmegaConfBaseException:
            continue
        yield f"{prefix}{key}", value


def expectation(kinds: tuple[Kind, ...]) -> str:
    """``give a whole number >= 1, or choose auto or null``: the shapes to give, then the names to choose."""
    names = [str(c) for k in kinds if k.type is None for c in k.choices] + ["null" for k in kinds if k == NULL]
    names = list(dict.fromkeys(names))  # Lightning's precision is 16 or "16"
    shapes = [k.describe() for k in kinds if k.type is not None and k != NULL]
    parts = [f"give {' or '.join(shapes)}"] * bool(shapes) + [f"choose {_either(names)}"] * bool(names)
    reasons = [k.why for k in kinds if k.why]
    return ", or ".join(parts) + "".join(f" ({why})" for why in reasons)


def check_value(key: str, value: Any, kinds: tuple[Kind, ...]) -> None:
    if kinds and not any(kind.admits(value) for kind in kinds):
        raise ConfigError(f"{key}={value!r}: {expectation(kinds)}")


def _unknown_key(key: str, known: Sequence[str], source: str) -> ConfigError:
    group, _, name = key.rpartition(".")
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(f'{group}.{c}' if group else c for c in close)}? " if close else ""
    return ConfigError(f"{key} is not a setting ({source}); {hint}drop it or fix its name")


def settings(cfg: DictConfig) -> Iterator[tuple[str, Any, tuple[Kind, ...]]]:
    """(dotted key, value, kinds) of each set key of ``cfg`` (train or evaluate); kinds () where the value is left
    to its owner's own check (a dataset field of a type no config value spells). A key no source declares is an
    error."""
    groups = ("trainer", "optimizer", "scheduler", "finetune", "dataset", "model")
    top = [key for key in RANGES if "." not in key]
    for key, value in _leaves(cfg, "", skip=(*groups, *GROUPS_CHECKED_ELSEWHERE)):
        if key not in RANGES:
            raise _unknown_key(key, [*top, *groups], "of train.py or evaluate.py")
        yield key, value, RANGES[key]
    for group in groups:
        if isinstance(cfg.get(group), DictConfig):
            yield from _group_settings(cfg, group)
    yield from _built_settings(cfg)


def _built_settings(cfg: DictConfig) -> Iterator[tuple[str, Any, tuple[Kind, ...]]]:
    """Each argument of each configured callback and logger, with the kinds its class's signature and ``RANGES``
    give; a class of another kind (Hydra would build anything importable) or an argument it does not take is
    refused."""
    for group, base in BUILT_GROUPS.items():
        nodes = cfg.get(group)
        for name, node in nodes.items() if isinstance(nodes, DictConfig) else ():
            if not isinstance(node, DictConfig) or not isinstance(node.get("_target_"), str):
                continue
            target = _built_class(f"{group}.{name}", node._target_, base)
            declared = accepted_arguments(target)
            for key, value in _leaves(node, f"{group}.{name}."):
                argument = key.rpartition(".")[2]
                if argument.startswith("_"):
                    continue
                if argument not in declared:
                    raise _unknown_key(key, list(declared), f"what {target.__name__} accepts")
                yield key, value, RANGES.get(key) or declared[argument]


def _built_class(key: str, path: str, base: type) -> type:
    """The ``base`` subclass ``package.module.Class`` names (imported here as Hydra will when it builds it)."""
    module, _, name = path.rpartition(".")
    try:
        target = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise ConfigError(
            f"{key}._target_={path!r}: no class of that name can be imported; fix the name or drop {key}"
        ) from None
    if not (inspect.isclass(target) and issubclass(target, base)):
        raise ConfigError(f"{key}._target_={path!r} is not a Lightning {base.__name__} class; name one, or drop {key}")
    return target


def accepted_arguments(cls: type) -> dict[str, tuple[Kind, ...]]:
    """The arguments of ``cls`` with their kinds, with those its ``**kwargs`` passes on up the class hierarchy."""
    accepted: dict[str, tuple[Kind, ...]] = {}
    for klass in cls.__mro__:
        if klass is object or "__init__" not in vars(klass):
            continue
        accepted = _signature_kinds(klass) | accepted
        parameters = inspect.signature(klass.__init__).parameters.values()
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return accepted


def _group_settings(cfg: DictConfig, group: str) -> Iterator[tuple[str, Any, tuple[Kind, ...]]]:
    declared = declared_kinds(cfg, group)
    for key, value in _leaves(cfg[group], f"{group}."):
        name = key.removeprefix(f"{group}.")
        if declared is not None and name not in declared:
            if group in ("dataset", "model"):
                continue  # named by their owners: the datamodule (with a renamed key's new name), run.model_kwargs
            raise _unknown_key(key, list(declared), f"what the {group} accepts")
        yield key, value, RANGES.get(key) or (declared or {}).get(name, ())


def check_config(cfg: DictConfig) -> None:
    """Every key of ``cfg`` is a known setting and its value of one of its kinds."""
    for key, value, kinds in settings(cfg):
        check_value(key, value, kinds)
