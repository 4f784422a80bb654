"""Reading images defensively: zip members' sizes checked before they are read, each image opened on its own and
named in any error, PIL's decompression-bomb limit enforced, 16-bit images scaled (not clipped) to 8 bits."""

from __future__ import annotations

import io
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import DataConfigError

MAX_MEMBER_BYTES = 64 * 2**20  # no image this layer reads comes near it (a CIFAR-10 JPEG: about 1 kB)
MAX_COMPRESSION_RATIO = 100  # images barely deflate (JPEG, PNG: about 1x); a zip bomb's members reach 1,000x
UNREADABLE = (OSError, SyntaxError, ValueError)  # what PIL raises for a truncated, corrupt or non-image file


class UnreadableImage(DataConfigError):
    """An image that cannot be read safely: names it, says why and what to do."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}; remove or replace it")
        self.reason = reason


def _check_member(archive: Path, info: zipfile.ZipInfo) -> None:
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > MAX_MEMBER_BYTES or ratio > MAX_COMPRESSION_RATIO:
        raise DataConfigError(
            f"{archive}: member {info.filename} declares {info.file_size:,} bytes uncompressed, {ratio:,.0f}x its "
            f"{info.compress_size:,} compressed bytes (a zip bomb?); remove it from the archive"
        )


def read_members(archive: Path, names: list[str]) -> list[bytes]:
    """The members' bytes, every member's declared size and compression ratio checked before any is read."""
    with zipfile.ZipFile(archive) as zf:
        for name in names:
            _check_member(archive, zf.getinfo(name))
        try:
            return [zf.read(name) for name in names]
        except (zipfile.BadZipFile, zlib.error, EOFError) as err:  # a CRC or size that lies, a cut archive
            raise DataConfigError(f"{archive} is damaged ({err}); replace the archive") from None


def read_files(paths: list[Path]) -> list[bytes]:
    """The files' bytes, every file's size checked before any is read."""
    for path in paths:
        if path.stat().st_size > MAX_MEMBER_BYTES:
            raise DataConfigError(f"{path} is {path.stat().st_size:,} bytes, too large for an image; remove it")
    return [path.read_bytes() for path in paths]


@contextmanager
def open_image(source: str | Path | bytes, name: str) -> Iterator[Image.Image]:
    """The lazily opened image (its header read, its pixels not yet decoded), or ``UnreadableImage`` naming it.

    Beyond PIL's ``MAX_IMAGE_PIXELS`` an image is refused (PIL itself only warns below twice that): decoding it
    could take gigabytes.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as err:
        raise UnreadableImage(name, f"a decompression bomb ({err})") from None
    except UNREADABLE as err:
        raise UnreadableImage(name, f"cannot be read as an image ({type(err).__name__}: {err})") from None
    with image:
        yield image


def to_rgb(image: Image.Image, name: str) -> Image.Image:
    """Decoded as 8-bit RGB; 16-bit images scaled to 8 bits (PIL's own conversion clips them to white)."""
    try:
        if image.mode.startswith("I;16"):
            image = Image.fromarray((np.asarray(image, dtype=np.uint16) >> 8).astype(np.uint8))
        return image.convert("RGB")
    except UNREADABLE as err:
        raise UnreadableImage(name, f"cannot be decoded ({type(err).__name__}: {err})") from None


def read_rgb(path: str) -> Image.Image:
    with open_image(path, path) as image:
        return to_rgb(image, path)
