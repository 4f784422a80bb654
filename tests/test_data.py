"""The data layer: splits, class subsets, the CIFAR-10 JPEG zip and its cache, clear errors, image folders and the
batched path (run here on the CPU)."""

from __future__ import annotations

import io
import re
import urllib.error
import zipfile

import lightning as L
import pytest
import torch
import torch.nn as nn
from PIL import Image
from torchvision import datasets as tv_datasets
from torchvision.transforms.v2 import functional as F

from zootrain import data as zdata
from zootrain.data import CIFAR10_CLASSES, ZIP_ENV, BatchedLoader, DataConfigError, ImageClassificationData, cifar_jpeg
from zootrain.data.augment import random_crop, random_hflip


def digits(tmp_path, **kwargs) -> ImageClassificationData:
    return ImageClassificationData("digits", root=str(tmp_path), **kwargs)


def image_set(images: torch.Tensor) -> set[bytes]:
    return {img.numpy().tobytes() for img in images}


def epoch(loader) -> tuple[torch.Tensor, ...]:
    """A pass's batches concatenated: (images, labels), and the targets of mixed batches."""
    return tuple(torch.cat(parts) for parts in zip(*loader))


# ----- digits: shapes, splits -----
def test_digits_batches_and_attributes(tmp_path):
    dm = digits(tmp_path, image_size=32, batch_size=64)
    assert (dm.num_classes, dm.in_chans, dm.native_size) == (10, 1, 8)
    assert dm.class_names == [str(d) for d in range(10)]
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (64, 1, 32, 32) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and 0 <= y.min() and y.max() < 10


def test_digits_splits_are_disjoint_stratified_and_seeded(tmp_path):
    dm = digits(tmp_path)
    dm.setup("fit")
    dm.setup("test")
    train, val, test = (dm.splits[s] for s in ("train", "val", "test"))
    assert dm.test_split == "test"
    assert len(train) + len(val) + len(test) == 1797
    assert abs(len(test) - 0.15 * 1797) < 10
    sets = [image_set(s.images) for s in (train, val, test)]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    # stratified: every class gives 10% of its non-test images to validation, to the nearest whole image
    per_class = torch.bincount(train.labels, minlength=10) + torch.bincount(val.labels, minlength=10)
    assert (torch.bincount(val.labels, minlength=10) - per_class * 0.1).abs().max() <= 1

    same = digits(tmp_path)
    same.setup("fit")
    assert torch.equal(same.splits["val"].images, val.images)
    other = digits(tmp_path, split_seed=1)
    other.setup("fit")
    other.setup("test")
    assert image_set(other.splits["val"].images) != sets[1]
    assert torch.equal(other.splits["test"].images, test.images)  # the held-out test split never moves


def test_dataset_statistics_normalise_to_zero_mean_unit_std(tmp_path):
    dm = digits(tmp_path, augment=False)  # native 8x8: the stored statistics are of exactly these pixels
    dm.setup("fit")
    x, _ = epoch(dm.train_dataloader())
    assert abs(float(x.mean())) < 0.05 and abs(float(x.std()) - 1) < 0.05


def test_classes_subset_relabels_and_samples_per_class(tmp_path):
    full = digits(tmp_path)
    full.setup("fit")
    dm = digits(tmp_path, classes=[3, 1], samples_per_class=5)
    assert dm.num_classes == 2 and dm.class_names == ["3", "1"]
    dm.setup("fit")
    train, val = dm.splits["train"], dm.splits["val"]
    assert torch.bincount(train.labels).tolist() == [5, 5]
    for new, old in enumerate([3, 1]):
        # validation untouched: exactly the full run's validation images of that class
        assert torch.equal(val.images[val.labels == new], full.splits["val"].images[full.splits["val"].labels == old])
        assert image_set(train.images[train.labels == new]) <= image_set(
            full.splits["train"].images[full.splits["train"].labels == old]
        )
    _, y = epoch(dm.train_dataloader())
    assert set(y.tolist()) == {0, 1}
    with pytest.raises(DataConfigError, match="dataset.classes"):
        digits(tmp_path, classes=[3, 10])


