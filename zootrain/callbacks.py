"""Callbacks that leave the run's pictures and figures behind."""

from __future__ import annotations

import json
import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import OmegaConf

from zoo import visualize

from .errors import ConfigError
from .module import TTA_VIEWS
from .plots import plot_confusion, plot_curves, plot_per_class

PATCH_IMAGES = 256  # validation images searched for the patches that excite a deeper stage most (at most)
FEWEST_PATCH_IMAGES = 8  # a row of the patches picture: one patch from each of 8 images
PLOT_GAP = 20  # curves.png waits this many times its own drawing time between redraws during training
FIRST_PLOT_AFTER_S = 30.0  # a run shorter than this gets its curves.png at the end only: nobody watches it meanwhile
SMALL_KERNEL = 3  # first-layer kernels this small say little: a deeper stage is shown too


def validation_images(datamodule, count: int) -> torch.Tensor:
    """The first ``count`` (normalised) validation images."""
    batches, seen = [], 0
    for x, _ in datamodule.val_dataloader():
        batches.append(x.cpu())
        seen += len(x)
        if seen >= count:
            break
    return torch.cat(batches)[:count]


class RunPlots(L.Callback):
    """Writes ``curves.png`` during training and at the end; at the end also ``filters.png``, the first convolution's
    kernels before and after training side by side, and for 3x3 (or smaller) first layers ``deeper_patches.png``,
    the validation patches that excite a deeper stage's channels most (``zoo.visualize.top_activating_patches``).

    During training ``curves.png`` is redrawn after an epoch only once at least ``PLOT_GAP`` times as long as the
    last drawing took has passed, and not before ``FIRST_PLOT_AFTER_S`` of training: a picture every epoch of a long
    run, and plotting kept to a few percent of a run whose epochs take a fraction of a second (the default digits run
    spent a quarter of its time drawing curves).

    The per-epoch history and the initial kernels are part of the checkpoint, so a resumed run's pictures include the
    epochs before the restart.
    """

    def __init__(self, dirpath: str):
        self.dirpath = Path(dirpath)
        self.history: list[dict[str, float]] = []
        self.filters_before: torch.Tensor | None = None
        self.next_plot_at = 0.0  # time.perf_counter() after which curves.png may be redrawn

    def _first_conv(self, pl_module) -> torch.Tensor:
        net = pl_module.net
        return net.get_submodule(net.info.first_conv).weight.detach().float().cpu()

    def on_fit_start(self, trainer, pl_module) -> None:
        self.dirpath.mkdir(parents=True, exist_ok=True)
        self.next_plot_at = time.perf_counter() + FIRST_PLOT_AFTER_S
        if self.filters_before is None:
            self.filters_before = self._first_conv(pl_module).clone()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        metrics = trainer.callback_metrics
        row = {"epoch": trainer.current_epoch + 1}
        for stage in ("train", "val"):
            for name in ("loss", "acc"):
                value = metrics.get(f"{stage}/{name}_epoch", metrics.get(f"{stage}/{name}"))
                if value is not None:
                    row[f"{stage}/{name}"] = float(value)
        self.history.append(row)
        if trainer.is_global_zero and time.perf_counter() >= self.next_plot_at:
            self._plot_curves()

    def _plot_curves(self) -> None:
        started = time.perf_counter()
        plot_curves(self.history, self.dirpath / "curves.png")
        finished = time.perf_counter()
        self.next_plot_at = finished + PLOT_GAP * (finished - started)

    @rank_zero_only
    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if self.history:  # an interrupted run's curves hold every epoch it finished
            self._plot_curves()

    @rank_zero_only
    def on_fit_end(self, trainer, pl_module) -> None:
        if self.history:
            self._plot_curves()
        net, after = pl_module.net, self._first_conv(pl_module)
        visualize.save(
            visualize.filters_figure(
                self.filters_before, after, f"{net.info.name}: first-layer filters, {trainer.current_epoch} epochs"
            ),
            self.dirpath / "filters.png",
        )
        if after.shape[-1] <= SMALL_KERNEL and trainer.datamodule is not None:
            validated = sum(trainer.num_val_batches) * trainer.datamodule.config.batch_size
            self.plot_deeper_patches(net, trainer.datamodule, max(FEWEST_PATCH_IMAGES, min(PATCH_IMAGES, validated)))

    def plot_deeper_patches(self, net, datamodule, count: int) -> None:
        """The patches searched among the first ``count`` validation images: no more than the run validated on, so
        a size-limited run (``trainer.limit_val_batches``) draws its picture from its few."""
        images = validation_images(datamodule, count)
        device = next(net.parameters()).device
        stage, patches = visualize.top_activating_patches(net, images.to(device))
        fig = visualize.patches_figure(
            patches.cpu(),
            datamodule.mean,
            datamodule.std,
            f"{net.info.name} {stage}: top validation patches per channel (rows)",
        )
        visualize.save(fig, self.dirpath / "deeper_patches.png")

    def state_dict(self) -> dict:
        return {"history": self.history, "filters_before": self.filters_before}

    def load_state_dict(self, state_dict: dict) -> None:
        self.history = list(state_dict["history"])
        self.filters_before = state_dict.get("filters_before")


