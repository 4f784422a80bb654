"""Exact resume needs data that depends only on (seed, epoch), on the batched path (in-memory data) and on the
per-image path (image files) alike."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from test_data import _TinyClassifier, epoch, write_image_folder

from zootrain.data import ImageClassificationData


def training_data(tmp_path, path: str, **kwargs) -> ImageClassificationData:
    """``batched``: digits in memory; ``per_image``: an image folder's files."""
    if path == "batched":
        return ImageClassificationData(
            "digits", root=str(tmp_path), batch_size=32, image_size=16, samples_per_class=20, **kwargs
        )
    if not (tmp_path / "imgs").exists():
        write_image_folder(tmp_path / "imgs", per_class=8)
    return ImageClassificationData(
        "imagefolder",
        root=str(tmp_path / "imgs"),
        batch_size=8,
        image_size=16,
        num_workers=0,
        val_fraction=0.0,
        **kwargs,
    )


@pytest.mark.parametrize("path", ["batched", "per_image"])
@pytest.mark.parametrize("augment", [{}, {"augment": "randaugment", "erasing": 0.5, "mixup_alpha": 0.4}])
def test_an_epoch_is_the_same_whether_or_not_earlier_epochs_ran(tmp_path, path, augment):
    uninterrupted = training_data(tmp_path, path, **augment).train_dataloader()
    epochs = [epoch(uninterrupted) for _ in range(3)]  # each pass moves on one epoch, as set_epoch does in training
    resumed = training_data(tmp_path, path, **augment).train_dataloader()
    resumed.sampler.set_epoch(2)  # what Lightning does when a run resumes at epoch 2
    x, y, *targets = epoch(resumed)
    assert torch.equal(y, epochs[2][1]) and torch.equal(x, epochs[2][0])  # same order, same augmentation
    assert all(torch.equal(t, again) for t, again in zip(targets, epochs[2][2:], strict=True))  # and mixing
    assert not torch.equal(epochs[1][1], epochs[2][1])  # and each epoch its own order


def test_the_per_image_order_does_not_depend_on_the_global_rng(tmp_path):
    loader = training_data(tmp_path, "per_image").train_dataloader()
    torch.manual_seed(1)
    first = epoch(loader)
    loader.sampler.set_epoch(0)
    torch.manual_seed(2)
    assert all(torch.equal(a, b) for a, b in zip(first, epoch(loader)))


class _RecordingClassifier(_TinyClassifier):
    def __init__(self):
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def training_step(self, batch, index):
        self.seen.append(batch[1].clone())
        return super().training_step(batch, index)


def test_overfit_batches_sees_the_same_batches_every_epoch(tmp_path):
    """Lightning cannot swap the batched loader's sampler for a sequential one: the datamodule stops shuffling."""
    model = _RecordingClassifier()
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=2,
        overfit_batches=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(model, datamodule=ImageClassificationData("digits", root=str(tmp_path), batch_size=16))
    assert len(model.seen) == 4
    assert torch.equal(torch.cat(model.seen[:2]), torch.cat(model.seen[2:]))
