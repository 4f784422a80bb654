"""Image-classification data: one LightningDataModule over a table of datasets.

Small datasets (digits, MNIST, Fashion-MNIST, CIFAR-10/100) are held as uint8 tensors (N, C, H, W) and transformed
per item, or with ``gpu_resident=True`` moved to the device once and augmented there a batch at a time
(``zootrain.gpu_data``). Folder datasets (``imagefolder``, ``imagenet``) are decoded from files by worker processes.

Splits:
- validation is a seeded, stratified share (``val_fraction``) of the training images, unless the dataset has its
  own ``val`` folder; the test split is used only by ``test_dataloader``.
- digits ships no test split: a fixed, stratified 15% (seed ``DIGITS_TEST_SEED``, independent of ``split_seed``)
  is held out as its test split, so evaluation always sees images no run trained or validated on.
- CIFAR-10 read from the JPEG zip has no test images; there, and for datasets without a test split (ImageNet's
  ``val`` is its evaluation split), ``test_dataloader`` serves the validation split and ``test_split`` says so.

Augmentation runs at the dataset's native resolution and is followed by the resize to the model's input size, so
a crop's padding of native_size // 8 is the same share of the image as size // 8 after resizing, at a fraction
of the cost for upscaled inputs (AlexNet 227, Inception 299).
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Callable

import lightning as L
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchvision import datasets as tv_datasets
from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset
from torchvision.io import ImageReadMode, decode_image
from torchvision.transforms import v2
from tqdm import tqdm

from zoo.registry import CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, IMAGENET_STD, MNIST_MEAN, MNIST_STD

from .gpu_data import DeviceBatchLoader

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_CIFAR10_ZIP = REPO_ROOT.parent / "shared" / "data" / "cifar10-train-jpeg.zip"
DIGITS_TEST_FRACTION = 0.15
DIGITS_TEST_SEED = 0
DECODE_THREADS = 2

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR100_CLASSES = tuple(  # fine labels, in the dataset's (alphabetical) order
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can "
    "castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin "
    "elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster "
    "man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck "
    "pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk "
    "skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger "
    "tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm".split()
)
DIGIT_CLASSES = tuple(str(d) for d in range(10))


class DataConfigError(RuntimeError):
    """Data that cannot be found or used: says what was looked for, where, and what to do."""


@dataclass
class Split:
    """One split: int64 labels plus either uint8 images (N, C, H, W) in memory or image file paths."""

    labels: Tensor
    images: Tensor | None = None
    paths: list[str] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: Tensor) -> Split:
        return Split(
            self.labels[index],
            None if self.images is None else self.images[index],
            None if self.paths is None else [self.paths[i] for i in index.tolist()],
        )


@dataclass(frozen=True)
class LoadRequest:
    """Where a loader looks: the dataset root, whether it may download, the CIFAR-10 JPEG source and cache."""

    root: Path
    download: bool = False
    zip_path: Path | None = None
    cache_dir: Path | None = None


# A loader returns the split ("train", "val" or "test"), or None when the dataset has no such split of its own.
Loader = Callable[[LoadRequest, str], "Split | None"]


@dataclass(frozen=True)
class DatasetSpec:
    """What the datamodule needs to know about a dataset before loading it, and how to load it."""

    name: str
    num_classes: int | None  # None: the number of class folders
    channels: int
    native_size: int  # the images' side; folders: the size used when the model gives none
    class_names: tuple[str, ...] | None  # None: the class folder names, sorted
    policy: str  # augmentation: "none" | "cifar" | "mnist" | "imagenet"
    has_test: bool
    loader: Loader
    mean: tuple[float, ...]
    std: tuple[float, ...]
    in_memory: bool


# ----- splits -----
def rank_in_class(labels: Tensor) -> Tensor:
    """For each position, how many earlier positions hold the same label."""
    order = torch.argsort(labels, stable=True)
    counts = torch.bincount(labels)
    starts = counts.cumsum(0) - counts
    rank = torch.empty_like(labels)
    rank[order] = torch.arange(len(labels)) - starts[labels[order]]
    return rank


def stratified_split(labels: Tensor, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """(kept, held-out) indices: round(fraction * n_c) of every class c held out, chosen by a seeded shuffle.

    Kept indices stay in the shuffled order (``samples_per_class`` takes the first n of each class from it).
    """
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    shuffled = labels[perm]
    n_held = (torch.bincount(labels) * fraction).round().long()
    held = rank_in_class(shuffled) < n_held[shuffled]
    return perm[~held], perm[held]


# ----- in-memory loaders -----
def _uint8_split(data, targets) -> Split:
    images = torch.as_tensor(data)
    images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2)  # NHW / NHWC -> NCHW
    return Split(torch.as_tensor(targets, dtype=torch.long), images.contiguous())


def _load_digits(req: LoadRequest, split: str) -> Split | None:
    if split == "val":
        return None
    from sklearn.datasets import load_digits

    bunch = load_digits()  # ships with scikit-learn: always available offline
    images = torch.from_numpy(bunch.images).mul(255 / 16).round().to(torch.uint8)  # 0..16 -> 0..255
    full = _uint8_split(images, bunch.target)
    kept, held = stratified_split(full.labels, DIGITS_TEST_FRACTION, DIGITS_TEST_SEED)
    return full.subset((held if split == "test" else kept).sort().values)


def _missing(what: str, looked: list[str], fixes: list[str], reason: str = "") -> DataConfigError:
    lines = [f"{what} not found{f' ({reason})' if reason else ''}.", "Looked for:"]
    lines += [f"  - {place}" for place in looked]
    lines += ["To fix, one of:"] + [f"  - {fix}" for fix in fixes]
    return DataConfigError("\n".join(lines))


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
            raise _missing(dataset_cls.__name__, [f"torchvision's {dataset_cls.__name__} files in {req.root / folder}"],
                           [DOWNLOAD_FIX, f"or put those files at {req.root / folder}, or set dataset.root=... to "
                                          "the folder holding them"], reason)
        return _uint8_split(ds.data, ds.targets)

    return load


# ----- CIFAR-10: torchvision's format, or JPEGs laid out cifar10/train/<class>/*.jpg in a folder or a zip -----
def _is_cifar_member(path: PurePath) -> bool:
    parts = path.parts
    return (len(parts) >= 3 and parts[-3] == "train" and parts[-2] in CIFAR10_CLASSES
            and path.suffix.lower() in (".jpg", ".jpeg", ".png"))


def _load_cifar10(req: LoadRequest, split: str) -> Split | None:
    """torchvision's format in root; else (or when ``zip_path`` is given) the JPEGs, which hold no test split."""
    if split == "val":
        return None
    reason = ""
    if req.zip_path is None:
        ds, reason = _open_torchvision(tv_datasets.CIFAR10, req, split == "train")
        if ds is not None:
            return _uint8_split(ds.data, ds.targets)
    if split == "test":
        return None
    sources = [req.zip_path] if req.zip_path else [req.root / "cifar10" / "train", req.root / "cifar10-train-jpeg.zip",
                                                   SHARED_CIFAR10_ZIP]
    source = next((s for s in sources if s.exists()), None)
    if source is None:
        looked = [] if req.zip_path else [f"torchvision's format in {req.root / 'cifar-10-batches-py'}"]
        looked += [f"a zip or folder laid out cifar10/train/<class>/*.jpg at {s}" for s in sources]
        raise _missing("CIFAR-10", looked, [
            DOWNLOAD_FIX,
            "or dataset.zip_path=/path/to/cifar10-train-jpeg.zip (or a folder laid out cifar10/train/<class>/*.jpg)",
            f"or put the files at {req.root / 'cifar10' / 'train'} or {req.root / 'cifar10-train-jpeg.zip'}",
        ], reason)
    if reason:
        rank_zero_warn(f"CIFAR-10 {reason}; using the JPEGs in {source} instead")
    return _cached_jpegs(source, req)