def test_model_input_is_recorded_for_rebuilding(tmp_path):
    dm = digits(tmp_path)
    dm.set_model_input(32, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))  # 3-channel stats: not for 1-channel digits
    assert dm.mean == zdata.DIGITS_MEAN
    dm.set_model_input(28, [0.5], [0.25])
    rebuilt = ImageClassificationData(**dm.hparams)
    assert (rebuilt.image_size, rebuilt.mean, rebuilt.std) == (28, (0.5,), (0.25,))
    x, _ = next(iter(rebuilt.val_dataloader()))
    assert x.shape[-2:] == (28, 28)


# ----- CIFAR-10 from a JPEG zip or folder -----
def write_fake_cifar_zip(path, per_class: int = 3):
    """10 classes x per_class JPEGs; class c is a flat colour with red = 20c. Written in reverse class order."""
    with zipfile.ZipFile(path, "w") as archive:
        for c in reversed(range(10)):
            for k in range(per_class):
                buffer = io.BytesIO()
                Image.new("RGB", (32, 32), (20 * c, 40 * k, 200 - 20 * c)).save(buffer, "JPEG", quality=95)
                archive.writestr(f"cifar10/train/{CIFAR10_CLASSES[c]}/{k:04d}.jpg", buffer.getvalue())


@pytest.mark.parametrize("layout", ["zip_in_root", "zip_path", "folder_in_root"])
def test_cifar10_jpegs_load_in_canonical_order_and_cache(tmp_path, monkeypatch, layout):
    root = tmp_path / "data"
    root.mkdir()
    archive = tmp_path / "fake.zip" if layout == "zip_path" else root / "cifar10-train-jpeg.zip"
    write_fake_cifar_zip(archive)
    if layout == "folder_in_root":
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(root)
        archive.unlink()
    args = dict(
        root=str(root),
        cache_dir=str(tmp_path / "cache"),
        val_fraction=1 / 3,
        augment=False,
        zip_path=str(archive) if layout == "zip_path" else None,
    )
    dm = ImageClassificationData("cifar10", **args)
    assert dm.class_names == list(CIFAR10_CLASSES)
    dm.setup("fit")
    images = torch.cat([dm.splits["train"].images, dm.splits["val"].images])
    labels = torch.cat([dm.splits["train"].labels, dm.splits["val"].labels])
    assert images.shape == (30, 3, 32, 32) and images.dtype == torch.uint8
    assert torch.bincount(labels).tolist() == [3] * 10 and len(dm.splits["val"]) == 10
    red = images[:, 0].float().mean(dim=(1, 2))
    assert (red - 20 * labels).abs().max() < 4  # each image carries its canonical class index
    caches = list((tmp_path / "cache").glob("cifar10-train-*.pt"))
    assert len(caches) == 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again instead of reading the cache")

    monkeypatch.setattr(cifar_jpeg, "decode_images", no_decoding)
    again = ImageClassificationData("cifar10", **args)
    again.setup("fit")
    assert torch.equal(again.splits["val"].images, dm.splits["val"].images)
    with pytest.warns(UserWarning, match="testing on the validation split"):
        again.setup("test")  # the zip holds no test images: the validation split stands in
    assert again.test_split == "val" and again.splits["test"] is again.splits["val"]


class FakeTorchvisionCIFAR10:
    """Stands in for torchvision's CIFAR10 files: NHWC uint8 arrays whose pixels equal the label."""

    def __init__(self, root, train, download):
        import numpy as np

        n = 40 if train else 20
        self.targets = [i % 10 for i in range(n)]
        self.data = np.broadcast_to(np.array(self.targets, dtype=np.uint8)[:, None, None, None], (n, 32, 32, 3)).copy()


def test_cifar10_prefers_torchvisions_format_which_has_a_test_split(tmp_path, monkeypatch):
    monkeypatch.setattr(tv_datasets, "CIFAR10", FakeTorchvisionCIFAR10)
    write_fake_cifar_zip(tmp_path / "cifar10-train-jpeg.zip")  # present, but torchvision's format comes first
    dm = ImageClassificationData("cifar10", root=str(tmp_path), cache_dir=str(tmp_path / "cache"), val_fraction=0.25)
    dm.setup("fit")
    dm.setup("test")
    assert dm.test_split == "test" and len(dm.splits["test"]) == 20
    train = dm.splits["train"]
    assert len(train) + len(dm.splits["val"]) == 40 and train.images.shape[1:] == (3, 32, 32)
    assert torch.equal(train.images[:, :, 5, 7], train.labels[:, None].expand(-1, 3).to(torch.uint8))
    assert not (tmp_path / "cache").exists()


