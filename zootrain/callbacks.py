"""Callbacks that leave the run's pictures behind."""
from __future__ import annotations

from pathlib import Path

import json

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

from .plots import plot_confusion, plot_curves, plot_filters, plot_per_class


class RunPlots(L.Callback):
    """Writes ``filters_before.png``/``filters_after.png`` (first convolution) and ``curves.png`` (per epoch).

    The per-epoch history is part of the checkpoint, so a resumed run's curves include the epochs before the restart.
    """

    def __init__(self, dirpath: str):
        self.dirpath = Path(dirpath)
        self.history: list[dict[str, float]] = []

    def _first_conv(self, pl_module):
        net = pl_module.net
        return net.get_submodule(net.info.first_conv).weight

    @rank_zero_only
    def on_fit_start(self, trainer, pl_module) -> None:
        self.dirpath.mkdir(parents=True, exist_ok=True)
        if not self.history:
            plot_filters(self._first_conv(pl_module), self.dirpath / "filters_before.png",
                         f"{pl_module.net.info.name}: first-layer filters before training")

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        metrics = trainer.callback_metrics
        row = {"epoch": trainer.current_epoch + 1}
        for stage in ("train", "val"):
            for name in ("loss", "acc"):
                value = metrics.get(f"{stage}/{name}_epoch", metrics.get(f"{stage}/{name}"))
                if value is not None:
                    row[f"{stage}/{name}"] = float(value)
        self.history.append(row)
        if trainer.is_global_zero:
            plot_curves(self.history, self.dirpath / "curves.png")

    @rank_zero_only
    def on_fit_end(self, trainer, pl_module) -> None:
        plot_filters(self._first_conv(pl_module), self.dirpath / "filters_after.png",
                     f"{pl_module.net.info.name}: first-layer filters after {trainer.current_epoch} epochs")

    def state_dict(self) -> dict:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict) -> None:
        self.history = list(state_dict["history"])


class EvaluationReport(L.Callback):
    """After ``trainer.test``: top-1/top-5, per-class accuracy and the confusion matrix (synchronised over
    processes) to ``metrics.json``, ``confusion_matrix.png`` and ``per_class_accuracy.png``, and a summary."""

    def __init__(self, dirpath: Path, checkpoint: str):
        self.dirpath, self.checkpoint = Path(dirpath), checkpoint
        self.metrics_path = self.dirpath / "metrics.json"

    def on_test_end(self, trainer, pl_module) -> None:
        per_class = pl_module.test_per_class.compute().cpu()  # collective: every rank takes part
        confusion = pl_module.test_confusion.compute().cpu()
        if not trainer.is_global_zero:
            return
        logged = trainer.callback_metrics
        names = pl_module.hparams.class_names or [str(i) for i in range(len(per_class))]
        split = trainer.datamodule.test_split if trainer.datamodule is not None else "test"
        metrics = {
            "checkpoint": self.checkpoint, "model": pl_module.net.info.name, "split": split,
            "num_samples": int(confusion.sum()), "top1": float(logged["test/acc"]),
            "top5": float(logged["test/top5"]), "loss": float(logged["test/loss"]),
            "per_class_accuracy": dict(zip(names, per_class.tolist())), "confusion_matrix": confusion.tolist(),
        }
        title = f"{metrics['model']} on {split} ({metrics['num_samples']} images)"
        plot_confusion(confusion, names, self.dirpath / "confusion_matrix.png", f"{title}: top-1 {metrics['top1']:.4f}")
        plot_per_class(per_class, names, self.dirpath / "per_class_accuracy.png", title)
        self.metrics_path.write_text(json.dumps(metrics, indent=2))
        weakest = sorted(metrics["per_class_accuracy"].items(), key=lambda kv: kv[1])[:5]
        print(f"\n{title}\n  top-1 {metrics['top1']:.4f}   top-5 {metrics['top5']:.4f}   loss {metrics['loss']:.4f}\n"
              f"  weakest classes: {', '.join(f'{n} {a:.3f}' for n, a in weakest)}\n"
              f"  wrote {self.metrics_path}, {self.dirpath / 'confusion_matrix.png'}, "
              f"{self.dirpath / 'per_class_accuracy.png'}")