def _folder_members(source: Path) -> list[Path]:
    return sorted(Path(d) / f for d, _, files in os.walk(source) for f in files if _is_cifar_member(Path(d) / f))


def _fingerprint(source: Path) -> str:
    """Identifies a JPEG source's content for the cache: a zip by its name, size and mtime; a folder by its files."""
    if source.is_dir():
        ids = [(str(p.relative_to(source)), p.stat().st_size) for p in _folder_members(source)]
    else:
        stat = source.stat()
        ids = [(source.name, stat.st_size, stat.st_mtime_ns)]
    return hashlib.sha1(repr(ids).encode()).hexdigest()[:16]


def _read_jpegs(source: Path) -> tuple[list[str], list[bytes]]:
    """(member paths, encoded bytes) of the CIFAR-10 images in a folder or zip, sorted by path."""
    if source.is_dir():
        paths = _folder_members(source)
        return [str(p) for p in paths], [p.read_bytes() for p in paths]
    with zipfile.ZipFile(source) as archive:
        names = sorted(n for n in archive.namelist() if _is_cifar_member(PurePath(n)))
        return names, [archive.read(n) for n in names]


def decode_images(blobs: list[bytes], desc: str) -> Tensor:
    """Encoded images -> uint8 (N, 3, H, W), decoded by a few threads (libjpeg runs outside the GIL)."""
    def decode(chunk: list[bytes]) -> Tensor:
        return torch.stack([decode_image(torch.frombuffer(bytearray(b), dtype=torch.uint8), ImageReadMode.RGB)
                            for b in chunk])

    chunks = [blobs[i:i + 1000] for i in range(0, len(blobs), 1000)]
    with ThreadPoolExecutor(DECODE_THREADS) as pool, tqdm(total=len(blobs), desc=desc, unit="img") as bar:
        decoded = []
        for images in pool.map(decode, chunks):
            decoded.append(images)
            bar.update(len(images))
    return torch.cat(decoded)