class LogRunConfig(L.Callback):
    """The run's resolved settings (``config_file``: the run directory's ``config.yaml``) as every logger's
    hyper-parameters under ``config/`` (MLflow params, W&B config), beside the module's own that Lightning logs;
    at the end the best checkpoint's score as ``<monitor>_best``. Every metric's final value is already there: the
    loggers receive each epoch's. The file is read as data (nothing in it is instantiated)."""

    def __init__(self, config_file: str):
        self.config_file = Path(config_file)

    def on_fit_start(self, trainer, pl_module) -> None:
        settings = OmegaConf.to_container(OmegaConf.load(self.config_file))
        for logger in trainer.loggers:
            logger.log_hyperparams({"config": settings})

    def on_fit_end(self, trainer, pl_module) -> None:
        best = trainer.checkpoint_callback
        if best is None or best.best_model_score is None or best.monitor is None:
            return
        for logger in trainer.loggers:
            logger.log_metrics({f"{best.monitor}_best": float(best.best_model_score)}, step=trainer.global_step)
            logger.save()


class EvaluationReport(L.Callback):
    """After ``trainer.test``: top-1/top-5, per-class accuracy and the confusion matrix (synchronised over
    processes) to ``metrics.json``, ``confusion_matrix.png`` and ``per_class_accuracy.png``, and a summary;
    ``misclassified.png``: the most confident mistakes with true/predicted labels (rank 0's share under DDP).
    With ``tta`` (a ``zootrain.module.TTA_VIEWS`` name) also the test-time-augmented top-1 (``top1_tta``) beside
    the plain one; every other figure stays the plain model's."""

    def __init__(self, dirpath: Path, checkpoint: str, misclassified: int = 16, tta: str | None = None):
        if tta is not None and tta not in TTA_VIEWS:
            choices = "; ".join(f"{name} ({views})" for name, views in TTA_VIEWS.items())
            raise ConfigError(f"tta={tta!r}; choose {choices}, or null for none")
        self.dirpath, self.checkpoint, self.tta = Path(dirpath), checkpoint, tta
        self.metrics_path = self.dirpath / "metrics.json"
        self.misclassified = misclassified
        self.mistakes: list[tuple[float, torch.Tensor, int, int]] = []  # (confidence, image, true, predicted)

    def setup(self, trainer, pl_module, stage: str) -> None:
        pl_module.tta = self.tta

    def on_test_epoch_start(self, trainer, pl_module) -> None:
        self.mistakes = []

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        """Keep the ``misclassified`` most confident mistakes seen so far (``outputs``: the batch's logits)."""
        if not self.misclassified:
            return
        confidence, predicted = outputs.detach().float().softmax(-1).max(-1)
        wrong = (predicted != batch[1]).nonzero().squeeze(1).tolist()
        self.mistakes += [
            (float(confidence[i]), batch[0][i].detach().float().cpu(), int(batch[1][i]), int(predicted[i]))
            for i in wrong
        ]
        self.mistakes = sorted(self.mistakes, key=lambda m: -m[0])[: self.misclassified]

    def plot_mistakes(self, names: list[str], datamodule, path: Path, title: str) -> None:
        images = [visualize.to_display(image, datamodule.mean, datamodule.std) for _, image, _, _ in self.mistakes]
        captions = [f"true {names[t]}\npred {names[p]} {c:.2f}" for c, _, t, p in self.mistakes]
        visualize.save(visualize.image_grid_figure(images, captions, title), path)

    def on_test_end(self, trainer, pl_module) -> None:
        per_class = pl_module.test_per_class.compute().cpu()  # collective: every rank takes part
        confusion = pl_module.test_confusion.compute().cpu()
        if not trainer.is_global_zero:
            return
        logged = trainer.callback_metrics
        names = pl_module.hparams.class_names or [str(i) for i in range(len(per_class))]
        split = trainer.datamodule.test_split if trainer.datamodule is not None else "test"
        metrics = {
            "checkpoint": self.checkpoint,
            "model": pl_module.net.info.name,
            "split": split,
            "num_samples": int(confusion.sum()),
            "top1": float(logged["test/acc"]),
            "top5": float(logged["test/top5"]),
            "loss": float(logged["test/loss"]),
            **({"tta": self.tta, "top1_tta": float(logged["test/acc_tta"])} if self.tta else {}),
            "per_class_accuracy": dict(zip(names, per_class.tolist())),
            "confusion_matrix": confusion.tolist(),
        }
        title = f"{metrics['model']} on {split} ({metrics['num_samples']} images)"
        plot_confusion(confusion, names, self.dirpath / "confusion_matrix.png", f"{title}: top-1 {metrics['top1']:.4f}")
        plot_per_class(per_class, names, self.dirpath / "per_class_accuracy.png", title)
        mistakes_path = self.dirpath / "misclassified.png"
        if self.mistakes and trainer.datamodule is not None:
            self.plot_mistakes(names, trainer.datamodule, mistakes_path, f"{title}: most confident mistakes")
        self.metrics_path.write_text(json.dumps(metrics, indent=2))
        weakest = sorted(metrics["per_class_accuracy"].items(), key=lambda kv: kv[1])[:5]
        tta = f" (tta={self.tta}: {metrics['top1_tta']:.4f})" if self.tta else ""
        print(
            f"\n{title}\n  top-1 {metrics['top1']:.4f}{tta}   top-5 {metrics['top5']:.4f}   "
            f"loss {metrics['loss']:.4f}\n"
            f"  weakest classes: {', '.join(f'{n} {a:.3f}' for n, a in weakest)}\n"
            f"  wrote {self.metrics_path}, {self.dirpath / 'confusion_matrix.png'}, "
            f"{self.dirpath / 'per_class_accuracy.png'}" + (f", {mistakes_path}" if self.mistakes else "")
        )
