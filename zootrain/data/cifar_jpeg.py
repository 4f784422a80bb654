"""CIFAR-10 from JPEGs laid out cifar10/train/<class>/*.jpg in a folder or a zip, decoded once and cached."""

from __future__ import annotations

import hashlib
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePath

import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor
from torchvision.io import ImageReadMode, decode_image
from torchvision.transforms.v2 import functional as F
from tqdm import tqdm

from .decode import UnreadableImage, open_image, read_files, read_members
from .errors import DataConfigError
from .splits import Split

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
ZIP_ENV = "CNN_ZOO_CIFAR10_ZIP"  # configs/dataset/cifar10.yaml reads dataset.zip_path from it
DECODE_THREADS = 2
SIDE = 32
TMP_SUFFIX = ".tmp"  # <cache>.<writer pid>.tmp while a cache file is being written


def is_cifar_member(path: PurePath) -> bool:
    parts = path.parts
    return (
        len(parts) >= 3
        and parts[-3] == "train"
        and parts[-2] in CIFAR10_CLASSES
        and path.suffix.lower() in (".jpg", ".jpeg", ".png")
    )


def check_source(source: Path) -> None:
    """A JPEG source must be a folder or a zip archive: anything else fails here, naming the file."""
    if source.is_file() and not zipfile.is_zipfile(source):
        raise DataConfigError(
            f"{source} is not a zip archive; dataset.zip_path (or ${ZIP_ENV}) must name the "
            "CIFAR-10 JPEG zip or a folder laid out cifar10/train/<class>/*.jpg"
        )


def _folder_members(source: Path) -> list[Path]:
    return sorted(Path(d) / f for d, _, files in os.walk(source) for f in files if is_cifar_member(Path(d) / f))


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
        return [str(p.relative_to(source)) for p in paths], read_files(paths)
    with zipfile.ZipFile(source) as archive:
        names = sorted(n for n in archive.namelist() if is_cifar_member(PurePath(n)))
    return names, read_members(source, names)


def check_sizes(names: list[str], blobs: list[bytes]) -> None:
    """Each image's header read on its own (no pixels decoded): an unreadable or mis-sized one is named."""
    for name, blob in zip(names, blobs):
        with open_image(blob, name) as image:
            if image.size != (SIDE, SIDE):
                width, height = image.size
                raise DataConfigError(
                    f"{name} is {width}x{height}; CIFAR-10 images must be {SIDE}x{SIDE}: remove or replace it"
                )


def _decode(name: str, blob: bytes) -> Tensor:
    try:
        image = decode_image(torch.frombuffer(bytearray(blob), dtype=torch.uint8), ImageReadMode.RGB)
    except RuntimeError as err:  # its message ends with the reason, after the C++ source line
        raise UnreadableImage(name, f"cannot be decoded ({str(err).rsplit(', ', 1)[-1]})") from None
    return F.to_dtype(image, torch.uint8, scale=True)  # 16-bit PNGs: scaled, not clipped


def decode_images(names: list[str], blobs: list[bytes], desc: str) -> Tensor:
    """Encoded images -> uint8 (N, 3, H, W), each decoded on its own (an unreadable one is named), by a few threads
    (libjpeg runs outside the GIL)."""

    def decode(chunk: list[tuple[str, bytes]]) -> Tensor:
        return torch.stack([_decode(name, blob) for name, blob in chunk])

    pairs = list(zip(names, blobs))
    chunks = [pairs[i : i + 1000] for i in range(0, len(pairs), 1000)]
    with ThreadPoolExecutor(DECODE_THREADS) as pool, tqdm(total=len(blobs), desc=desc, unit="img") as bar:
        decoded = []
        for images in pool.map(decode, chunks):
            decoded.append(images)
            bar.update(len(images))
    return torch.cat(decoded)


def cache_dir(preferred: Path | None, root: Path) -> Path:
    for candidate in [preferred] if preferred else [root / ".cache", Path.home() / ".cache" / "cnn-zoo"]:
        try:
            candidate.mkdir(parents=True, exist_ok=True)
            if os.access(candidate, os.W_OK):
                return candidate
        except OSError:
            continue
    tried = preferred or f"{root / '.cache'} and ~/.cache/cnn-zoo"
    raise DataConfigError(
        f"no writable cache folder for decoded CIFAR-10 (tried {tried}); set dataset.cache_dir=... to a writable folder"
    )


def _writer_alive(tmp: Path) -> bool:
    """Whether the process whose id is in ``<cache>.<pid>.tmp`` still runs (and so may still be writing it)."""
    try:
        os.kill(int(tmp.name[: -len(TMP_SUFFIX)].rsplit(".", 1)[1]), 0)
    except (ValueError, IndexError, OverflowError, ProcessLookupError):
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def remove_stale_writes(folder: Path) -> None:
    """Delete half-written cache files left by killed runs (up to 154 MB each)."""
    for tmp in folder.glob(f"cifar10-train-*.pt.*{TMP_SUFFIX}"):
        if not _writer_alive(tmp):
            tmp.unlink(missing_ok=True)


def _read_cache(cache: Path) -> Split | None:
    """The cached split, or None (with a one-line notice) when the file is unreadable, e.g. truncated."""
    try:
        saved = torch.load(cache, weights_only=True)
        return Split(saved["labels"], saved["images"])
    except (RuntimeError, EOFError, OSError, KeyError, TypeError) as err:
        rank_zero_warn(f"{cache} is unreadable ({type(err).__name__}), probably cut short: decoding the JPEGs again")
        return None


def cached_jpegs(source: Path, folder: Path) -> Split:
    """CIFAR-10 JPEGs decoded once into uint8 tensors, cached in ``folder`` under the source's fingerprint."""
    remove_stale_writes(folder)
    cache = folder / f"cifar10-train-{_fingerprint(source)}.pt"
    if cache.is_file() and (split := _read_cache(cache)) is not None:
        return split
    names, blobs = _read_jpegs(source)
    if not names:
        raise DataConfigError(
            f"{source} holds no images laid out cifar10/train/<class>/*.jpg with CIFAR-10's "
            f"classes ({', '.join(CIFAR10_CLASSES)})"
        )
    labels = torch.tensor([CIFAR10_CLASSES.index(PurePath(n).parts[-2]) for n in names])
    shown = [f"{source}: {name}" for name in names]  # how errors name an image
    check_sizes(shown, blobs)
    images = decode_images(shown, blobs, f"decoding {source.name} once (cached in {cache.parent})")
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}{TMP_SUFFIX}")
    try:
        torch.save({"images": images, "labels": labels}, tmp)
        tmp.replace(cache)  # atomic: a concurrent rank never reads a half-written cache
    finally:
        tmp.unlink(missing_ok=True)  # a failed write (disk full) leaves nothing behind
    return Split(labels, images)