def test_missing_cifar10_says_where_it_looked_and_what_to_do(tmp_path):
    root = tmp_path / "empty"
    dm = ImageClassificationData("cifar10", root=str(root))
    with pytest.raises(DataConfigError) as info:
        dm.setup("fit")
    message = str(info.value)
    for expected in [
        str(root / "cifar-10-batches-py"),
        str(root / "cifar10" / "train"),
        str(root / "cifar10-train-jpeg.zip"),
        "dataset.download=true",
        "dataset.zip_path=",
        ZIP_ENV,
    ]:
        assert expected in message


def test_offline_download_ends_in_a_clear_error(tmp_path, monkeypatch):
    def offline(self):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(tv_datasets.MNIST, "download", offline)
    dm = ImageClassificationData("mnist", root=str(tmp_path), download=True)
    with pytest.raises(DataConfigError) as info:
        dm.prepare_data()
    message = str(info.value)
    assert "download failed: URLError" in message and str(tmp_path / "MNIST" / "raw") in message
    assert "dataset.download=true" in message


def test_the_retired_loader_setting_of_old_checkpoints_is_ignored_with_a_notice(tmp_path):
    """Every checkpoint of 0.2 stores dataset.loader; evaluating one must still rebuild its data."""
    with pytest.warns(UserWarning, match="dataset.loader is gone.*in-memory datasets always take the batched path"):
        dm = ImageClassificationData("digits", root=str(tmp_path), loader="per_image", augment=True)
    assert isinstance(dm.train_dataloader(), BatchedLoader) and dm.augmentation.policy == "crop_flip"


# ----- image folders -----
def write_image_folder(root, classes=("cat", "dog", "ant"), per_class=4):
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for k in range(per_class):
            Image.new("RGB", (40, 30), (60 * c, 10 * k, 0)).save(root / name / f"{k}.png")


def test_imagefolder_flat_layout(tmp_path):
    write_image_folder(tmp_path / "imgs")
    dm = ImageClassificationData(
        "imagefolder",
        root=str(tmp_path / "imgs"),
        image_size=32,
        batch_size=4,
        num_workers=0,
        val_fraction=0.25,
        classes=[2, 0],
    )
    assert dm.class_names == ["dog", "ant"] and dm.num_classes == 2 and dm.in_chans == 3
    dm.setup("fit")
    assert len(dm.splits["train"]) == 6 and len(dm.splits["val"]) == 2
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 3, 32, 32) and x.dtype == torch.float32 and set(y.tolist()) <= {0, 1}
    xv, _ = epoch(dm.val_dataloader())
    assert xv.shape == (2, 3, 32, 32)


def test_imagefolder_split_layout_uses_its_val_and_test_trees(tmp_path):
    write_image_folder(tmp_path / "train")
    write_image_folder(tmp_path / "val", per_class=1)
    write_image_folder(tmp_path / "test", classes=("ant", "dog"), per_class=2)
    dm = ImageClassificationData("imagefolder", root=str(tmp_path), image_size=24, batch_size=8, num_workers=0)
    assert dm.class_names == ["ant", "cat", "dog"]
    dm.setup("fit")
    dm.setup("test")
    assert len(dm.splits["train"]) == 12 and len(dm.splits["val"]) == 3
    assert sorted(dm.splits["test"].labels.tolist()) == [0, 0, 2, 2]  # labels follow the training folder's classes
    x, _ = epoch(dm.test_dataloader())
    assert x.shape == (4, 3, 24, 24)


@pytest.mark.parametrize("name", ["imagefolder", "imagenet"])
def test_missing_image_folder_names_the_folder(tmp_path, name):
    with pytest.raises(DataConfigError, match=f"(?s){re.escape(str(tmp_path / 'nowhere'))}.*dataset.root="):
        ImageClassificationData(name, root=str(tmp_path / "nowhere"))


