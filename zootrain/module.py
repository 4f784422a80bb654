"""One LightningModule for every zoo model: the network comes from the registry by name, never by family."""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics.aggregation import MeanMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from zoo import create_model, split_output

from .errors import TrainingDiverged
from .finetune import (
    FinetuneSpec,
    apply_bn_policy,
    build_param_groups,
    drop_frozen_gradients,
    freeze_for_run,
    frozen_groups_at,
)
from .optim import FUSED_CAPABLE, build_optimizer, scheduler_factory
from .schedules import build_scheduler

log = logging.getLogger(__name__)

# evaluate.py tta=...: the views whose mean class probabilities give the test-time-augmented prediction
TTA_VIEWS = {
    "flip": "the image and its mirror image",
    "flip_crops": "the image and its mirror image, each also shifted diagonally by 1/16 of its side (10 views)",
}


def augmented_views(x: torch.Tensor, tta: str) -> list[torch.Tensor]:
    """``TTA_VIEWS[tta]`` of a batch; shifted views repeat the border (replicate padding), as a crop would."""
    views = [x, x.flip(-1)]
    if tta == "flip_crops":
        shift = max(1, x.shape[-1] // 16)
        for image in (x, x.flip(-1)):
            padded = F.pad(image, (shift,) * 4, mode="replicate")
            height, width = x.shape[-2:]
            for dy, dx in ((0, 0), (0, 2), (2, 0), (2, 2)):
                top, left = dy * shift, dx * shift
                views.append(padded[..., top : top + height, left : left + width])
    return views


# reading the loss on the host waits for the GPU, so an accelerator's loss is checked only this often (and on an
# epoch's last step, before the checkpoints are written); a CPU's is checked every step, for free
FINITE_CHECK_EVERY = 50


class ZooClassifier(L.LightningModule):
    """Image classifier around ``zoo.create_model(model["name"], ...)``.

    Every argument is a plain container (no live objects), so checkpoints hold only tensors and plain data and
    ``load_from_checkpoint``/evaluation rebuild the module with ``weights_only=True`` loading.
    The loss adds each auxiliary output's cross-entropy times the model's ``aux_weights`` (GoogLeNet, Inception v3).
    The module owns the fine-tuning state: ``frozen_groups`` for the current epoch, from ``finetune``.
    """

    def __init__(
        self,
        model: dict,
        optimizer: dict,
        scheduler: dict | None = None,
        finetune: dict | None = None,
        label_smoothing: float = 0.0,
        compile: bool = False,
        channels_last: bool = False,
        class_names: list[str] | None = None,
        input_size: int | None = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.net = create_model(
            model["name"], num_classes=model["num_classes"], in_chans=model["in_chans"], **model.get("kwargs", {})
        )
        self.finetune_spec = FinetuneSpec(**(finetune or {}))
        self.frozen_groups: list[str] = []
        num_classes = model["num_classes"]
        top_k = min(5, num_classes)
        # top-5 only where it is reported (validation, test): each metric costs every training step
        self.metrics = torch.nn.ModuleDict(
            {
                f"{stage}_{name}": MulticlassAccuracy(num_classes, top_k=k, average="micro")
                for stage in ("train", "val", "test")
                for name, k in (("acc", 1), ("top5", top_k))
                if stage != "train" or name == "acc"
            }
        )
        for stage in ("train", "val", "test"):
            # no NaN check: it would read the loss on the host every step (training_step checks it on its own cadence)
            self.metrics[f"{stage}_loss"] = MeanMetric(nan_strategy="disable")
        self.test_per_class = MulticlassAccuracy(num_classes, average=None)
        self.test_confusion = MulticlassConfusionMatrix(num_classes)
        self.tta: str | None = None  # a TTA_VIEWS name: evaluate.py's tta=..., set by EvaluationReport
        self.test_acc_tta = MulticlassAccuracy(num_classes, average="micro")

    @property
    def example_input_array(self) -> torch.Tensor | None:
        """What Lightning's model summary runs to count multiply-adds (its FLOPs column), in the module's dtype:
        the summary feeds it unconverted, and precision=64 or 16-true has converted the weights."""
        size, channels = self.hparams.input_size, self.hparams.model["in_chans"]
        return torch.zeros(1, channels, size, size, dtype=self.dtype) if size else None

    # ----- setup -----
    def configure_model(self) -> None:
        if self.hparams.channels_last:
            self.net.to(memory_format=torch.channels_last)
        if self.hparams.compile and not getattr(self.net, "_compiled_call_impl", None):
            self.net.compile()  # in place: state_dict keys stay the same

    def setup(self, stage: str) -> None:
        if stage == "fit":
            freeze_for_run(self.net, self.finetune_spec)  # before configure_optimizers and before DDP wraps the net

    def on_train_epoch_start(self) -> None:
        self.frozen_groups = frozen_groups_at(self.net, self.finetune_spec, self.current_epoch)
        apply_bn_policy(self.net, self.frozen_groups, self.finetune_spec)
        self._say_what_thaws()

    def _say_what_thaws(self) -> None:
        """Gradual unfreezing on the console: which groups thaw at this epoch, at which learning rate."""
        epoch = self.current_epoch
        if epoch == 0 or not self.trainer.is_global_zero:
            return
        before = frozen_groups_at(self.net, self.finetune_spec, epoch - 1)
        thawed = [g for g in before if g not in self.frozen_groups]
        if thawed:
            lrs = {g["name"].removesuffix("/no_decay"): g["lr"] for g in self.trainer.optimizers[0].param_groups}
            log.info(
                f"epoch {epoch}: unfreezing {', '.join(f'{g} (lr {lrs[g]:.3g})' for g in thawed)} "
                f"(finetune.strategy={self.finetune_spec.strategy})"
            )

    def on_before_optimizer_step(self, optimizer) -> None:
        drop_frozen_gradients(self.net, self.frozen_groups, self.finetune_spec)

    def configure_optimizers(self) -> Any:
        opt_cfg = self.hparams.optimizer
        groups = build_param_groups(self.net, opt_cfg["lr"], opt_cfg.get("weight_decay", 0.0), self.finetune_spec)
        optimizer = build_optimizer(opt_cfg, groups, **self._fused_kwargs(opt_cfg))
        if not self.hparams.scheduler:
            return optimizer
        factory = scheduler_factory(self.hparams.scheduler)
        return {
            "optimizer": optimizer,
            "lr_scheduler": build_scheduler(factory, optimizer, int(self.trainer.estimated_stepping_batches)),
        }

    def _fused_kwargs(self, opt_cfg: dict) -> dict:
        """Fused optimizer kernels on CUDA when the optimizer supports them and the config does not say otherwise.

        Not with gradient clipping: Lightning refuses to clip for optimizers that unscale gradients themselves.
        """
        on_cuda = self.device.type == "cuda"
        supports = opt_cfg["_target_"] in FUSED_CAPABLE and "fused" not in opt_cfg and "foreach" not in opt_cfg
        clipping = self._trainer is not None and bool(self._trainer.gradient_clip_val)
        return {"fused": True} if on_cuda and supports and not clipping else {}

    # ----- steps -----
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return split_output(self.net(x))[0]

    def _loss(self, output, y) -> tuple[torch.Tensor, torch.Tensor]:
        """``y``: class indices, or class probabilities (N, classes) for mixed batches."""
        logits, aux = split_output(output)
        smoothing = self.hparams.label_smoothing
        loss = F.cross_entropy(logits, y, label_smoothing=smoothing)
        for weight, aux_logits in zip(self.net.aux_weights, aux):
            loss = loss + weight * F.cross_entropy(aux_logits, y, label_smoothing=smoothing)
        return loss, logits

    def _as_input(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.hparams.channels_last else x

    def _step(self, batch, batch_idx: int, stage: str) -> tuple[torch.Tensor, torch.Tensor]:
        x, y, *mixed = batch  # MixUp / CutMix batches add class-probability targets; accuracy reads the labels y
        loss, logits = self._loss(self.net(self._as_input(x)), mixed[0] if mixed else y)
        self.metrics[f"{stage}_loss"].update(loss.detach(), weight=len(y))
        for metric in self._accuracies(stage).values():
            metric.update(logits, y)
        # Lightning keeps a logged metric object and computes it over every update at the epoch's end: logging it
        # once per epoch is enough, and each log call costs about a LeNet-5 training step on a CPU
        if batch_idx == 0:
            self._log_epoch_metrics(stage)
        if stage == "train" and self._log_step_loss_now(batch_idx):
            self.log("train/loss_step", loss.detach(), prog_bar=True, on_step=True, on_epoch=False)
        return loss, logits

    def _accuracies(self, stage: str) -> dict[str, MulticlassAccuracy]:
        """This stage's accuracy metrics by name (acc, and top5 outside training)."""
        return {name: self.metrics[f"{stage}_{name}"] for name in ("acc", "top5") if f"{stage}_{name}" in self.metrics}

    def _log_epoch_metrics(self, stage: str) -> None:
        # training logs its loss per step too, so its epoch loss keeps the "_epoch" suffix metrics.csv and RunPlots read
        loss_key = "train/loss_epoch" if stage == "train" else f"{stage}/loss"
        self.log(loss_key, self.metrics[f"{stage}_loss"], prog_bar=True, on_step=False, on_epoch=True)
        for name, metric in self._accuracies(stage).items():
            self.log(f"{stage}/{name}", metric, prog_bar=name == "acc", on_step=False, on_epoch=True)

    def _log_step_loss_now(self, batch_idx: int) -> bool:
        """The step loss on the steps the loggers write (Lightning's ``log_every_n_steps`` rule) and on each epoch's
        first step, for the progress bar; logging it on the other steps would only be overwritten."""
        every = self.trainer.log_every_n_steps
        return batch_idx == 0 or (every > 0 and (self.global_step + 1) % every == 0)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss = self._step(batch, batch_idx, "train")[0]
        if self._check_finite_now(loss, batch_idx) and not torch.isfinite(loss):
            lr = self.trainer.optimizers[0].param_groups[0]["lr"]
            raise TrainingDiverged(
                f"the training loss became {loss.item()} (not a finite number) at epoch {self.current_epoch}, "
                f"step {self.global_step} "
                f"(lr {lr:g}); lower optimizer.lr, set trainer.gradient_clip_val=1.0, or train in precision=32-true. "
                "Checkpoints of earlier epochs are kept"
            )
        return loss

    def _check_finite_now(self, loss: torch.Tensor, batch_idx: int) -> bool:
        last_step = batch_idx + 1 >= self.trainer.num_training_batches
        return loss.device.type == "cpu" or batch_idx % FINITE_CHECK_EVERY == 0 or last_step

    def validation_step(self, batch, batch_idx: int) -> torch.Tensor:
        # the logits reach callbacks (TensorBoardPictures' confusion matrix)
        return self._step(batch, batch_idx, "val")[1]

    def test_step(self, batch, batch_idx: int) -> torch.Tensor:
        _, logits = self._step(batch, batch_idx, "test")
        self.test_per_class.update(logits, batch[1])
        self.test_confusion.update(logits, batch[1])
        if self.tta:
            self._test_augmented(batch, batch_idx)
        return logits  # EvaluationReport keeps the most confident mistakes

    def _test_augmented(self, batch, batch_idx: int) -> None:
        """``test/acc_tta``: accuracy of the mean class probabilities over the ``augmented_views``."""
        x, y = batch
        views = augmented_views(x, self.tta)
        probabilities = torch.stack([self(self._as_input(view)).softmax(-1) for view in views]).mean(0)
        self.test_acc_tta.update(probabilities, y)
        if batch_idx == 0:
            self.log("test/acc_tta", self.test_acc_tta, on_step=False, on_epoch=True)

    def on_test_epoch_start(self) -> None:
        self.test_per_class.reset()
        self.test_confusion.reset()
        self.test_acc_tta.reset()
