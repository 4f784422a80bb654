"""What the JPEG costs: the same short recipe trained on the CIFAR-10 zip re-encoded at lower JPEG qualities.

Each quality of ``--qualities`` (``shipped`` = the zip as it is, about quality 75; numbers = every image decoded
and encoded again by PIL at that quality, 4:2:0 chroma) is one zip in ``--zips-dir`` laid out like the source
(``cifar10-train-q<Q>.zip``: distinct names, so the project's decoded-image cache, keyed by the zip's name, size and
mtime, holds one entry per quality). A zip is written to a temporary name and renamed, then its manifest (source
hash, quality, subsampling, image count, the zip's own sha256); one is reused when its manifest matches and its hash
checks, else written again. Then ``python train.py experiment=<--experiment> model=<--model>
dataset.zip_path=<zip> trainer.max_epochs=<--epochs>`` trains on each (``benchmarks/common.py: run_train``): the
same seed and the same 45k/5k split (``dataset.split_seed``, by file name, so the same images), one run directory
per quality under ``--runs-dir``, resumed if interrupted, skipped once finished. Also measured, cheaply: each
re-encoding's PSNR against the shipped JPEGs over ``--psnr-images`` images (a seeded sample), and its bytes per
image; the shipped zip's own quality is estimated from its quantisation table (the PIL quality whose luminance
table it matches).

Re-encoding starts from the shipped JPEGs: each point is the cost of compressing further on top of the shipped
loss; the shipped images' own distance from the lossless CIFAR-10 is not measurable from the zip, so the printed
extrapolation toward quality 100 is a trend, not a measurement.

    python benchmarks/jpeg_quality.py --zips-dir /work/jpeg_zips --runs-dir /work/jpeg_runs --epochs 10 --threads 1
    python benchmarks/jpeg_quality.py --zips-dir /tmp/z --runs-dir /tmp/r --qualities shipped 30 --epochs 1 \
        --override trainer.limit_train_batches=2 --override trainer.limit_val_batches=1
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import random
import zipfile
from pathlib import Path, PurePath

import torch
from common import (
    REPO_ROOT,
    add_train_run_args,
    parse_train_run_args,
    pieces_of,
    progress,
    train_to_end,
    write_payload,
)

ZIP_ENV = "CNN_ZOO_CIFAR10_ZIP"
SUBSAMPLING = 2  # PIL's code for 4:2:0, as the shipped zip
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


# ----- re-encoded zips -----
def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def image_members(archive: zipfile.ZipFile) -> list[str]:
    """The images laid out cifar10/train/<class>/*.jpg, in the archive's order."""
    return [
        n
        for n in archive.namelist()
        if len(p := PurePath(n).parts) >= 3
        and p[-3] == "train"
        and p[-2] in CLASSES
        and PurePath(n).suffix.lower() in (".jpg", ".jpeg")
    ]


def encode_image(image, quality: int) -> bytes:
    """A PIL RGB image as JPEG bytes at ``quality``, 4:2:0."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, subsampling=SUBSAMPLING)
    return buffer.getvalue()


def encode(data: bytes, quality: int) -> bytes:
    """Encoded image bytes decoded and encoded again at ``quality``."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return encode_image(image.convert("RGB"), quality)


def reencoded_zip(source: Path, source_hash: str, quality: int, folder: Path) -> tuple[Path, dict]:
    """``folder/cifar10-train-q<quality>.zip`` and its manifest, reused when the manifest matches and the hash
    checks, else (re)written atomically: the zip under a temporary name, renamed, then the manifest."""
    target = folder / f"cifar10-train-q{quality}.zip"
    manifest_path = target.with_name(target.name + ".manifest.json")
    wanted = {"source_sha256": source_hash, "quality": quality, "subsampling": "4:2:0"}
    if target.is_file() and manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if all(manifest.get(k) == v for k, v in wanted.items()) and manifest.get("sha256") == sha256(target):
            progress(f"reusing {target} (manifest and hash match)")
            return target, manifest
    progress(f"re-encoding {source.name} at quality {quality} into {target}")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(source) as archive, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as out:
            names = image_members(archive)
            total = 0
            for name in names:
                data = encode(archive.read(name), quality)
                total += len(data)
                out.writestr(name, data)
        manifest = {**wanted, "images": len(names), "bytes_per_image": total / max(1, len(names))}
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    manifest["sha256"] = sha256(target)
    tmp_manifest = manifest_path.with_name(f"{manifest_path.name}.{os.getpid()}.tmp")
    tmp_manifest.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp_manifest.replace(manifest_path)
    return target, manifest


def estimate_quality(source: Path) -> int | None:
    """The PIL quality whose luminance quantisation table is nearest the first image's (exact for IJG tables)."""
    from PIL import Image

    with zipfile.ZipFile(source) as archive:
        names = image_members(archive)
        if not names:
            return None
        with Image.open(io.BytesIO(archive.read(names[0]))) as image:
            table = list(image.quantization[0])
            probe = image.convert("RGB")

    def distance(quality: int) -> int:
        with Image.open(io.BytesIO(encode_image(probe, quality))) as encoded:
            return sum(abs(a - b) for a, b in zip(encoded.quantization[0], table))

    return min(range(1, 101), key=distance)


def psnr(source: Path, other: Path, count: int, seed: int = 0) -> dict:
    """PSNR (dB) of ``other``'s images against ``source``'s over a seeded sample of ``count`` names: from the pooled
    mean squared error, and the mean of the per-image figures (an identical image counts as 100 dB there)."""
    import numpy as np
    from PIL import Image

    def pixels(archive: zipfile.ZipFile, name: str):
        with Image.open(io.BytesIO(archive.read(name))) as image:
            return np.asarray(image.convert("RGB"), dtype=np.float64)

    with zipfile.ZipFile(source) as a, zipfile.ZipFile(other) as b:
        names = sorted(image_members(a))
        sample = random.Random(seed).sample(names, min(count, len(names)))
        errors = [float(np.mean((pixels(a, n) - pixels(b, n)) ** 2)) for n in sample]
    pooled = sum(errors) / len(errors)
    per_image = [10 * math.log10(255**2 / e) if e > 0 else 100.0 for e in errors]
    return {
        "psnr_db": 10 * math.log10(255**2 / pooled) if pooled > 0 else None,
        "mean_psnr_db": sum(per_image) / len(per_image),
        "psnr_images": len(errors),
    }


# ----- training and the figure -----
def train_on(zip_path: Path, run_dir: Path, args: argparse.Namespace) -> dict:
    """One run of the recipe on ``zip_path`` in ``run_dir`` (resumed if unfinished, skipped if finished)."""
    overrides = [f"model={args.model}", f"dataset.zip_path={zip_path}", f"trainer.max_epochs={args.epochs}"]
    metrics = train_to_end(args.experiment, run_dir, [*overrides, *args.override], args.threads)
    pieces = pieces_of(run_dir)
    return {
        "model": metrics["model"],
        "epochs": metrics["epochs"],
        "val_acc": metrics["val/acc"],
        "run_dir": str(run_dir),
        "training_wall_s": sum(p["wall_s"] for p in pieces),
        "pieces": len(pieces),
    }


def extrapolation(results: list[dict]) -> str:
    """One line: the accuracy trend between the two highest qualities, continued to quality 100."""
    points = sorted((r["quality_value"], r["val_acc"]) for r in results if r["quality_value"] is not None)
    if len(points) < 2:
        return "extrapolation: needs at least two qualities"
    (q2, a2), (q1, a1) = points[-2], points[-1]
    slope = (a1 - a2) / (q1 - q2) if q1 != q2 else 0.0
    return (
        f"extrapolation: from q{q2} to q{q1} val acc changes {100 * (a1 - a2):+.2f} points "
        f"({100 * slope:+.3f} per quality point); continued linearly to q100 that would be "
        f"{100 * slope * (100 - q1):+.2f} points over q{q1}: a trend, not a measurement (the shipped images' own loss "
        "against lossless CIFAR-10 is not in the zip, and JPEG loss is not linear in quality)"
    )


def draw(results: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_quality, by_psnr) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    rows = sorted((r for r in results if r["quality_value"] is not None), key=lambda r: r["quality_value"])
    by_quality.plot([r["quality_value"] for r in rows], [100 * r["val_acc"] for r in rows], "o-", color="tab:blue")
    for r in results:
        if r["quality"] == "shipped":
            q, acc = r["quality_value"], 100 * r["val_acc"]
            label = f"as shipped (q≈{q})" if q else "as shipped"
            if q is not None:
                by_quality.plot(q, acc, "*", color="tab:red", markersize=14, label=label)
            by_psnr.axhline(acc, color="tab:red", linestyle="--", label=label)
    by_quality.set_xlabel("JPEG quality (PIL, 4:2:0)")
    by_quality.set_ylabel("val accuracy (%)")
    again = [r for r in results if r["psnr_db"] is not None]
    by_psnr.plot([r["psnr_db"] for r in again], [100 * r["val_acc"] for r in again], "o-", color="tab:blue")
    for r in again:
        point = (r["psnr_db"], 100 * r["val_acc"])
        by_psnr.annotate(f"q{r['quality']}", point, textcoords="offset points", xytext=(4, 4))
    by_psnr.set_xlabel("PSNR against the shipped JPEGs (dB)")
    for ax in (by_quality, by_psnr):
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_quality(text: str) -> str | int:
    if text == "shipped":
        return text
    quality = int(text)
    if not 1 <= quality <= 100:
        raise argparse.ArgumentTypeError(f"{text}: a JPEG quality is 1..100 (or 'shipped')")
    return quality


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=os.environ.get(ZIP_ENV), help=f"default: ${ZIP_ENV}")
    parser.add_argument("--zips-dir", type=Path, required=True, help="where the re-encoded zips go (reused)")
    parser.add_argument("--runs-dir", type=Path, required=True, help="one run directory per quality goes here")
    parser.add_argument(
        "--qualities", nargs="+", type=parse_quality, default=["shipped", 50, 30, 15], help="'shipped' or 1..100"
    )
    parser.add_argument("--experiment", default="cifar10_resnet20", help="the recipe (default: the paper's)")
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--epochs", type=int, default=10, help="trainer.max_epochs of every run (lr drops follow)")
    parser.add_argument("--psnr-images", type=int, default=500, help="images sampled for the PSNR")
    parser.add_argument("--figure", type=Path, default=REPO_ROOT / "docs" / "images" / "jpeg_quality.png")
    add_train_run_args(parser)
    parser.set_defaults(json=REPO_ROOT / "benchmarks" / "results" / "jpeg_quality.json")
    args = parse_train_run_args(parser, argv)
    if args.source is None or not Path(args.source).is_file():
        parser.error(f"--source or ${ZIP_ENV}: the CIFAR-10 JPEG zip ({args.source} is not a file)")
    if min(args.epochs, args.psnr_images) < 1:
        parser.error("--epochs and --psnr-images must be at least 1")
    source = Path(args.source).resolve()
    source_hash = sha256(source)
    shipped_quality = estimate_quality(source)
    progress(f"{source.name}: quantisation table of PIL quality {shipped_quality}")
    results = []
    for quality in dict.fromkeys(args.qualities):  # each once, in the given order
        if quality == "shipped":
            zip_path, record = source, {"bytes_per_image": None, "psnr_db": None, "mean_psnr_db": None}
            with zipfile.ZipFile(source) as archive:
                infos = [archive.getinfo(n) for n in image_members(archive)]
            record["bytes_per_image"] = sum(i.file_size for i in infos) / max(1, len(infos))
            value = shipped_quality
        else:
            zip_path, manifest = reencoded_zip(source, source_hash, quality, args.zips_dir.resolve())
            record = {"bytes_per_image": manifest["bytes_per_image"], **psnr(source, zip_path, args.psnr_images)}
            value = quality
        name = "shipped" if quality == "shipped" else f"q{quality}"
        run = train_on(zip_path, args.runs_dir.resolve() / f"{args.model}_e{args.epochs}" / name, args)
        results.append({"quality": quality, "quality_value": value, "zip": str(zip_path), **record, **run})
        progress(f"{name}: val acc {run['val_acc']:.4f}, PSNR {record['psnr_db'] or float('inf'):.2f} dB")
    print("\n| JPEG quality | bytes/image | PSNR vs shipped (dB) | val acc |\n|---|---|---|---|")
    for r in results:
        shown = f"shipped (q≈{r['quality_value']})" if r["quality"] == "shipped" else str(r["quality"])
        db = "-" if r["psnr_db"] is None else f"{r['psnr_db']:.2f}"
        print(f"| {shown} | {r['bytes_per_image']:.0f} | {db} | {100 * r['val_acc']:.2f} % |")
    note = extrapolation(results)
    print(note)
    title = f"{args.model}, experiment={args.experiment}, {args.epochs} epochs, the same seed and split"
    draw(results, args.figure, title)
    progress(f"wrote {args.figure}")
    settings = {
        "source": str(source),
        "source_sha256": source_hash,
        "shipped_quality_estimate": shipped_quality,
        "qualities": args.qualities,
        "experiment": args.experiment,
        "model": args.model,
        "epochs": args.epochs,
        "overrides": args.override,
        "psnr_images": args.psnr_images,
        "zips_dir": str(args.zips_dir),
        "runs_dir": str(args.runs_dir),
        "extrapolation": note,
    }
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    write_payload(args.json, "jpeg_quality", device, settings, results)
    return results


if __name__ == "__main__":
    main()
