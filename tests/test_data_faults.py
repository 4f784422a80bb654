"""Data faults users hit (issue 11): class-sorted validation, corrupt images, killed or truncated cache writes, a
non-zip zip_path. Each ends in the documented behaviour, never a traceback that hides the file."""

from __future__ import annotations

import os
import zipfile

import pytest
import torch
from test_data import epoch, write_fake_cifar_zip, write_image_folder

from zootrain.data import DataConfigError, ImageClassificationData


def cifar_jpegs(tmp_path, per_class: int = 3, **kwargs) -> ImageClassificationData:
    archive = tmp_path / "fake.zip"
    if not archive.exists():
        write_fake_cifar_zip(archive, per_class)
    return ImageClassificationData(
        "cifar10", root=str(tmp_path), zip_path=str(archive), cache_dir=str(tmp_path / "cache"), augment=False, **kwargs
    )


def classes_in_first(labels: torch.Tensor, n: int) -> int:
    return len(set(labels[:n].tolist()))


# ----- validation order: a truncated pass (limit_val_batches) must see every class, not one or two -----
def test_jpeg_validation_split_is_stratified_but_not_class_sorted(tmp_path):
    dm = cifar_jpegs(tmp_path, per_class=10, val_fraction=0.5, batch_size=10)
    dm.setup("fit")
    val = dm.splits["val"].labels
    assert torch.bincount(val).tolist() == [5] * 10  # still stratified
    assert classes_in_first(val, 10) >= 5  # class-sorted, the first batch would hold 2 classes
    again = cifar_jpegs(tmp_path, per_class=10, val_fraction=0.5, batch_size=10)
    again.setup("fit")
    assert torch.equal(again.splits["val"].labels, val)  # seeded: the same order every run


def test_folder_validation_and_test_trees_are_served_in_a_mixed_order(tmp_path):
    classes = tuple(f"c{k}" for k in range(6))
    for split in ("train", "val", "test"):
        write_image_folder(tmp_path / split, classes=classes, per_class=4)
    dm = ImageClassificationData("imagefolder", root=str(tmp_path), num_workers=0)
    dm.setup("fit")
    dm.setup("test")
    for split in ("val", "test"):
        labels = dm.splits[split].labels
        assert sorted(labels.tolist()) == sorted(list(range(6)) * 4)
        assert classes_in_first(labels, 8) >= 3  # class-sorted: 2


# ----- a corrupt image in a folder dataset -----
@pytest.mark.parametrize("content", [b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_corrupt_image_is_skipped_with_a_warning_naming_it(tmp_path, content):
    write_image_folder(tmp_path / "imgs", per_class=4)
    bad = tmp_path / "imgs" / "dog" / "broken.png"
    bad.write_bytes(content)
    dm = ImageClassificationData(
        "imagefolder", root=str(tmp_path / "imgs"), image_size=16, batch_size=13, num_workers=0, val_fraction=0.0
    )
    with pytest.warns(UserWarning, match=f"skipping unreadable image {bad}"):
        x, _ = epoch(dm.train_dataloader())
    assert len(x) == 12 and x.shape[1:] == (3, 16, 16)  # one batch of the 13: the 12 readable images


# ----- the CIFAR-10 JPEG cache -----
def test_stale_partial_cache_writes_are_removed(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    dead = cache / "cifar10-train-0123456789abcdef.pt.4194305.tmp"  # above the largest pid_max (2**22): no such process
    live = cache / f"cifar10-train-0123456789abcdef.pt.{os.getpid()}.tmp"  # a writer still running
    for tmp in (dead, live):
        tmp.write_bytes(b"\0" * 1000)
    cifar_jpegs(tmp_path).setup("fit")
    assert not dead.exists() and live.exists()
    assert len(list(cache.glob("cifar10-train-*.pt"))) == 1


def test_truncated_cache_is_decoded_again_with_a_notice(tmp_path):
    first = cifar_jpegs(tmp_path)
    first.setup("fit")
    (cache,) = (tmp_path / "cache").glob("cifar10-train-*.pt")
    cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2])
    again = cifar_jpegs(tmp_path)
    with pytest.warns(UserWarning, match="unreadable.*decoding the JPEGs again"):
        again.setup("fit")
    assert torch.equal(again.splits["val"].images, first.splits["val"].images)
    assert torch.load(cache, weights_only=True)["images"].shape == (30, 3, 32, 32)  # rewritten whole


def test_a_failed_cache_write_leaves_no_partial_file(tmp_path, monkeypatch):
    def disk_full(obj, path):
        path.write_bytes(b"\0" * 100)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        cifar_jpegs(tmp_path).setup("fit")
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_zip_path_that_is_not_a_zip_names_the_file(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    dm = ImageClassificationData("cifar10", root=str(tmp_path), zip_path=str(text), cache_dir=str(tmp_path / "c"))
    with pytest.raises(DataConfigError, match=f"{text} is not a zip archive.*dataset.zip_path"):
        dm.setup("fit")
    assert zipfile.is_zipfile(text) is False
