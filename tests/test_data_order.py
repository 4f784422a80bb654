"""Exact resume needs data that depends only on (seed, epoch); and the batched and per-image paths apply the same
augmentation policy (one table, ``zootrain.data.augment.POLICIES``)."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from test_data import _TinyClassifier, epoch

from zootrain.data import ImageClassificationData
from zootrain.data.augment import BATCHED_POLICIES, POLICIES, build_transform, prepare_batch


def digits(tmp_path, loader: str) -> ImageClassificationData:
    return ImageClassificationData(
        "digits", root=str(tmp_path), loader=loader, augment=True, batch_size=32, image_size=16, samples_per_class=20
    )


@pytest.mark.parametrize("loader", ["batched", "per_image"])
def test_an_epoch_is_the_same_whether_or_not_earlier_epochs_ran(tmp_path, loader):
    uninterrupted = digits(tmp_path, loader).train_dataloader()
    epochs = [epoch(uninterrupted) for _ in range(3)]  # each pass moves on one epoch, as set_epoch does in training
    resumed = digits(tmp_path, loader).train_dataloader()
    resumed.sampler.set_epoch(2)  # what Lightning does when a run resumes at epoch 2
    x, y = epoch(resumed)
    assert torch.equal(y, epochs[2][1]) and torch.equal(x, epochs[2][0])  # same order, same augmentation
    assert not torch.equal(epochs[1][1], epochs[2][1])  # and each epoch its own order


def test_the_per_image_order_does_not_depend_on_the_global_rng(tmp_path):
    loader = digits(tmp_path, "per_image").train_dataloader()
    torch.manual_seed(1)
    first = epoch(loader)
    loader.sampler.set_epoch(0)
    torch.manual_seed(2)
    assert all(torch.equal(a, b) for a, b in zip(first, epoch(loader)))


@pytest.mark.parametrize("policy", BATCHED_POLICIES)
def test_batched_and_per_image_augmentation_agree_in_distribution(policy):
    """One asymmetric image augmented 6,000 times by each path: the mean images agree (crop offsets, padding and
    flip probability all shape them); ``none`` must leave the image exactly as the per-image path does."""
    n, native, size = 6000, 8, 12
    ramp = torch.arange(native, dtype=torch.float32).mul(255 / (native - 1))
    image = torch.stack([ramp.expand(native, native), ramp.expand(native, native).T, torch.full((8, 8), 255.0)])
    image = image.to(torch.uint8)
    mean, std = (0.5,) * 3, (0.5,) * 3
    per_image = build_transform(policy, True, native, size, mean, std)
    torch.manual_seed(0)
    one_by_one = torch.stack([per_image(image) for _ in range(n)])
    batched = prepare_batch(image.expand(n, -1, -1, -1), policy, size, mean, std, torch.Generator().manual_seed(0))
    assert batched.shape == one_by_one.shape == (n, 3, size, size)
    if POLICIES[policy] == POLICIES["none"]:
        torch.testing.assert_close(batched, one_by_one, atol=1e-5, rtol=0)
    else:
        assert (batched.mean(0) - one_by_one.mean(0)).abs().max() < 0.05
        assert (batched.std(0) - one_by_one.std(0)).abs().max() < 0.05


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
