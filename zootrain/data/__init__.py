"""Image-classification data: one LightningDataModule over a table of datasets.

- ``datasets``: the dataset table (``DATASETS``) and the loaders of in-memory datasets; ``cifar_jpeg``: CIFAR-10
  from a JPEG zip or folder, decoded once and cached; ``folders``: datasets laid out one sub-folder per class.
- ``augment``: the augmentation-policy table, read by the per-image (torchvision v2) and the batched paths.
- ``batched``: the batched path for in-memory datasets; ``per_image``: the per-image DataLoader path;
  ``splits``: stratified splits and the epoch order.
- ``config``: the dataset settings (``DatasetConfig``, also Hydra's ``dataset`` schema); ``datamodule``: the
  ``ImageClassificationData`` LightningDataModule.
"""

from .augment import POLICIES, build_transform
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
    "ZIP_ENV",
    "BatchedLoader",
    "DataConfigError",
    "DatasetConfig",
    "DatasetSpec",
    "ImageClassificationData",
    "Split",
    "build_transform",
    "stratified_split",
]
