"""``train(cfg)`` and ``evaluate(cfg)``: what ``train.py``/``evaluate.py`` run, callable from tests without a shell."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.accelerators import CPUAccelerator
from omegaconf import DictConfig, OmegaConf

from zoo import create_model, list_models, model_info
from zoo.registry import SMALL_INPUT_PIXELS, model_arguments
from zoo.weights import WeightsError, load_file, load_pretrained

from .callbacks import EvaluationReport, RunPlots
from .checkpoint import load_training_checkpoint
from .config_store import MODEL_KEYS
from .data import ImageClassificationData
from .errors import ConfigError
from .finetune import FinetuneSpec, frozen_groups_at
from .hardware import auto_channels_last, auto_precision, set_threads
from .lr_find import find_lr
from .module import ZooClassifier
from .predict import load_module, predict
from .resume import (
    AtomicCheckpointIO,
    RandomState,
    RunCSVLogger,
    check_same_settings,
    checkpoint_to_resume,
    save_settings,
)
from .settings import check_common, check_data_fits_run, check_something_trains, check_train_settings, on_cpu

log = logging.getLogger(__name__)
LAST_CHECKPOINT = "checkpoints/last.ckpt"  # where configs/callbacks/default.yaml saves it
FINISHED = "metrics.json"


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def _on_gpu(trainer_cfg: DictConfig) -> bool:
    return not on_cpu(trainer_cfg) and torch.cuda.is_available()


def build_trainer(cfg: DictConfig, callbacks: list, logger: Any, family: str | None = None) -> L.Trainer:
    """Instantiate ``cfg.trainer`` with checkpoints written atomically. ``precision=auto``: mixed precision on a
    GPU, the family's measured setting on a CPU (``zootrain.hardware``; fp32 without a family, as in evaluation);
    ``benchmark=auto``: cudnn.benchmark on a GPU unless deterministic."""
    on_gpu = _on_gpu(cfg.trainer)
    precision = cfg.trainer.get("precision", "auto")
    benchmark = cfg.trainer.get("benchmark", "auto")
    overrides = {
        "precision": auto_precision(family, on_gpu) if precision == "auto" else precision,
        "benchmark": on_gpu and not cfg.deterministic if benchmark == "auto" else benchmark,
    }
    return instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=logger,
        deterministic=cfg.deterministic,
        default_root_dir=cfg.paths.output_dir,
        plugins=[AtomicCheckpointIO()],
        **overrides,
    )


def _log_fast_path(trainer: L.Trainer, channels_last: bool, family: str) -> None:
    """Say what the CPU runs in: bf16 and channels_last change the numbers slightly, so no surprise."""
    if not isinstance(trainer.accelerator, CPUAccelerator):
        return
    precision = trainer.precision
    log.info(
        f"cpu: {torch.get_num_threads()} threads, precision {precision}, "
        f"{'channels_last' if channels_last else 'contiguous'} memory format"
        + (
            f" (the measured fast path for {family} models; precision=32-true channels_last=false to turn it off)"
            if precision != "32-true" or channels_last
            else ""
        )
    )


def build_datamodule(dataset_cfg: DictConfig) -> ImageClassificationData:
    return ImageClassificationData(**_plain(dataset_cfg))


# ----- which model -----
def model_kwargs(model_cfg: DictConfig, name: str) -> dict[str, Any]:
    """The factory arguments of ``model_cfg`` that ``name`` takes; one it lacks is an error unless left at default."""
    accepted = model_arguments(name)
    kwargs = {k: v for k, v in _plain(model_cfg).items() if k not in MODEL_KEYS}
    unknown = {k: v for k, v in kwargs.items() if k not in accepted and not _a_default(k, v)}
    if unknown:
        raise ConfigError(
            f"{name} takes no {', '.join(f'model.{k}' for k in unknown)} (it takes "
            f"{', '.join(accepted) or 'no arguments'}); drop the override or set model.variant=none"
        )
    return {k: v for k, v in kwargs.items() if k in accepted}


def _a_default(arg: str, value: Any) -> bool:
    """Whether ``value`` is some model's default for ``arg``: a key left from another model's config node (after
    ``model.name=...``), not a setting the user asked for."""
    return any(arg in args and args[arg].default == value for args in map(model_arguments, list_models()))


def weights_fit(name: str, weights: dict, num_classes: int, in_chans: int, kwargs: dict) -> bool:
    try:
        load_pretrained(create_model(name, num_classes=num_classes, in_chans=in_chans, **kwargs), weights)
        return True
    except WeightsError:
        return False


def choose_model(cfg: DictConfig, datamodule: ImageClassificationData, spec: FinetuneSpec) -> tuple[str, dict]:
    """``model.name``, or its small-image sibling (registry field ``small_input_model``) on images of at most
    ``SMALL_INPUT_PIXELS`` when ``model.variant=auto`` — unless ``finetune.init_from`` holds weights that fit the
    model as named and not the sibling (ImageNet weights of resnet18, say): the weights win."""
    name = cfg.model.name
    sibling = model_info(name).small_input_model
    small = cfg.model.variant == "auto" and datamodule.native_size <= SMALL_INPUT_PIXELS and sibling is not None
    if not small:
        return name, model_kwargs(cfg.model, name)
    if spec.init_from:
        weights = load_file(spec.init_from)
        sizes = dict(num_classes=datamodule.num_classes, in_chans=datamodule.in_chans)
        kwargs = model_kwargs(cfg.model, name)
        if not weights_fit(sibling, weights, kwargs=model_kwargs(cfg.model, sibling), **sizes) and weights_fit(
            name, weights, kwargs=kwargs, **sizes
        ):
            log.info(f"note: {spec.init_from} fits {name}, not its small-image sibling {sibling}: training {name}")
            return name, kwargs
    return sibling, model_kwargs(cfg.model, sibling)


def input_size(cfg: DictConfig, name: str, datamodule: ImageClassificationData) -> int:
    """The side images are resized to: ``dataset.image_size``, else the model's own; never below its minimum."""
    info = model_info(name)
    size = cfg.dataset.get("image_size") or info.input_size[1]
    smallest = info.min_input_size[1]
    if size < smallest:
        raise ConfigError(
            f"dataset.image_size={size} is below {name}'s smallest input ({smallest} px); "
            f"use dataset.image_size={smallest} or more, or leave it null for {info.input_size[1]}"
        )
    how = "" if size == datamodule.native_size else f", resized from the dataset's {datamodule.native_size} px"
    log.info(f"model: {name} ({info.paper}), input {datamodule.in_chans}x{size}x{size}{how}")
    return size