def _cache_dir(req: LoadRequest) -> Path:
    for candidate in ([req.cache_dir] if req.cache_dir else [req.root / ".cache", Path.home() / ".cache" / "cnn-zoo"]):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
            if os.access(candidate, os.W_OK):
                return candidate
        except OSError:
            continue
    tried = req.cache_dir or f"{req.root / '.cache'} and ~/.cache/cnn-zoo"
    raise DataConfigError(f"no writable cache folder for decoded CIFAR-10 (tried {tried}); "
                          "set dataset.cache_dir=... to a writable folder")


def _cached_jpegs(source: Path, req: LoadRequest) -> Split:
    """CIFAR-10 JPEGs decoded once into uint8 tensors, cached as a .pt file named by the source's fingerprint."""
    cache = _cache_dir(req) / f"cifar10-train-{_fingerprint(source)}.pt"
    if cache.is_file():
        saved = torch.load(cache, weights_only=True)
        return Split(saved["labels"], saved["images"])
    names, blobs = _read_jpegs(source)
    if not names:
        raise DataConfigError(f"{source} holds no images laid out cifar10/train/<class>/*.jpg with CIFAR-10's "
                              f"classes ({', '.join(CIFAR10_CLASSES)})")
    labels = torch.tensor([CIFAR10_CLASSES.index(PurePath(n).parts[-2]) for n in names])
    images = decode_images(blobs, f"decoding {source.name} once (cached in {cache.parent})")
    if images.shape[1:] != (3, 32, 32):
        raise DataConfigError(f"{source}: CIFAR-10 images must be 32x32, found {tuple(images.shape[2:])}")
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    torch.save({"images": images, "labels": labels}, tmp)
    tmp.replace(cache)  # atomic: a killed run or a concurrent rank never leaves a half-written cache
    return Split(labels, images)


