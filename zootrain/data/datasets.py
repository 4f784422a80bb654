"""The dataset table: what the datamodule needs to know about each dataset, and the loaders of in-memory datasets.

digits ships no test split: a fixed, stratified 15% (seed ``DIGITS_TEST_SEED``, independent of ``split_seed``) is
held out as its test split, so evaluation always sees images no run trained or validated on. CIFAR-10 read from
the JPEG zip has no test images.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
from lightning.pytorch.utilities import rank_zero_warn
from torchvision import datasets as tv_datasets

from zoo.registry import CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, IMAGENET_STD, MNIST_MEAN, MNIST_STD

from .cifar_jpeg import CIFAR10_CLASSES, ZIP_ENV, cache_dir, cached_jpegs, check_source
from .config import LoadRequest
from .errors import missing
from .folders import FolderLoader
from .splits import Split, stratified_split

DIGITS_TEST_FRACTION = 0.15
DIGITS_TEST_SEED = 0
DIGIT_CLASSES = tuple(str(d) for d in range(10))
CIFAR100_CLASSES = tuple(  # fine labels, in the dataset's (alphabetical) order
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can "
    "castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin "
    "elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster "
    "man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck "
    "pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk "
    "skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger "
    "tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm".split()
)
DIGITS_MEAN, DIGITS_STD = (0.3053,), (0.3759,)  # of the uint8-scaled images
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
FASHION_MEAN, FASHION_STD = (0.2860,), (0.3530,)


# A loader returns the split ("train", "val" or "test"), or None when the dataset has no such split of its own.
Loader = Callable[[LoadRequest, str], "Split | None"]


@dataclass(frozen=True)
class DatasetSpec:
    """What the datamodule needs to know about a dataset before loading it, and how to load it."""

    channels: int
    native_size: int  # the images' side; folders: the size used when the model gives none
    class_names: tuple[str, ...] | None  # None: the class folder names, sorted
    loader: Loader
    mean: tuple[float, ...]
    std: tuple[float, ...]
    has_test: bool = True  # a test split of its own (else the test loader serves the validation split)
    in_memory: bool = True  # uint8 tensors in memory, the batched path (else image files decoded by DataLoader workers)
    hflip: bool = True  # training may mirror the images (digits and clothes keep their handedness)


def _uint8_split(data, targets) -> Split:
    images = torch.as_tensor(data)
    images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2)  # NHW / NHWC -> NCHW
    return Split(torch.as_tensor(targets, dtype=torch.long), images.contiguous())


@functools.cache
def _digits() -> tuple[Split, torch.Tensor, torch.Tensor]:
    """scikit-learn's digits (shipped with it: always available offline) and its kept/held-out indices, read once
    for both splits."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(bunch.images).mul(255 / 16).round().to(torch.uint8)  # 0..16 -> 0..255
    full = _uint8_split(images, bunch.target)
    return full, *stratified_split(full.labels, DIGITS_TEST_FRACTION, DIGITS_TEST_SEED, "the digits test share")


def _load_digits(req: LoadRequest, split: str) -> Split | None:
    if split == "val":
        return None
    full, kept, held = _digits()
    return full.subset((held if split == "test" else kept).sort().values)


def _open_torchvision(dataset_cls, req: LoadRequest, train: bool):
    """A torchvision dataset from ``req.root`` (downloaded there when allowed), or None and why not."""
    try:
        return dataset_cls(str(req.root), train=train, download=False), ""
    except RuntimeError:  # torchvision's "Dataset not found"
        if not req.download:
            return None, ""
    try:
        return dataset_cls(str(req.root), train=train, download=True), ""
    except (OSError, RuntimeError) as err:  # URLError, socket and SSL errors are OSErrors; a bad checksum Runtime
        return None, f"download failed: {type(err).__name__}: {err}"


DOWNLOAD_FIX = "pass dataset.download=true (needs network) to fetch torchvision's format into dataset.root"