# ----- run directory -----
def resume_point(cfg: DictConfig, out_dir: Path) -> str | None:
    """The checkpoint to resume from: ``ckpt_path`` (which must be a training checkpoint), else with
    ``auto_resume`` an unfinished run's newest readable checkpoint in ``out_dir``."""
    if cfg.get("ckpt_path"):
        load_training_checkpoint(cfg.ckpt_path)
        return str(cfg.ckpt_path)
    if not cfg.get("auto_resume"):
        return None
    found = checkpoint_to_resume(out_dir, out_dir / LAST_CHECKPOINT)
    if found is not None:
        check_same_settings(out_dir, cfg, "an unfinished run")
        log.info(f"resuming the unfinished run in {out_dir} from {found.name}")
    return str(found) if found else None


def check_resumes_same_model(ckpt_path: str, name: str) -> None:
    trained_as = load_training_checkpoint(ckpt_path)["hyper_parameters"]["model"]["name"]
    if trained_as != name:
        raise ConfigError(
            f"{ckpt_path} was trained as {trained_as}, but this run builds {name}; resume it with "
            f"model={trained_as} (and its dataset), or start from its weights with "
            f"finetune.init_from={ckpt_path} instead of ckpt_path"
        )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def epochs_done(trainer: L.Trainer, last: Path) -> int:
    """Completed epochs: the last checkpoint knows even when training ran in spawned processes."""
    if last.is_file():
        return int(load_file(last)["epoch"]) + 1
    return trainer.current_epoch