# ----- folder datasets -----
def _class_dirs(directory: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(directory) if e.is_dir() and not e.name.startswith("."))


class FolderLoader:
    """One sub-folder per class: ``root/<class>/*`` or ``root/{train,val,test}/<class>/*``."""

    def __init__(self, title: str, require_train_dir: bool):
        self.title, self.require_train_dir = title, require_train_dir

    def split_dirs(self, root: Path) -> dict[str, Path]:
        if (root / "train").is_dir():
            return {s: root / s for s in ("train", "val", "test") if (root / s).is_dir()}
        if root.is_dir() and not self.require_train_dir and _class_dirs(root):
            return {"train": root}
        layout = "root/train/<class>/*, root/val/<class>/*" if self.require_train_dir else \
            "root/<class>/* or root/{train,val,test}/<class>/*"
        raise _missing(self.title, [f"image folders laid out {layout} with root = {root}"],
                       ["put the images there (one sub-folder per class), or set dataset.root=... to their folder"])

    def class_names(self, root: Path) -> list[str]:
        return _class_dirs(self.split_dirs(root)["train"])

    def __call__(self, req: LoadRequest, split: str) -> Split | None:
        dirs = self.split_dirs(req.root)
        if split not in dirs:
            return None
        names = _class_dirs(dirs["train"])
        extra = sorted(set(_class_dirs(dirs[split])) - set(names))
        if extra:
            raise DataConfigError(f"{dirs[split]} has class folders {extra} that {dirs['train']} lacks")
        samples = make_dataset(str(dirs[split]), {n: i for i, n in enumerate(names)}, IMG_EXTENSIONS,
                               allow_empty=True)
        if not samples:
            raise DataConfigError(f"{dirs[split]} holds no images in class sub-folders (<class>/*.jpg)")
        paths, labels = zip(*samples)
        return Split(torch.tensor(labels), paths=list(paths))


DIGITS_MEAN, DIGITS_STD = (0.3053,), (0.3759,)  # of the uint8-scaled images
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
FASHION_MEAN, FASHION_STD = (0.2860,), (0.3530,)

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in [
    DatasetSpec("digits", 10, 1, 8, DIGIT_CLASSES, "mnist", True, _load_digits, DIGITS_MEAN, DIGITS_STD, True),
    DatasetSpec("mnist", 10, 1, 28, DIGIT_CLASSES, "mnist", True, _torchvision_loader(tv_datasets.MNIST, "MNIST/raw"),
                MNIST_MEAN, MNIST_STD, True),
    DatasetSpec("fashion_mnist", 10, 1, 28, tuple(tv_datasets.FashionMNIST.classes), "mnist", True,
                _torchvision_loader(tv_datasets.FashionMNIST, "FashionMNIST/raw"), FASHION_MEAN, FASHION_STD, True),
    DatasetSpec("cifar10", 10, 3, 32, CIFAR10_CLASSES, "cifar", True, _load_cifar10, CIFAR10_MEAN, CIFAR10_STD, True),
    DatasetSpec("cifar100", 100, 3, 32, CIFAR100_CLASSES, "cifar", True,
                _torchvision_loader(tv_datasets.CIFAR100, "cifar-100-python"), CIFAR100_MEAN, CIFAR100_STD, True),
    DatasetSpec("imagefolder", None, 3, 224, None, "imagenet", True, FolderLoader("Image folder", False),
                IMAGENET_MEAN, IMAGENET_STD, False),
    DatasetSpec("imagenet", None, 3, 224, None, "imagenet", False, FolderLoader("ImageNet", True),
                IMAGENET_MEAN, IMAGENET_STD, False),
]}


