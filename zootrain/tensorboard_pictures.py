"""Pictures in TensorBoard next to the curves: ``logger=tensorboard`` adds this callback (configs/logger).

tensorboard --logdir logs/train/runs/<run>/tensorboard    # then open http://localhost:6006, tab IMAGES
"""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger

from zoo import visualize

from .callbacks import validation_images
from .plots import confusion_figure


class TensorBoardPictures(L.Callback):
    """Per validation epoch: the first-layer filters, each stage's feature maps for one fixed validation image, and
    the validation confusion matrix (summed over processes). Does nothing without a ``TensorBoardLogger``."""

    def __init__(self) -> None:
        self.image: torch.Tensor | None = None
        self.confusion: torch.Tensor | None = None

    @staticmethod
    def _writer(trainer):
        return next((lg.experiment for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)

    def on_fit_start(self, trainer, pl_module) -> None:
        if self._writer(trainer) is not None and trainer.is_global_zero:
            self.image = validation_images(trainer.datamodule, 1)
            self._log_filters(trainer, pl_module, step=0)  # before training

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        num_classes = pl_module.net.num_classes
        self.confusion = torch.zeros(num_classes, num_classes, dtype=torch.long, device=pl_module.device)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        num_classes = len(self.confusion)
        pairs = batch[1] * num_classes + outputs.argmax(-1)
        self.confusion += torch.bincount(pairs, minlength=num_classes**2).view(num_classes, num_classes)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        writer = self._writer(trainer)
        if writer is None or trainer.sanity_checking:
            return
        confusion = trainer.strategy.reduce(self.confusion, reduce_op="sum")  # collective: every rank takes part
        if not trainer.is_global_zero:
            return
        step = trainer.current_epoch + 1
        names = pl_module.hparams.class_names or [str(i) for i in range(len(confusion))]
        writer.add_figure("confusion_matrix/val", confusion_figure(confusion.cpu(), names, f"epoch {step}"), step)
        self._log_filters(trainer, pl_module, step)
        data = trainer.datamodule
        shown = visualize.to_display(self.image[0], data.mean, data.std)
        activations = visualize.stage_activations(pl_module.net, self.image.to(pl_module.device))
        for stage, activation in activations.items():
            fig = visualize.feature_map_figure(shown, activation, f"{stage}, epoch {step}")
            writer.add_figure(f"feature_maps/{stage}", fig, step)

    @staticmethod
    def _log_filters(trainer, pl_module, step: int) -> None:
        net = pl_module.net
        grid = visualize.filter_grid(net.get_submodule(net.info.first_conv).weight)
        TensorBoardPictures._writer(trainer).add_image("filters/first_layer", grid, step, dataformats="HWC")