def train(cfg: DictConfig, extra_callbacks: list[L.Callback] | None = None) -> dict[str, Any]:
    """Train (or resume with ``ckpt_path``, or fine-tune with ``finetune.init_from``); returns the final metrics."""
    check_train_settings(cfg)
    out_dir = Path(cfg.paths.output_dir)
    finished, last = out_dir / FINISHED, out_dir / LAST_CHECKPOINT
    if cfg.get("auto_resume") and finished.is_file():
        check_same_settings(out_dir, cfg, "a finished run")
        log.info(f"{out_dir} already holds this finished run (same settings); not training it again")
        return json.loads(finished.read_text())
    ckpt_path = resume_point(cfg, out_dir)
    set_threads(cfg.get("threads", "auto"))
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    torch.set_flush_denormal(True)  # tiny late-training gradients otherwise slow CPU arithmetic several-fold

    datamodule = build_datamodule(cfg.dataset)
    check_data_fits_run(datamodule, cfg)
    spec = FinetuneSpec(**_plain(cfg.finetune))
    name, kwargs = choose_model(cfg, datamodule, spec)
    if ckpt_path:
        check_resumes_same_model(ckpt_path, name)
    info = model_info(name)
    # the model's input size and normalisation (the dataset's own statistics when the channel counts differ)
    size = input_size(cfg, name, datamodule)
    datamodule.set_model_input(size, info.mean, info.std)
    channels_last = cfg.get("channels_last", "auto")
    if channels_last == "auto":
        channels_last = auto_channels_last(info.family, _on_gpu(cfg.trainer))
    module = ZooClassifier(
        model={"name": name, "num_classes": datamodule.num_classes, "in_chans": datamodule.in_chans, "kwargs": kwargs},
        optimizer=_plain(cfg.optimizer),
        scheduler=_plain(cfg.get("scheduler")),
        finetune=_plain(cfg.finetune),
        label_smoothing=cfg.get("label_smoothing", 0.0),
        compile=cfg.get("compile", False),
        channels_last=channels_last,
        class_names=list(datamodule.class_names),
        input_size=size,
    )
    frozen_groups_at(module.net, spec, 0)  # misnamed groups fail here, before anything is written
    check_something_trains(module.net, cfg.finetune)
    if spec.init_from and not ckpt_path:
        report = load_pretrained(module.net, spec.init_from, allow_partial=spec.allow_partial)
        log.info(
            "init_from %s: loaded %d tensors, re-initialised %s",
            spec.init_from,
            len(report.loaded),
            report.reinitialised or "nothing",
        )
    save_settings(out_dir, cfg)  # only now: every check above passed
    if cfg.get("tune") == "lr_find":
        trainer = build_trainer(cfg, [], False, info.family)
        return {**find_lr(trainer, module, datamodule, out_dir, cfg.tune_steps), "run_dir": str(out_dir)}

    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    callbacks += [RunPlots(str(out_dir)), RandomState(), *(extra_callbacks or [])]
    loggers = [instantiate(lg) for lg in (cfg.get("logger") or {}).values() if lg is not None]
    resume_step = int(load_file(ckpt_path)["global_step"]) if ckpt_path else 0
    for logger in loggers:
        if isinstance(logger, RunCSVLogger):
            logger.resume_step = resume_step
    trainer = build_trainer(cfg, callbacks, loggers or False, info.family)
    _log_fast_path(trainer, module.hparams.channels_last, info.family)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)

    metrics = {k: _finite(float(v)) for k, v in trainer.callback_metrics.items()}
    result = {
        **metrics,
        "run_dir": str(out_dir),
        "model": name,
        "epochs": epochs_done(trainer, last),
        "best_model_path": getattr(trainer.checkpoint_callback, "best_model_path", ""),
        "last_model_path": str(last) if last.is_file() else "",
    }
    if trainer.is_global_zero:
        finished.write_text(json.dumps(result, indent=2, allow_nan=False))
        log.info(
            f"\n{name}: val/acc {metrics.get('val/acc') or float('nan'):.4f} after {result['epochs']} epochs\n"
            f"  run directory: {out_dir}\n  best checkpoint: {result['best_model_path']}\n"
            f"  last checkpoint: {result['last_model_path']}\n"
            f"  plots: {out_dir / 'curves.png'}, {out_dir / 'filters.png'}"
        )
    return result


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Rebuild model and data from a ``train.py`` checkpoint, report top-1/top-5/per-class accuracy and a confusion
    matrix on ``cfg.split`` (``test`` by default; ``val`` reproduces the run's own validation)."""
    if cfg.get("images") or cfg.get("visualize"):
        return predict(cfg)
    if cfg.split not in ("test", "val"):
        raise ConfigError(f"split={cfg.split!r}; choose test or val")
    check_common(cfg)
    set_threads(cfg.get("threads", "auto"))
    ckpt = load_training_checkpoint(cfg.ckpt_path)
    module = load_module(ckpt, cfg.ckpt_path)
    # the stored dataset settings include the model's input size and normalisation
    data_args = {**ckpt.get("datamodule_hyper_parameters", {}), **(_plain(cfg.get("dataset")) or {})}
    datamodule = ImageClassificationData(**data_args)
    if cfg.split == "val":
        datamodule.use_validation_as_test()

    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = EvaluationReport(out_dir, str(cfg.ckpt_path), cfg.get("misclassified", 16))
    trainer = build_trainer(cfg, callbacks=[report], logger=False)
    trainer.test(module, datamodule=datamodule, weights_only=True)
    # written by rank 0 of the test processes (they may be spawned: nothing else comes back from them)
    return json.loads(report.metrics_path.read_text())
