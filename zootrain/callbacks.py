"""Callbacks that leave the run's pictures behind."""
from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

from .plots import plot_curves, plot_filters


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
