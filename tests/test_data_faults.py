"""Data faults users hit (issues 11, 22): class-sorted validation, corrupt images, killed or truncated cache writes, a
non-zip zip_path, zip bombs, bad CIFAR members, 16-bit images, decompression bombs, symlink loops, empty classes.
Each ends in the documented behaviour, never a traceback that hides the file."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_data import epoch, write_fake_cifar_zip, write_image_folder

from zootrain.data import DataConfigError, ImageClassificationData, decode
from zootrain.data.per_image import FileImageDataset


def cifar_jpegs(tmp_path, per_class: int = 3, **kwargs) -> ImageClassificationData:
    archive = tmp_path / "fake.zip"
    if not archive.exists():
        write_fake_cifar_zip(archive, per_class)
    kwargs = {"val_fraction": 1 / per_class, **kwargs}  # one image per class: a split must hold every class
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


# ----- hardened decoding (issue 22): each bad file named, never a traceback or a crash mid-epoch -----
def zip_with(path, members: dict[str, bytes], per_class: int = 1):
    """The fake CIFAR-10 zip plus ``members`` (member name -> bytes), deflated."""
    write_fake_cifar_zip(path, per_class)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)


def encoded(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def cifar_from(tmp_path, archive) -> ImageClassificationData:
    return ImageClassificationData(
        "cifar10", root=str(tmp_path), zip_path=str(archive), cache_dir=str(tmp_path / "c"), val_fraction=0.0
    )


@pytest.mark.parametrize("limit", ["ratio", "size"])
def test_zip_members_are_size_checked_before_they_are_read(tmp_path, monkeypatch, limit):
    member = "cifar10/train/cat/bomb.png"
    zip_with(tmp_path / "bomb.zip", {member: b"\0" * 2**20})  # 1 MB of zeros deflate to 1 kB: 1,000x
    if limit == "size":
        monkeypatch.setattr(decode, "MAX_COMPRESSION_RATIO", 10**6)
        monkeypatch.setattr(decode, "MAX_MEMBER_BYTES", 2**19)
    monkeypatch.setattr(zipfile.ZipFile, "read", lambda *args: pytest.fail("a member was read before the check"))
    with pytest.raises(DataConfigError, match=f"member {member} declares 1,048,576 bytes uncompressed.*zip bomb"):
        cifar_from(tmp_path, tmp_path / "bomb.zip").setup("fit")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\xff\xd8\xff\xe0 not really a JPEG", "cannot be read as an image"),
        (encoded(Image.new("RGB", (40, 30)), "JPEG"), "is 40x30; CIFAR-10 images must be 32x32"),
        (encoded(Image.effect_noise((32, 32), 50).convert("RGB"), "JPEG")[:-100], "cannot be decoded"),
    ],
    ids=["corrupt", "mis-sized", "truncated"],
)
def test_a_bad_cifar_member_is_named_in_the_error(tmp_path, content, message):
    member = "cifar10/train/dog/0999.jpg"
    zip_with(tmp_path / "bad.zip", {member: content})
    with pytest.raises(DataConfigError, match=f"bad.zip: {member}:? {message}"):
        cifar_from(tmp_path, tmp_path / "bad.zip").setup("fit")


def test_16_bit_images_are_scaled_to_8_bits_not_clipped(tmp_path):
    deep = Image.fromarray(np.full((32, 32), 40000, dtype=np.uint16))  # mode I;16: 40000 / 65535 of white
    assert deep.mode == "I;16"
    zip_with(tmp_path / "deep.zip", {"cifar10/train/cat/0999.png": encoded(deep)})
    dm = cifar_from(tmp_path, tmp_path / "deep.zip")
    dm.setup("fit")
    images = torch.cat([dm.splits["train"].images, dm.splits["val"].images])
    assert (images == 40000 >> 8).all(dim=(1, 2, 3)).sum() == 1  # 156, not clipped to 255
    write_image_folder(tmp_path / "imgs", per_class=2)
    deep.save(tmp_path / "imgs" / "dog" / "deep.png")
    folder = ImageClassificationData(
        "imagefolder", root=str(tmp_path / "imgs"), val_fraction=0.0, num_workers=0, mean=[0.0] * 3, std=[1.0] * 3
    )
    folder.setup("fit")
    index = folder.splits["train"].paths.index(str(tmp_path / "imgs" / "dog" / "deep.png"))
    image, _, _ = FileImageDataset(folder.splits["train"].paths, folder.splits["train"].labels, lambda x: x)[index]
    assert set(np.asarray(image).flatten().tolist()) == {156}


def test_decompression_bombs_are_skipped_with_a_warning_naming_them(tmp_path, monkeypatch):
    write_image_folder(tmp_path / "imgs", per_class=4)  # 40x30 = 1,200 pixels each
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1500)  # PIL warns above 1,500 pixels, refuses above 3,000
    warned, refused = tmp_path / "imgs" / "dog" / "warned.png", tmp_path / "imgs" / "cat" / "refused.png"
    Image.new("RGB", (50, 40)).save(warned)
    Image.new("RGB", (100, 100)).save(refused)
    dm = ImageClassificationData(
        "imagefolder", root=str(tmp_path / "imgs"), image_size=16, batch_size=14, num_workers=0, val_fraction=0.0
    )
    with pytest.warns(UserWarning) as caught:
        x, _ = epoch(dm.train_dataloader())
    messages = " ".join(str(w.message) for w in caught)
    for bomb in (warned, refused):
        assert f"skipping unreadable image {bomb}: a decompression bomb" in messages
    assert len(x) == 12  # the other images of the epoch's one batch


def test_image_folders_do_not_follow_symlink_loops(tmp_path):
    write_image_folder(tmp_path / "imgs", classes=("cat", "dog"), per_class=6)
    (tmp_path / "imgs" / "dog" / "loop").symlink_to("..", target_is_directory=True)
    dm = ImageClassificationData("imagefolder", root=str(tmp_path / "imgs"), val_fraction=0.5)
    dm.setup("fit")
    train, val = dm.splits["train"], dm.splits["val"]
    assert len(train) + len(val) == 12 and not set(train.paths) & set(val.paths)
    for split in (train, val):
        assert all(Path(p).parent.name == dm.class_names[label] for p, label in zip(split.paths, split.labels.tolist()))


def test_an_empty_class_folder_is_an_error_and_other_files_a_counted_warning(tmp_path):
    write_image_folder(tmp_path / "imgs", per_class=2)
    for name in ("notes.txt", "labels.txt", "meta.json", ".DS_Store"):
        (tmp_path / "imgs" / "cat" / name).write_text("x")
    with pytest.warns(UserWarning, match=r"skipped 3 files that are not images \(2 \.txt, 1 \.json\)"):
        ImageClassificationData("imagefolder", root=str(tmp_path / "imgs"), val_fraction=0.5).setup("fit")
    (tmp_path / "imgs" / "emu").mkdir()
    with pytest.raises(DataConfigError, match=f"class folder {tmp_path / 'imgs' / 'emu'} holds no images"):
        ImageClassificationData("imagefolder", root=str(tmp_path / "imgs")).setup("fit")


# ----- splits that cannot be made: one line naming the setting -----
@pytest.mark.parametrize(
    "per_class, fraction, why",
    [(1, 0.5, "a class would have no held-out image"), (4, 0.1, "a class would have no held-out image")],
    ids=["a class of one image", "fewer held-out images than classes"],
)
def test_a_split_that_comes_out_empty_is_one_error(tmp_path, per_class, fraction, why):
    write_image_folder(tmp_path / "imgs", per_class=per_class)
    dm = ImageClassificationData("imagefolder", root=str(tmp_path / "imgs"), val_fraction=fraction)
    with pytest.raises(DataConfigError, match=f"dataset.val_fraction={fraction} cannot hold out .*{why}") as info:
        dm.setup("fit")
    assert "\n" not in str(info.value)


def test_a_single_class_is_one_error(tmp_path):
    write_image_folder(tmp_path / "imgs", classes=("dog",))
    with pytest.raises(DataConfigError, match="only the class dog to learn; a classifier needs at least 2"):
        ImageClassificationData("imagefolder", root=str(tmp_path / "imgs"))
    with pytest.raises(DataConfigError, match="only the class 3 to learn"):
        ImageClassificationData("digits", classes=[3])