# ----- transforms and datasets -----
def build_transform(policy: str, train: bool, native_size: int, image_size: int, mean, std) -> v2.Compose:
    """torchvision v2 pipeline for one image (a uint8 tensor or a PIL image) -> normalised float tensor."""
    steps: list = [v2.ToImage()]
    if policy == "imagenet":
        steps += ([v2.RandomResizedCrop(image_size, antialias=True), v2.RandomHorizontalFlip()] if train else
                  [v2.Resize(round(image_size * 256 / 224), antialias=True), v2.CenterCrop(image_size)])
    else:
        if train and policy in ("cifar", "mnist"):
            steps.append(v2.RandomCrop(native_size, padding=native_size // 8))
        if train and policy == "cifar":
            steps.append(v2.RandomHorizontalFlip())
        if image_size != native_size:
            steps.append(v2.Resize((image_size, image_size), antialias=True))
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std)), v2.ToPureTensor()]
    return v2.Compose(steps)


class TensorImageDataset(Dataset):
    """uint8 images held in memory, transformed per item."""

    def __init__(self, images: Tensor, labels: Tensor, transform: Callable):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.transform(self.images[i]), self.labels[i]


class FileImageDataset(Dataset):
    """Images decoded from files (as RGB) by the loader's workers."""

    def __init__(self, paths: list[str], labels: Tensor, transform: Callable):
        self.paths, self.labels, self.transform = paths, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        with Image.open(self.paths[i]) as image:
            return self.transform(image.convert("RGB")), self.labels[i]


