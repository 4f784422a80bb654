"""``ImageClassificationData``: every dataset behind one LightningDataModule, prepared for the model's input."""
from __future__ import annotations

import os
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torchvision import datasets as tv_datasets
from torchvision.transforms import v2

from .datasets import DATASETS, IN_MEMORY_LOADERS, DataConfigError, Split, TensorImageDataset, seeded_split
from .device_loader import DeviceBatchLoader

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def build_transform(policy: str, train: bool, native_size: int | None, size: int, mean, std,
                    from_pil: bool) -> v2.Compose:
    """torchvision v2 pipeline: the dataset's augmentation policy, resizing to the model's input, normalisation."""
    steps: list = [v2.ToImage()] if from_pil else []
    if policy == "imagenet":
        steps += ([v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip()] if train
                  else [v2.Resize(round(size * 256 / 224), antialias=True), v2.CenterCrop(size)])
    else:
        if native_size != size:
            steps.append(v2.Resize((size, size), antialias=True))
        if train and policy == "cifar":
            steps += [v2.RandomCrop(size, padding=size // 8, padding_mode="reflect"), v2.RandomHorizontalFlip()]
        elif train and policy == "mnist":
            steps.append(v2.RandomAffine(degrees=8, translate=(0.08, 0.08)))
    return v2.Compose([*steps, v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))])


