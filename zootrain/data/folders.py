"""Folder datasets: one sub-folder per class, ``root/<class>/*`` or ``root/{train,val,test}/<class>/*``.

A class folder's images may sit in sub-folders; symlinked folders are not followed (one linking back up, e.g.
``dog/loop -> ..``, would list every class's images again under ``dog``). A training class folder without images is
an error (it would change the class count); files of other types a warning with their count.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import torch
from lightning.pytorch.utilities import rank_zero_warn
from torchvision.datasets.folder import IMG_EXTENSIONS

from .config import LoadRequest
from .decode import UnreadableImage, read_rgb
from .errors import DataConfigError, missing
from .splits import Split


def class_dirs(directory: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(directory) if e.is_dir() and not e.name.startswith("."))


def class_images(folder: Path) -> tuple[list[str], Counter]:
    """The image files under a class folder, sorted, and the other files' counts by suffix (hidden files ignored).

    Symlinked sub-folders are not descended (``os.walk`` without ``followlinks``): a link may loop back up."""
    images, others = [], Counter()
    for directory, _, files in os.walk(folder):
        for name in files:
            if name.startswith("."):
                continue
            suffix = Path(name).suffix.lower()
            if suffix in IMG_EXTENSIONS:
                images.append(os.path.join(directory, name))
            else:
                others[suffix or "(no suffix)"] += 1
    return sorted(images), others


def scan(split_dir: Path, names: list[str], defines_classes: bool) -> tuple[list[str], list[int]]:
    """(paths, labels) of ``split_dir/<class>/**``. Where the split defines the classes (training), a class folder
    without images is an error naming it; files of other types are reported once, with their count."""
    paths, labels, others = [], [], Counter()
    for label, name in enumerate(names):
        if not (split_dir / name).is_dir():
            continue
        found, skipped = class_images(split_dir / name)
        if not found and defines_classes:
            raise DataConfigError(
                f"class folder {split_dir / name} holds no images ({', '.join(IMG_EXTENSIONS)}); an empty class "
                "would still count as a class: add its images or remove the folder"
            )
        if defines_classes:
            check_some_readable(split_dir / name, found)
        paths += found
        labels += [label] * len(found)
        others += skipped
    if others:
        kinds = ", ".join(f"{count} {suffix}" for suffix, count in others.most_common())
        rank_zero_warn(f"{split_dir}: skipped {sum(others.values())} files that are not images ({kinds})")
    return paths, labels


def check_some_readable(folder: Path, images: list[str]) -> None:
    """A class of which no image can be read would count as a class with no examples (each skipped with a warning
    while training); decoding stops at the first readable one, so a sound folder costs one decode per class."""
    for path in images:
        try:
            read_rgb(path)
            return
        except UnreadableImage:
            continue
    raise DataConfigError(
        f"class folder {folder}: none of its {len(images)} images can be read (truncated, corrupt or not images); "
        "replace them or remove the folder"
    )


class FolderLoader:
    """Loads a split of a folder dataset as file paths and labels (the class folder's index among train's)."""

    def __init__(self, title: str, require_train_dir: bool):
        self.title, self.require_train_dir = title, require_train_dir

    def split_dirs(self, root: Path) -> dict[str, Path]:
        if (root / "train").is_dir():
            return {s: root / s for s in ("train", "val", "test") if (root / s).is_dir()}
        if root.is_dir() and not self.require_train_dir and class_dirs(root):
            return {"train": root}
        layout = (
            "root/train/<class>/*, root/val/<class>/*"
            if self.require_train_dir
            else "root/<class>/* or root/{train,val,test}/<class>/*"
        )
        raise missing(
            self.title,
            [f"image folders laid out {layout} with root = {root}"],
            ["put the images there (one sub-folder per class), or set dataset.root=... to their folder"],
        )

    def class_names(self, root: Path) -> list[str]:
        return class_dirs(self.split_dirs(root)["train"])

    def __call__(self, req: LoadRequest, split: str) -> Split | None:
        dirs = self.split_dirs(req.root)
        if split not in dirs:
            return None
        names = class_dirs(dirs["train"])
        extra = sorted(set(class_dirs(dirs[split])) - set(names))
        if extra:
            raise DataConfigError(f"{dirs[split]} has class folders {extra} that {dirs['train']} lacks")
        paths, labels = scan(dirs[split], names, defines_classes=split == "train")
        if not paths:
            raise DataConfigError(f"{dirs[split]} holds no images in class sub-folders (<class>/*.jpg)")
        return Split(torch.tensor(labels), paths=paths)