def _torchvision_loader(dataset_cls, folder: str) -> Loader:
    """Train/test splits of a torchvision dataset stored under ``root/folder``."""

    def load(req: LoadRequest, split: str) -> Split | None:
        if split == "val":
            return None
        ds, reason = _open_torchvision(dataset_cls, req, split == "train")
        if ds is None:
            raise missing(
                dataset_cls.__name__,
                [f"torchvision's {dataset_cls.__name__} files in {req.root / folder}"],
                [
                    DOWNLOAD_FIX,
                    f"or put those files at {req.root / folder}, or set dataset.root=... to the folder holding them",
                ],
                reason,
            )
        return _uint8_split(ds.data, ds.targets)

    return load


def _load_cifar10(req: LoadRequest, split: str) -> Split | None:
    """The JPEGs of ``zip_path`` when given; else torchvision's format in root, else JPEGs in root (no test split)."""
    if split == "val":
        return None
    reason = ""
    if req.zip_path is None:
        ds, reason = _open_torchvision(tv_datasets.CIFAR10, req, split == "train")
        if ds is not None:
            return _uint8_split(ds.data, ds.targets)
    if split == "test":
        return None
    sources = [req.zip_path] if req.zip_path else [req.root / "cifar10" / "train", req.root / "cifar10-train-jpeg.zip"]
    source = next((s for s in sources if s.exists()), None)
    if source is None:
        looked = [] if req.zip_path else [f"torchvision's format in {req.root / 'cifar-10-batches-py'}"]
        looked += [f"a zip or folder laid out cifar10/train/<class>/*.jpg at {s}" for s in sources]
        raise missing(
            "CIFAR-10",
            looked,
            [
                DOWNLOAD_FIX,
                "or dataset.zip_path=/path/to/cifar10-train-jpeg.zip (or a folder laid out "
                "cifar10/train/<class>/*.jpg; "
                f"dataset=cifar10 reads it from the environment variable {ZIP_ENV} when set)",
                f"or put the files at {req.root / 'cifar10' / 'train'} or {req.root / 'cifar10-train-jpeg.zip'}",
            ],
            reason,
        )
    check_source(source)
    if reason:
        rank_zero_warn(f"CIFAR-10 {reason}; using the JPEGs in {source} instead")
    return cached_jpegs(source, cache_dir(req.cache_dir, req.root))


DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec(
        channels=1,
        native_size=8,
        class_names=DIGIT_CLASSES,
        hflip=False,
        loader=_load_digits,
        mean=DIGITS_MEAN,
        std=DIGITS_STD,
    ),
    "mnist": DatasetSpec(
        channels=1,
        native_size=28,
        class_names=DIGIT_CLASSES,
        hflip=False,
        loader=_torchvision_loader(tv_datasets.MNIST, "MNIST/raw"),
        mean=MNIST_MEAN,
        std=MNIST_STD,
    ),
    "fashion_mnist": DatasetSpec(
        channels=1,
        native_size=28,
        class_names=tuple(tv_datasets.FashionMNIST.classes),
        hflip=False,
        loader=_torchvision_loader(tv_datasets.FashionMNIST, "FashionMNIST/raw"),
        mean=FASHION_MEAN,
        std=FASHION_STD,
    ),
    "cifar10": DatasetSpec(
        channels=3,
        native_size=32,
        class_names=CIFAR10_CLASSES,
        loader=_load_cifar10,
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
    ),
    "cifar100": DatasetSpec(
        channels=3,
        native_size=32,
        class_names=CIFAR100_CLASSES,
        loader=_torchvision_loader(tv_datasets.CIFAR100, "cifar-100-python"),
        mean=CIFAR100_MEAN,
        std=CIFAR100_STD,
    ),
    "imagefolder": DatasetSpec(
        channels=3,
        native_size=224,
        class_names=None,
        loader=FolderLoader("Image folder", False),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        in_memory=False,
    ),
    "imagenet": DatasetSpec(
        channels=3,
        native_size=224,
        class_names=None,
        loader=FolderLoader("ImageNet", True),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        has_test=False,
        in_memory=False,
    ),  # its val/ folder is the evaluation split
}
