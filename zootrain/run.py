"""``train(cfg)`` and ``evaluate(cfg)``: what ``train.py``/``evaluate.py`` run, callable from tests without a shell.

``train`` reads as its steps; each decision lives with its subject: restarting a run directory in
``zootrain.resume.RunDirectory``, the model and its input size in ``zootrain.model_choice``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.accelerators import CPUAccelerator
from omegaconf import DictConfig

from zoo.weights import load_file

from .callbacks import EvaluationReport, RunPlots
from .data import ImageClassificationData
from .errors import ConfigError
from .evaluation_data import check_data_fits, evaluated_model, evaluation_datamodule
from .hardware import auto_precision, set_threads
from .lr_find import find_lr
from .model_choice import build_module, choose_model, on_gpu, plain
from .predict import predict
from .resume import AtomicCheckpointIO, RandomState, RunCSVLogger, RunDirectory
from .settings import (
    check_data_fits_run,
    check_evaluate_settings,
    check_input_fits,
    check_something_trains,
    check_train_settings,
)

log = logging.getLogger(__name__)


def built(node: DictConfig, key: str, **kwargs: Any) -> Any:
    """Hydra's ``instantiate``; settings the class refuses (Lightning's checks of the trainer's, a package a logger
    needs) are one ``ConfigError`` naming ``key`` and the reason, not Hydra's several-line wrapper."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__ or err
        raise ConfigError(f"{key}: {type(cause).__name__}: {cause}") from cause


def build_trainer(cfg: DictConfig, callbacks: list, logger: Any, family: str | None = None) -> L.Trainer:
    """Instantiate ``cfg.trainer`` with checkpoints written atomically. ``precision=auto``: mixed precision on a
    GPU, the family's measured setting on a CPU (``zootrain.hardware``; fp32 without a family, as in evaluation);
    ``benchmark=auto``: cudnn.benchmark on a GPU unless deterministic."""
    gpu = on_gpu(cfg.trainer)
    precision = cfg.trainer.get("precision", "auto")
    benchmark = cfg.trainer.get("benchmark", "auto")
    overrides = {
        "precision": auto_precision(family, gpu) if precision == "auto" else precision,
        "benchmark": gpu and not cfg.deterministic if benchmark == "auto" else benchmark,
    }
    return built(
        cfg.trainer,
        "trainer",
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
    return ImageClassificationData(**plain(dataset_cfg))


def seed_and_threads(cfg: DictConfig) -> None:
    set_threads(cfg.get("threads", "auto"), follow_load=not cfg.get("deterministic"))
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    torch.set_flush_denormal(True)  # tiny late-training gradients otherwise slow CPU arithmetic several-fold


def build_callbacks(cfg: DictConfig, run_dir: RunDirectory, extra: list[L.Callback] | None) -> list[L.Callback]:
    callbacks = [built(c, f"callbacks.{name}") for name, c in (cfg.get("callbacks") or {}).items() if c is not None]
    return [*callbacks, RunPlots(str(run_dir.path)), RandomState(), *(extra or [])]


def build_loggers(cfg: DictConfig, ckpt_path: str | None) -> list:
    """The configured loggers; the CSV logger keeps the rows written before the step a run resumes from."""
    loggers = [built(lg, f"logger.{name}") for name, lg in (cfg.get("logger") or {}).items() if lg is not None]
    resume_step = int(load_file(ckpt_path)["global_step"]) if ckpt_path else 0
    for logger in loggers:
        if isinstance(logger, RunCSVLogger):
            logger.resume_step = resume_step
    return loggers


def train(cfg: DictConfig, extra_callbacks: list[L.Callback] | None = None) -> dict[str, Any]:
    """Train (or resume with ``ckpt_path``, or fine-tune with ``finetune.init_from``); returns the final metrics."""
    check_train_settings(cfg)
    with RunDirectory(cfg.paths.output_dir) as run_dir:
        finished = run_dir.finished_result(cfg)
        if finished is not None:
            return finished
        ckpt_path = run_dir.resume_point(cfg)
        seed_and_threads(cfg)

        datamodule = build_datamodule(cfg.dataset)
        check_data_fits_run(datamodule, cfg)
        choice = choose_model(cfg, datamodule, ckpt_path)
        module = build_module(cfg, choice, datamodule, ckpt_path)
        check_input_fits(module.net, datamodule)
        check_something_trains(module.net, cfg.finetune, cfg.trainer.max_epochs)
        run_dir.save_settings(cfg)  # only now: every check above passed
        if cfg.get("tune") == "lr_find":
            trainer = build_trainer(cfg, [], False, choice.info.family)
            return {**find_lr(trainer, module, datamodule, run_dir.path, cfg.tune_steps), "run_dir": str(run_dir.path)}

        callbacks, loggers = build_callbacks(cfg, run_dir, extra_callbacks), build_loggers(cfg, ckpt_path)
        trainer = build_trainer(cfg, callbacks, loggers or False, choice.info.family)
        _log_fast_path(trainer, module.hparams.channels_last, choice.info.family)
        with run_dir.exit_nonzero_when_stopped():
            trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        return run_dir.write_result(trainer, choice.name)


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Rebuild model and data from a ``train.py`` checkpoint or published weights, report top-1/top-5/per-class
    accuracy and a confusion matrix on ``cfg.split`` (``test`` by default; ``val``: the run's own validation)."""
    check_evaluate_settings(cfg)
    RunDirectory(cfg.paths.output_dir).check_can_hold_evaluation()
    set_threads(cfg.get("threads", "auto"))
    if cfg.get("images") is not None or cfg.get("visualize"):
        return predict(cfg)
    module, trained_with, trained_on = evaluated_model(cfg)
    datamodule = evaluation_datamodule(trained_with, plain(cfg.get("dataset")) or {}, cfg.split)
    check_data_fits(trained_on, datamodule)
    if cfg.split == "val":
        datamodule.use_validation_as_test()

    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = EvaluationReport(out_dir, trained_on.source, cfg.get("misclassified", 16), cfg.get("tta"))
    trainer = build_trainer(cfg, callbacks=[report], logger=False)
    trainer.test(module, datamodule=datamodule, weights_only=True)
    # written by rank 0 of the test processes (they may be spawned: nothing else comes back from them)
    return json.loads(report.metrics_path.read_text())