# ----- the batched path (on the CPU here) -----
def test_batched_path_matches_the_per_image_preprocessing(tmp_path):
    """In-memory data always takes the batched path; its evaluation batches are ``preprocess`` of each image."""
    kwargs = dict(image_size=32, batch_size=100, augment="crop_flip")
    resident = digits(tmp_path, **kwargs)
    loader = resident.val_dataloader()
    assert isinstance(loader, BatchedLoader) and len(loader) == -(-len(resident.splits["val"]) // 100)
    # evaluation: no randomness, so the very same numbers as the per-image preprocessing
    one_by_one = zdata.preprocess(32, resident.mean, resident.std, centre_crop=False)
    expected = torch.stack([one_by_one(image) for image in resident.splits["val"].images])
    torch.testing.assert_close(epoch(loader)[0], expected, atol=1e-5, rtol=0)
    # training: augmented; the same shapes, dtypes and statistics as the unaugmented images, other numbers
    x_res, y_res = epoch(resident.train_dataloader())
    x_plain, y_plain = epoch(digits(tmp_path, **{**kwargs, "augment": "none"}).train_dataloader())
    assert x_res.shape == x_plain.shape and x_res.dtype == x_plain.dtype and y_res.dtype == y_plain.dtype
    assert abs(float(x_res.mean() - x_plain.mean())) < 0.1 and abs(float(x_res.std() - x_plain.std())) < 0.1
    assert not torch.equal(x_res, x_plain)


def test_batched_crop_and_flip_act_per_image():
    images = torch.randint(1, 256, (16, 3, 8, 6), dtype=torch.uint8)
    generator = torch.Generator().manual_seed(0)
    cropped = random_crop(images, 2, generator)
    padded = F.pad(images, [2])
    offsets = set()
    for out, pad in zip(cropped, padded):
        match = [(dy, dx) for dy in range(5) for dx in range(5) if torch.equal(out, pad[:, dy : dy + 8, dx : dx + 6])]
        assert match
        offsets.add(match[0])
    assert len(offsets) > 1
    flipped = random_hflip(images, generator)
    was_flipped = [torch.equal(f, img.flip(-1)) for f, img in zip(flipped, images)]
    assert all(torch.equal(f, img) or w for f, img, w in zip(flipped, images, was_flipped))
    assert 0 < sum(was_flipped) < 16


def test_device_batch_loader_shards_ranks_disjointly():
    n = 101
    images, labels = torch.zeros(n, 1, 4, 4, dtype=torch.uint8), torch.arange(n)

    def loader(rank: int, train: bool) -> BatchedLoader:
        return BatchedLoader(images, labels, 8, train=train, seed=3, rank=rank, world_size=2)

    train = [loader(r, True) for r in (0, 1)]
    assert len(train[0]) == len(train[1]) == 50 // 8
    for _ in range(2):  # each pass a new permutation, still disjoint
        seen = [epoch(ld)[1] for ld in train]
        assert len(seen[0]) == len(seen[1]) == 48
        assert not set(seen[0].tolist()) & set(seen[1].tolist())
    assert train[0].sampler.epoch == 2 and not torch.equal(seen[0], epoch(loader(0, True))[1])
    evaluation = [epoch(loader(r, False))[1] for r in (0, 1)]
    assert sorted(torch.cat(evaluation).tolist()) == list(range(n))  # every image exactly once


class _TinyClassifier(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))

    def training_step(self, batch, _):
        x, y = batch
        return nn.functional.cross_entropy(self.net(x), y)

    def validation_step(self, batch, _):
        x, y = batch
        self.log("val_loss", nn.functional.cross_entropy(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_lightning_trains_from_the_batched_loader(tmp_path):
    dm = digits(tmp_path, batch_size=32)
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=2,
        limit_train_batches=3,
        limit_val_batches=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(_TinyClassifier(), datamodule=dm)
    loader = trainer.train_dataloader
    assert isinstance(loader, BatchedLoader) and loader.images.device.type == "cpu"
    assert loader.sampler.epoch == 2  # Lightning set each epoch; the last pass advanced it
    assert trainer.global_step == 6