# ----- the datamodule -----
class ImageClassificationData(L.LightningDataModule):
    """Train/val/test loaders for any dataset of ``DATASETS``, prepared for the model's input.

    ``classes`` keeps a subset of the original class indices, relabelled 0..k-1 in the given order;
    ``samples_per_class`` keeps the first n training images of each class after the seeded shuffle (validation
    untouched). ``mean``/``std`` default to the dataset's own statistics; ``set_model_input`` sets the model's.
    """

    def __init__(self, name: str = "digits", root: str = "data", batch_size: int = 128, num_workers: int | None = None,
                 val_fraction: float = 0.1, split_seed: int = 0, image_size: int | None = None,
                 mean: tuple | None = None, std: tuple | None = None, augment: bool = True,
                 classes: list[int] | None = None, samples_per_class: int | None = None,
                 gpu_resident: bool = False, cache_dir: str | None = None, zip_path: str | None = None,
                 pin_memory: bool | None = None, persistent_workers: bool = True, download: bool = False):
        super().__init__()
        self.save_hyperparameters()
        if name not in DATASETS:
            raise DataConfigError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
        if not 0 <= val_fraction < 1:
            raise DataConfigError(f"dataset.val_fraction={val_fraction}; it must be in [0, 1)")
        self.spec = spec = DATASETS[name]
        if gpu_resident and not spec.in_memory:
            in_memory = ", ".join(n for n, s in DATASETS.items() if s.in_memory)
            raise DataConfigError(f"dataset.gpu_resident=true needs an in-memory dataset ({in_memory}); "
                                  f"{name} is decoded from image files: set dataset.gpu_resident=false")
        self.request = LoadRequest(
            Path(root).expanduser(), download,
            Path(zip_path).expanduser() if zip_path else None, Path(cache_dir).expanduser() if cache_dir else None,
        )
        all_names = list(spec.class_names) if spec.class_names else spec.loader.class_names(self.request.root)
        if classes is not None:
            classes = [int(c) for c in classes]
            bad = [c for c in classes if not 0 <= c < len(all_names)]
            if bad or len(set(classes)) != len(classes) or not classes:
                raise DataConfigError(f"dataset.classes={classes}: give distinct indices in 0..{len(all_names) - 1} "
                                      f"({name} has {len(all_names)} classes)")
        self.classes = classes
        self._num_all_classes = len(all_names)
        self.class_names = [all_names[c] for c in classes] if classes else all_names
        self.num_classes = len(self.class_names)
        self.in_chans = spec.channels
        self.native_size = spec.native_size
        self.image_size = image_size or spec.native_size
        self.mean, self.std = self._stats(mean, std)
        in_memory_workers = 0 if spec.in_memory else min(8, os.cpu_count() or 1)
        self.num_workers = in_memory_workers if num_workers is None else num_workers
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.test_split = "test"  # "val" where the test loader serves the validation split
        self.splits: dict[str, Split] = {}
        self._raw: dict[str, Split | None] = {}

    def _stats(self, mean, std) -> tuple[tuple[float, ...], tuple[float, ...]]:
        if mean is None or std is None:
            return self.spec.mean, self.spec.std
        if len(mean) != self.in_chans or len(std) != self.in_chans:
            rank_zero_info(f"mean/std of {len(mean)} channels do not fit {self.hparams.name}'s {self.in_chans}; "
                           "normalising with the dataset's own statistics")
            return self.spec.mean, self.spec.std
        return tuple(float(m) for m in mean), tuple(float(s) for s in std)

    def set_model_input(self, image_size: int, mean=None, std=None) -> None:
        """Prepare images at the model's input size and normalisation (None: the dataset's statistics).

        Also recorded in the hyperparameters, so a checkpoint rebuilds the datamodule preparing images the same way.
        """
        self.image_size = int(image_size)
        self.mean, self.std = self._stats(mean, std)
        self.hparams.update(image_size=self.image_size, mean=self.mean, std=self.std)

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
        hp = self.hparams
        full, val = self._load("train"), self._load("val")
        if val is None:
            train_idx, val_idx = stratified_split(full.labels, hp.val_fraction, hp.split_seed)
            val = full.subset(val_idx.sort().values)
        else:
            train_idx = torch.randperm(len(full), generator=torch.Generator().manual_seed(hp.split_seed))
        if hp.samples_per_class is not None:
            train_idx = train_idx[rank_in_class(full.labels[train_idx]) < hp.samples_per_class]
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
                rank_zero_warn(f"{self.hparams.name} has no test split here: testing on the validation split")
                self.splits["test"] = self.splits["val"]
            else:
                self.splits["test"] = self._relabel(test)

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

    def _loader(self, split: str):
        if split not in self.splits:
            self.setup({"train": "fit", "val": "validate", "test": "test"}[split])
        data, hp, train = self.splits[split], self.hparams, split == "train"
        device, rank, world = self._distributed()
        if hp.gpu_resident:
            # Every rank must draw the same permutation: seed_everything exports its seed to all ranks like this.
            seed = int(os.environ.get("PL_GLOBAL_SEED", hp.split_seed))
            return DeviceBatchLoader(
                data.images, data.labels, hp.batch_size, device=device, train=train,
                augment=train and hp.augment, policy=self.spec.policy, image_size=self.image_size,
                mean=self.mean, std=self.std, seed=seed, rank=rank, world_size=world,
            )
        transform = build_transform(self.spec.policy, train and hp.augment, self.native_size, self.image_size,
                                    self.mean, self.std)
        dataset = (TensorImageDataset(data.images, data.labels, transform) if data.images is not None
                   else FileImageDataset(data.paths, data.labels, transform))
        # Training shards come from Lightning's DistributedSampler; evaluation sees every image exactly once.
        sampler = UnrepeatedDistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=False) \
            if world > 1 and not train else None
        return DataLoader(
            dataset, batch_size=hp.batch_size, shuffle=train, sampler=sampler,
            drop_last=train and len(dataset) > hp.batch_size,  # no 1-image batch for BatchNorm at an epoch's end
            num_workers=self.num_workers, pin_memory=self.pin_memory,
            persistent_workers=hp.persistent_workers and self.num_workers > 0,
        )

    def train_dataloader(self):
        return self._loader("train")

    def val_dataloader(self):
        return self._loader("val")

    def test_dataloader(self):
        return self._loader("test")

    def predict_dataloader(self):
        return self._loader("test")
