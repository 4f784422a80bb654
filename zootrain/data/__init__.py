"""Image-classification data: one LightningDataModule over a table of datasets.

- ``datasets``: the dataset table (``DATASETS``) and the loaders of in-memory datasets; ``cifar_jpeg``: CIFAR-10
  from a JPEG zip or folder, decoded once and cached; ``folders``: datasets laid out one sub-folder per class;
  ``decode``: zip members and images read defensively, each bad one named.
- ``augment``: the deterministic ``preprocess`` step and the training augmentation (``dataset.augment``: a policy
  of ``POLICIES``, RandomErasing, MixUp / CutMix), each written once.
- ``batched``: the batched path of in-memory datasets; ``per_image``: the DataLoader path of image files;
  ``splits``: stratified splits and the epoch order.
- ``config``: the dataset settings (``DatasetConfig``, also Hydra's ``dataset`` schema); ``datamodule``: the
  ``ImageClassificationData`` LightningDataModule.
"""

from .augment import POLICIES, Augmentation, preprocess
from .batched import BatchedLoader
from .cifar_jpeg import CIFAR10_CLASSES, ZIP_ENV
from .config import DatasetConfig
from .datamodule import ImageClassificationData
from .datasets import DATASETS, DIGITS_MEAN, DIGITS_STD, DatasetSpec
from .errors import DataConfigError
from .splits import Split, stratified_split

__all__ = [
    "CIFAR10_CLASSES",
    "DATASETS",
    "DIGITS_MEAN",
    "DIGITS_STD",
    "POLICIES",
    "Augmentation",
    "ZIP_ENV",
    "BatchedLoader",
    "DataConfigError",
    "DatasetConfig",
    "DatasetSpec",
    "ImageClassificationData",
    "Split",
    "preprocess",
    "stratified_split",
]