class ImageClassificationData(L.LightningDataModule):
    """Train/val/test loaders for any dataset of ``zootrain.datasets.DATASETS``.

    Validation is a seeded, stratified share of the training set; the test split is the dataset's own (digits:
    a fixed held-out share; the CIFAR-10 JPEG zip holds only training images, so there the validation split
    doubles as the test split). ``classes`` keeps a subset relabelled 0..k-1 in the given order;
    ``samples_per_class`` keeps that many training images per class (fine-tuning with few labels).
    """

    def __init__(self, name: str = "digits", root: str = "data", batch_size: int = 128, num_workers: int | None = None,
                 val_fraction: float = 0.1, split_seed: int = 0, image_size: int | None = None,
                 augment: bool = True, classes: list[int] | None = None, samples_per_class: int | None = None,
                 gpu_resident: bool = False, cache_dir: str | None = None, zip_path: str | None = None,
                 pin_memory: bool | None = None, persistent_workers: bool = True, download: bool = False):
        super().__init__()
        if name not in DATASETS:
            raise DataConfigError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
        self.save_hyperparameters()
        self.spec = DATASETS[name]
        self.root = Path(root).expanduser()
        if gpu_resident and not self.spec.in_memory:
            raise DataConfigError(f"dataset.gpu_resident=true needs an in-memory dataset "
                                  f"({', '.join(IN_MEMORY_LOADERS)}); {name} is read from image files")
        all_names = list(self.spec.class_names or self._folder_classes())
        self.classes = list(classes) if classes is not None else list(range(len(all_names)))
        bad = [c for c in self.classes if not 0 <= c < len(all_names)]
        if bad:
            raise DataConfigError(f"dataset.classes {bad} out of range: {name} has classes 0..{len(all_names) - 1}")
        self.class_names = [all_names[c] for c in self.classes]
        self.num_classes = len(self.classes)
        self.in_chans = self.spec.channels
        self.native_size = self.spec.native_size or 224
        self.image_size = image_size or self.native_size
        self.mean, self.std = self.spec.mean, self.spec.std
        self._splits: dict[str, Dataset | DeviceBatchLoader | Split] = {}

    def set_model_input(self, image_size: int, mean=None, std=None) -> None:
        """Prepare images the way the model expects (its input size and, when given, its normalisation)."""
        self.image_size = image_size
        self.mean, self.std = tuple(mean or self.spec.mean), tuple(std or self.spec.std)

    # ----- discovery -----
    def _folder_classes(self) -> list[str]:
        if self.hparams.name == "cifar100":
            return [str(i) for i in range(100)]
        train_dir = self.root / "train" if (self.root / "train").is_dir() else self.root
        if not train_dir.is_dir():
            raise DataConfigError(f"{self.hparams.name}: no folder {train_dir}. Set dataset.root=<folder> holding one "
                                  "sub-folder of images per class (optionally under train/, val/, test/).")
        return sorted(d.name for d in train_dir.iterdir() if d.is_dir())

    # ----- splits -----
    def setup(self, stage: str | None = None) -> None:
        if self._splits:
            return
        if self.spec.in_memory:
            self._setup_in_memory()
        else:
            self._setup_folders()

    def _relabel(self, split: Split) -> Split:
        lookup = torch.full((int(split.labels.max()) + 1,), -1, dtype=torch.long)
        lookup[torch.tensor(self.classes)] = torch.arange(len(self.classes))
        keep = lookup[split.labels] >= 0
        return Split(split.images[keep], lookup[split.labels[keep]])

    def _setup_in_memory(self) -> None:
        hp = self.hparams
        cache_dir = Path(hp.cache_dir).expanduser() if hp.cache_dir else self.root / ".cache"
        raw = IN_MEMORY_LOADERS[hp.name](self.root, hp.download, hp.zip_path, cache_dir)
        full = self._relabel(raw["train"])
        val_idx, train_idx = seeded_split(full.labels, hp.val_fraction, hp.split_seed)
        train = full.subset(train_idx)
        if hp.samples_per_class:
            order = torch.randperm(len(train.labels), generator=torch.Generator().manual_seed(hp.split_seed))
            picked = torch.cat([order[train.labels[order] == c][: hp.samples_per_class]
                                for c in range(self.num_classes)])
            train = train.subset(picked.sort().values)
        val = full.subset(val_idx)
        test = self._relabel(raw["test"]) if raw["test"] is not None else val
        self._splits = {"train": train, "val": val, "test": test}

    def _setup_folders(self) -> None:
        hp, root = self.hparams, self.root
        train_dir = root / "train" if (root / "train").is_dir() else root
        base = tv_datasets.ImageFolder(str(train_dir))
        base.samples = [s for s in base.samples if base.classes[s[1]] in self.class_names]
        remap = {base.class_to_idx[n]: i for i, n in enumerate(self.class_names)}
        base.samples = [(p, remap[t]) for p, t in base.samples]
        base.targets = [t for _, t in base.samples]
        labels = torch.tensor(base.targets)
        val_idx, train_idx = seeded_split(labels, hp.val_fraction, hp.split_seed)
        test_dir = next((root / d for d in ("test", "val") if (root / d).is_dir() and root / d != train_dir), None)
        self._splits = {"train": (base, train_idx), "val": (base, val_idx)}
        self._splits["test"] = (tv_datasets.ImageFolder(str(test_dir)), None) if test_dir else (base, val_idx)

    def _dataset(self, split: str) -> Dataset:
        train = split == "train" and self.hparams.augment
        pil = not self.spec.in_memory
        transform = build_transform(self.spec.policy, train, self.spec.native_size, self.image_size,
                                    self.mean, self.std, from_pil=pil)
        if pil:
            base, idx = self._splits[split]
            view = tv_datasets.ImageFolder.__new__(tv_datasets.ImageFolder)
            view.__dict__.update(base.__dict__, transform=transform)
            return view if idx is None else Subset(view, idx.tolist())
        return TensorImageDataset(self._splits[split], transform)

    # ----- loaders -----
    def _world(self) -> tuple[int, int, torch.device]:
        trainer = self.trainer
        if trainer is None:
            return 0, 1, torch.device("cpu")
        return trainer.global_rank, trainer.world_size, trainer.strategy.root_device

    def _loader(self, split: str):
        hp = self.hparams
        self.setup()
        rank, world, device = self._world()
        if hp.gpu_resident:
            return DeviceBatchLoader(self._splits[split], hp.batch_size, train=split == "train",
                                     augment=hp.augment and split == "train", policy=self.spec.policy,
                                     image_size=self.image_size, mean=self.mean, std=self.std, device=device,
                                     seed=hp.split_seed, rank=rank, world_size=world)
        dataset = self._dataset(split)
        workers = hp.num_workers if hp.num_workers is not None else (0 if self.spec.in_memory else
                                                                      min(8, os.cpu_count() or 1))
        sampler = None
        if world > 1 and split != "train":  # every image evaluated exactly once: no padding duplicates
            sampler = UnrepeatedDistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=False)
        return DataLoader(dataset, batch_size=hp.batch_size, shuffle=split == "train" and sampler is None,
                          sampler=sampler, num_workers=workers, drop_last=False,
                          pin_memory=torch.cuda.is_available() if hp.pin_memory is None else hp.pin_memory,
                          persistent_workers=workers > 0 and hp.persistent_workers)

    def train_dataloader(self):
        return self._loader("train")

    def val_dataloader(self):
        return self._loader("val")

    def test_dataloader(self):
        return self._loader("test")

