"""Folder datasets: one sub-folder per class, ``root/<class>/*`` or ``root/{train,val,test}/<class>/*``."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset

from .config import LoadRequest
from .errors import DataConfigError, missing
from .splits import Split


def class_dirs(directory: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(directory) if e.is_dir() and not e.name.startswith("."))


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
        samples = make_dataset(str(dirs[split]), {n: i for i, n in enumerate(names)}, IMG_EXTENSIONS, allow_empty=True)
        if not samples:
            raise DataConfigError(f"{dirs[split]} holds no images in class sub-folders (<class>/*.jpg)")
        paths, labels = zip(*samples)
        return Split(torch.tensor(labels), paths=list(paths))
