"""The LightningDataModule: splits any dataset of ``DATASETS`` and serves it through the batched or per-image path.

Splits:
- validation is a seeded, stratified share (``val_fraction``) of the training images, unless the dataset has its
  own ``val`` folder; the test split is used only by ``test_dataloader``. Evaluation splits are served in a seeded
  shuffled order, so a truncated pass (``limit_val_batches``) sees every class.
- CIFAR-10 read from the JPEG zip has no test images; there, and for datasets without a test split (ImageNet's
  ``val`` is its evaluation split), ``test_dataloader`` serves the validation split and ``test_split`` says so.

Loaders: every in-memory dataset takes the batched path (``BatchedLoader``: the uint8 images on the training device,
augmented a batch at a time); image files take the per-image path (torchvision v2 per image in DataLoader workers,
pinned memory on a GPU). Either way the training order and augmentation depend only on (seed, epoch), so a run
resumed at epoch k sees the batches an uninterrupted run sees. Training augmentation: ``zootrain.data.augment``.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

import lightning as L
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch.utils.data import DataLoader

from ..hardware import available_cores
from .augment import Augmentation, file_transform
from .batched import BatchedLoader
from .config import LoadRequest, dataset_config
from .datasets import DATASETS
from .errors import DataConfigError
from .per_image import CollateReadable, FileImageDataset
from .splits import EpochSampler, Split, rank_in_class, stratified_split

TEST_ORDER_SEED = 0  # the test split is served in one fixed order, whatever a run's split_seed


class ImageClassificationData(L.LightningDataModule):
    """Train/val/test loaders for any dataset of ``DATASETS``, prepared for the model's input.

    ``settings``: the fields of ``DatasetConfig`` (their defaults and meaning live there). ``classes`` keeps a
    subset of the original class indices, relabelled 0..k-1 in the given order; ``samples_per_class`` keeps the
    first n training images of each class after the seeded shuffle (validation untouched). ``mean``/``std``
    default to the dataset's own statistics; ``set_model_input`` sets the model's.
    """

    def __init__(self, name: str, **settings: Any):
        super().__init__()
        if name not in DATASETS:
            raise DataConfigError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
        self.config = cfg = dataset_config({"name": name, **settings})
        self.save_hyperparameters(asdict(cfg))
        self.spec = spec = DATASETS[name]
        self.augmentation = Augmentation(cfg.augment, cfg.erasing, cfg.mixup_alpha, cfg.cutmix_alpha, spec.hflip)
        self.request = LoadRequest.of(cfg)
        all_names = list(spec.class_names) if spec.class_names else spec.loader.class_names(self.request.root)
        self.classes = self._check_classes(cfg.classes, len(all_names))
        self._num_all_classes = len(all_names)
        self.class_names = [all_names[c] for c in self.classes] if self.classes else all_names
        self.num_classes = len(self.class_names)
        if self.num_classes < 2:
            raise DataConfigError(
                f"{name} has only the class {', '.join(self.class_names)} to learn; a classifier needs at least 2: "
                "add class folders or choose more dataset.classes"
            )
        self.in_chans = spec.channels
        self.native_size = spec.native_size
        self.image_size = cfg.image_size or spec.native_size
        self._check_given_stats(cfg.mean, cfg.std)
        self.mean, self.std = self._stats(cfg.mean, cfg.std)
        self.test_split = "test"  # "val" where the test loader serves the validation split
        self.splits: dict[str, Split] = {}
        self._raw: dict[str, Split | None] = {}

    def _check_classes(self, classes: list[int] | None, total: int) -> list[int] | None:
        if classes is not None:
            bad = [c for c in classes if not 0 <= c < total]
            if bad or len(set(classes)) != len(classes) or not classes:
                raise DataConfigError(
                    f"dataset.classes={classes}: give distinct indices in 0..{total - 1} "
                    f"({self.config.name} has {total} classes)"
                )
        return classes

    def _check_given_stats(self, mean, std) -> None:
        """The user's dataset.mean/std are used as given or refused: ``_stats`` falls back to the dataset's own only
        for statistics that come with weights (ImageNet's three channels for a grey dataset)."""
        if (mean is None) != (std is None):
            given, missing = ("mean", "std") if std is None else ("std", "mean")
            raise DataConfigError(
                f"dataset.{given} is given without dataset.{missing}; give both, or neither for "
                f"{self.config.name}'s own statistics"
            )
        if mean is not None and (len(mean) != self.in_chans or len(std) != self.in_chans):
            raise DataConfigError(
                f"dataset.mean={list(mean)} dataset.std={list(std)}: {self.config.name} has {self.in_chans} "
                f"channel(s); give one value per channel"
            )

    def _stats(self, mean, std) -> tuple[tuple[float, ...], tuple[float, ...]]:
        if mean is None or std is None:
            return self.spec.mean, self.spec.std
        if len(mean) != self.in_chans or len(std) != self.in_chans:
            rank_zero_info(
                f"mean/std of {len(mean)} channels do not fit {self.config.name}'s {self.in_chans}; "
                "normalising with the dataset's own statistics"
            )
            return self.spec.mean, self.spec.std
        return tuple(float(m) for m in mean), tuple(float(s) for s in std)

    def set_model_input(self, image_size: int, mean=None, std=None) -> None:
        """Prepare images at the model's input size and normalisation (None: the dataset's statistics).

        Also recorded in the hyperparameters, so a checkpoint rebuilds the datamodule preparing images the same way.
        """
        self.image_size = int(image_size)
        self.mean, self.std = self._stats(mean, std)
        self.hparams.update(image_size=self.image_size, mean=list(self.mean), std=list(self.std))

    # ----- loading and splitting -----
    def _load(self, split: str) -> Split | None:
        if split not in self._raw:
            self._raw[split] = self.spec.loader(self.request, split)
        return self._raw[split]

    def prepare_data(self) -> None:
        """Download / decode-and-cache once per node before the ranks load (Lightning runs this on local rank 0)."""
        self._load("train")
        if self.spec.has_test:
            self._load("test")

    def _relabel(self, split: Split) -> Split:
        """Keep the images of ``classes``, relabelled 0..k-1 in their given order."""
        if self.classes is None:
            return split
        lookup = torch.full((self._num_all_classes,), -1, dtype=torch.long)
        lookup[self.classes] = torch.arange(len(self.classes))
        kept = split.subset((lookup[split.labels] >= 0).nonzero().squeeze(1))
        kept.labels = lookup[kept.labels]
        return kept

    def _fit_splits(self) -> None:
        cfg = self.config
        full, val = self._load("train"), self._load("val")
        if val is None:
            train_idx, val_idx = stratified_split(full.labels, cfg.val_fraction, cfg.split_seed)
            val = full.subset(val_idx)  # in the seeded shuffled order
        else:
            train_idx = torch.randperm(len(full), generator=torch.Generator().manual_seed(cfg.split_seed))
            val = val.shuffled(cfg.split_seed)
        if cfg.samples_per_class is not None:
            train_idx = train_idx[rank_in_class(full.labels[train_idx]) < cfg.samples_per_class]
        self.splits["train"] = self._relabel(full.subset(train_idx.sort().values))
        self.splits["val"] = self._relabel(val)

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit", "validate") and "val" not in self.splits:
            self._fit_splits()
        if stage in (None, "test", "predict") and "test" not in self.splits:
            test = self._load("test") if self.spec.has_test else None
            if test is None:
                if "val" not in self.splits:
                    self._fit_splits()
                self.test_split = "val"
                rank_zero_warn(f"{self.config.name} has no test split here: testing on the validation split")
                self.splits["test"] = self.splits["val"]
            else:
                self.splits["test"] = self._relabel(test.shuffled(TEST_ORDER_SEED))

    def use_validation_as_test(self) -> None:
        """Make ``test_dataloader`` serve the validation split (``evaluate.py split=val``)."""
        self.setup("validate")
        self.splits["test"] = self.splits["val"]
        self.test_split = "val"

    # ----- loaders -----
    def _distributed(self) -> tuple[torch.device, int, int]:
        trainer = self.trainer
        if trainer is None:
            return torch.device("cpu"), 0, 1
        return trainer.strategy.root_device, trainer.global_rank, trainer.world_size

    def _order_seed(self) -> int:
        # Every rank must draw the same permutation: seed_everything exports its seed to all ranks like this.
        return int(os.environ.get("PL_GLOBAL_SEED", self.config.split_seed))

    def _loader(self, split: str):
        if split not in self.splits:
            self.setup({"train": "fit", "val": "validate", "test": "test"}[split])
        data, cfg, train = self.splits[split], self.config, split == "train"
        device, rank, world = self._distributed()
        if self.spec.in_memory:
            overfit = self.trainer is not None and self.trainer.overfit_batches > 0  # the same few batches each epoch
            return BatchedLoader(
                data.images,
                data.labels,
                cfg.batch_size,
                device=device,
                train=train,
                augmentation=self.augmentation,
                image_size=self.image_size,
                mean=self.mean,
                std=self.std,
                num_classes=self.num_classes,
                seed=self._order_seed(),
                rank=rank,
                world_size=world,
                shuffle=not overfit,
            )
        return self._per_image_loader(data, train, device, rank, world)

    def _per_image_loader(self, data: Split, train: bool, device: torch.device, rank: int, world: int) -> DataLoader:
        cfg = self.config
        augmentation = self.augmentation if train else None
        dataset = FileImageDataset(
            data.paths, data.labels, file_transform(augmentation, self.image_size, self.mean, self.std)
        )
        # Training: (seed, epoch) decide the order and each image's augmentation. Evaluation: every image once.
        if train:
            sampler = EpochSampler(len(dataset), self._order_seed(), rank, world, item_seeds=True)
        else:
            sampler = UnrepeatedDistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=False)
        workers = min(8, available_cores()) if cfg.num_workers is None else cfg.num_workers
        pin_memory = device.type == "cuda" if cfg.pin_memory is None else cfg.pin_memory
        return DataLoader(
            dataset,
            batch_size=cfg.batch_size,
            sampler=sampler,
            collate_fn=CollateReadable(augmentation and augmentation.mixer(self.num_classes)),
            drop_last=train and len(sampler) > cfg.batch_size,  # no 1-image batch for BatchNorm at an epoch's end
            num_workers=workers,
            pin_memory=pin_memory,
            persistent_workers=cfg.persistent_workers and workers > 0,
        )

    def train_dataloader(self):
        return self._loader("train")

    def val_dataloader(self):
        return self._loader("val")

    def test_dataloader(self):
        return self._loader("test")

    def predict_dataloader(self):
        return self._loader("test")
