"""Training augmentation chosen by ``dataset.augment`` and its sibling settings: every policy on the batched path
(in-memory data) and on image files, seeded, each image its own draw; MixUp / CutMix batches carry soft targets the
loss reads and the labels accuracy reads."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import compose_config
from omegaconf import OmegaConf
from PIL import Image
from test_data import epoch

from zootrain.data import POLICIES, Augmentation, BatchedLoader, DataConfigError, ImageClassificationData
from zootrain.module import ZooClassifier

MIXING = {"mixup_alpha": 0.4, "cutmix_alpha": 1.0}


def write_noise_folder(root, classes=("ant", "cat", "dog"), per_class=8):
    """Textured images (flat colours look the same cropped or flipped), 40x30, one sub-folder per class."""
    generator = torch.Generator().manual_seed(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for k in range(per_class):
            pixels = torch.randint(0, 256, (30, 40, 3), dtype=torch.uint8, generator=generator)
            Image.fromarray(pixels.numpy()).save(root / name / f"{k}.png")


def training_data(tmp_path, path: str, **augment) -> ImageClassificationData:
    """``batched``: 50 digits in memory; ``files``: 18 images of an image folder (6 for validation)."""
    if path == "batched":
        return ImageClassificationData(
            "digits", root=str(tmp_path), batch_size=25, image_size=16, samples_per_class=5, **augment
        )
    if not (tmp_path / "imgs").exists():
        write_noise_folder(tmp_path / "imgs")
    return ImageClassificationData(
        "imagefolder",
        root=str(tmp_path / "imgs"),
        batch_size=6,
        image_size=16,
        num_workers=0,
        val_fraction=0.25,
        **augment,
    )


@pytest.mark.parametrize("path", ["batched", "files"])
@pytest.mark.parametrize("policy", POLICIES)
def test_every_policy_runs_on_both_paths_seeded(tmp_path, path, policy):
    x, y = epoch(training_data(tmp_path, path, augment=policy).train_dataloader())
    again, _ = epoch(training_data(tmp_path, path, augment=policy).train_dataloader())
    channels = 1 if path == "batched" else 3
    assert x.shape[1:] == (channels, 16, 16) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.equal(x, again)  # seeded: the same run twice, the same images
    plain, _ = epoch(training_data(tmp_path, path, augment="none").train_dataloader())
    assert torch.equal(x, plain) == (policy == "none")


def test_a_policy_op_draws_for_each_image_of_a_batch():
    image = torch.arange(3 * 16 * 16).reshape(1, 3, 16, 16).to(torch.uint8)
    loader = BatchedLoader(
        image.expand(64, -1, -1, -1), torch.zeros(64, dtype=torch.long), 64, train=True,
        augmentation=Augmentation("randaugment", hflip=False), num_classes=2,
    )  # fmt: skip
    x, _ = next(iter(loader))
    assert len({row.numpy().tobytes() for row in x}) > 32  # torchvision on a batch would give one draw for all


@pytest.mark.parametrize("path", ["batched", "files"])
def test_mixed_batches_carry_soft_targets_and_the_hard_labels(tmp_path, path):
    x, y, targets = epoch(training_data(tmp_path, path, **MIXING).train_dataloader())
    _, unmixed_y = epoch(training_data(tmp_path, path).train_dataloader())
    assert torch.equal(y, unmixed_y)  # the labels of the images as drawn, for the accuracy metric
    assert targets.shape == (len(y), 3 if path == "files" else 10)
    torch.testing.assert_close(targets.sum(1), torch.ones(len(y)))
    assert not torch.equal(targets, F.one_hot(y, targets.shape[1]).float())  # mixed
    val = next(iter(training_data(tmp_path, path, **MIXING).val_dataloader()))
    assert len(val) == 2  # evaluation is never mixed


def test_erasing_blanks_a_box_of_some_images(tmp_path):
    x, _ = epoch(training_data(tmp_path, "files", augment="none", erasing=1.0).train_dataloader())
    blanked = (x == 0).all(dim=1)  # erased to 0: the mean colour once normalised
    assert blanked.flatten(1).any(1).all()


def test_the_command_line_selects_policy_erasing_and_mixing(tmp_path):
    overrides = ["dataset.augment=trivialaugment", "dataset.erasing=0.25", "dataset.mixup_alpha=0.2"]
    cfg = compose_config("train", [f"paths.data_dir={tmp_path}", *overrides], tmp_path / "run")
    dm = ImageClassificationData(**OmegaConf.to_container(cfg.dataset, resolve=True))
    assert dm.augmentation == Augmentation("trivialaugment", 0.25, 0.2, 0.0, hflip=False)  # digits: no mirroring
    assert ImageClassificationData("digits", augment=False).augmentation.policy == "none"  # the old boolean
    assert ImageClassificationData("digits", augment=True).augmentation.policy == "crop_flip"


@pytest.mark.parametrize(
    "setting, message",
    [
        ({"augment": "randaugmnet"}, "dataset.augment='randaugmnet'; choose one of none, crop_flip, randaugment"),
        ({"erasing": 1.5}, "dataset.erasing=1.5; it must be at least 0 and at most 1"),
        ({"mixup_alpha": -1.0}, "dataset.mixup_alpha=-1.0; it must be at least 0"),
    ],
)
def test_a_bad_augmentation_setting_is_one_error_naming_it(setting, message):
    with pytest.raises(DataConfigError, match=message.replace("[", r"\[")):
        ImageClassificationData("digits", **setting)


def test_the_loss_reads_class_probabilities_with_label_smoothing():
    module = ZooClassifier(
        model={"name": "lenet5", "num_classes": 10, "in_chans": 1}, optimizer={"lr": 0.1}, label_smoothing=0.1
    )
    output, labels = torch.randn(6, 10), torch.arange(6)
    hard, _ = module._loss(output, labels)
    soft, _ = module._loss(output, F.one_hot(labels, 10).float())
    torch.testing.assert_close(hard, soft)
