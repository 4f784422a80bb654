"""``train(cfg)`` and ``evaluate(cfg)``: what ``train.py``/``evaluate.py`` run, callable from tests without a shell."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from zoo import list_models, model_info
from zoo.weights import load_pretrained

from .callbacks import EvaluationReport, RunPlots
from .checkpoint import load_training_checkpoint
from .data import ImageClassificationData
from .errors import ConfigError
from .finetune import GradualUnfreezing
from .module import ZooClassifier
from .predict import load_module, predict

log = logging.getLogger(__name__)
LAST_CHECKPOINT = "checkpoints/last.ckpt"  # where configs/callbacks/default.yaml saves it
SMALL_IMAGE_PIXELS = 64  # datasets at or below this size use a model's CIFAR-sized variant when it has one


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def resolve_model_name(model_cfg: DictConfig, native_size: int) -> str:
    """``model.variant``: ``auto`` picks ``<name>_cifar`` for small images when the zoo has it; ``none`` keeps the name."""
    name = model_cfg.name
    if model_cfg.get("variant", "auto") == "auto" and native_size <= SMALL_IMAGE_PIXELS \
            and f"{name}_cifar" in list_models():
        return f"{name}_cifar"
    return name


def _on_gpu(trainer_cfg: DictConfig) -> bool:
    return torch.cuda.is_available() and trainer_cfg.get("accelerator", "auto") in ("auto", "gpu", "cuda")


def _resolve_auto(value: Any, on_gpu: bool, gpu_value: Any, cpu_value: Any) -> Any:
    return (gpu_value if on_gpu else cpu_value) if value == "auto" else value


def check_devices(trainer_cfg: DictConfig) -> None:
    """Asking for more GPUs than the machine has: say what it has and what to change."""
    devices = trainer_cfg.get("devices", 1)
    if trainer_cfg.get("accelerator") not in ("gpu", "cuda") or not isinstance(devices, int) or devices < 0:
        return
    available = torch.cuda.device_count()
    if devices > available:
        raise ConfigError(f"trainer.devices={devices} GPUs requested but this machine has {available}; "
                          f"set trainer.devices={available} or use trainer=cpu" if available else
                          f"trainer.devices={devices} GPUs requested but this machine has no GPU; use trainer=cpu "
                          "(or trainer=ddp_cpu for several CPU processes)")


def build_trainer(cfg: DictConfig, callbacks: list, logger: Any) -> L.Trainer:
    """Instantiate ``cfg.trainer``; ``auto`` precision/benchmark mean bf16 + cudnn.benchmark on a GPU, fp32 on CPU."""
    check_devices(cfg.trainer)
    on_gpu = _on_gpu(cfg.trainer)
    overrides = {
        "precision": _resolve_auto(cfg.trainer.get("precision", "auto"), on_gpu, "bf16-mixed", "32-true"),
        "benchmark": _resolve_auto(cfg.trainer.get("benchmark", "auto"), on_gpu and not cfg.deterministic, True, False),
    }
    return instantiate(cfg.trainer, callbacks=callbacks, logger=logger, deterministic=cfg.deterministic,
                       default_root_dir=cfg.paths.output_dir, **overrides)


def build_datamodule(dataset_cfg: DictConfig) -> ImageClassificationData:
    return ImageClassificationData(**_plain(dataset_cfg))


def train(cfg: DictConfig, extra_callbacks: list[L.Callback] | None = None) -> dict[str, Any]:
    """Train (or resume with ``ckpt_path``, or fine-tune with ``finetune.init_from``); returns the final metrics."""
    out_dir = Path(cfg.paths.output_dir)
    finished, last = out_dir / "metrics.json", out_dir / LAST_CHECKPOINT
    ckpt_path = cfg.get("ckpt_path")
    if cfg.get("auto_resume") and finished.is_file():
        log.info("%s already holds a finished run; skipping it", out_dir)
        return json.loads(finished.read_text())
    if cfg.get("auto_resume") and ckpt_path is None and last.is_file():
        ckpt_path = str(last)
        log.info("resuming the unfinished run in %s from %s", out_dir, ckpt_path)
    L.seed_everything(cfg.seed, workers=True)
    torch.set_flush_denormal(True)  # tiny late-training gradients otherwise slow CPU arithmetic several-fold
    out_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, out_dir / "config.yaml", resolve=True)

    datamodule = build_datamodule(cfg.dataset)
    name = resolve_model_name(cfg.model, datamodule.native_size)
    info = model_info(name)
    channels = datamodule.in_chans
    # the model's input size and normalisation (the dataset's own statistics when the channel counts differ)
    datamodule.set_model_input(cfg.dataset.get("image_size") or info.input_size[1], info.mean, info.std)
    on_gpu = _on_gpu(cfg.trainer)
    spec_cfg = _plain(cfg.get("finetune")) or {}
    module = ZooClassifier(
        model={"name": name, "num_classes": datamodule.num_classes, "in_chans": channels,
               "kwargs": _plain(cfg.model.get("kwargs")) or {}},
        optimizer=_plain(cfg.optimizer), scheduler=_plain(cfg.get("scheduler")), finetune=spec_cfg,
        label_smoothing=cfg.get("label_smoothing", 0.0), compile=cfg.get("compile", False),
        channels_last=_resolve_auto(cfg.get("channels_last", "auto"), on_gpu, True, False),
        class_names=list(datamodule.class_names),
    )
    spec = module.finetune_spec
    if spec.init_from:
        report = load_pretrained(module.net, spec.init_from)
        log.info("init_from %s: loaded %d tensors, re-initialised %s", spec.init_from, len(report.loaded),
                 report.reinitialised or "nothing")

    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    callbacks.append(RunPlots(str(out_dir)))
    if spec.strategy != "none":
        callbacks.append(GradualUnfreezing(spec))
    callbacks += extra_callbacks or []
    loggers = [instantiate(lg) for lg in (cfg.get("logger") or {}).values() if lg is not None]
    trainer = build_trainer(cfg, callbacks, loggers or False)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)

    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    result = {**metrics, "run_dir": str(out_dir), "model": name, "epochs": trainer.current_epoch,
              "best_model_path": getattr(trainer.checkpoint_callback, "best_model_path", ""),
              "last_model_path": str(last) if last.is_file() else ""}
    if trainer.is_global_zero:
        finished.write_text(json.dumps(result, indent=2))
        print(f"\n{name}: val/acc {metrics.get('val/acc', float('nan')):.4f} after {trainer.current_epoch} epochs\n"
              f"  run directory: {out_dir}\n  best checkpoint: {result['best_model_path']}\n"
              f"  last checkpoint: {result['last_model_path']}\n"
              f"  plots: {out_dir / 'curves.png'}, {out_dir / 'filters.png'}")
    return result


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Rebuild model and data from a ``train.py`` checkpoint, report top-1/top-5/per-class accuracy and a confusion
    matrix on ``cfg.split`` (``test`` by default; ``val`` reproduces the run's own validation)."""
    if cfg.get("images") or cfg.get("visualize"):
        return predict(cfg)
    if cfg.split not in ("test", "val"):
        raise ConfigError(f"split={cfg.split!r}; choose test or val")
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
