"""``python evaluate.py ckpt_path=... images=PATH`` (or ``model=<name> pretrained=<tag> images=PATH``): a trained
model on your own images.

Prints the ``top_k`` classes with probabilities per image and writes ``predictions.csv``; ``visualize=feature_maps``
adds each stage's activations (``feature_maps/<image>/<stage>.png``), ``visualize=gradcam`` the Grad-CAM and
Grad-CAM++ maps of the predicted class and of ``target_class`` (``gradcam/<image>.png``). Preprocessing comes from
the checkpoint (or the weights' record) alone: the dataset's evaluation transform (``zootrain.data.preprocess``, no
augmentation) at the stored image size and normalisation, after bringing the image to the dataset's channels and
native size.
Every input is read and checked before anything is written; each image's pictures get a name of their own
(``picture_names``), and no output path is an input's.
"""

from __future__ import annotations

import csv
import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig
from PIL import Image
from torch import Tensor
from torchvision.datasets.folder import IMG_EXTENSIONS

from zoo import visualize

from .data import DATASETS, preprocess
from .data.decode import UnreadableImage, open_image
from .errors import ConfigError
from .evaluation_data import evaluated_model
from .module import ZooClassifier


@dataclass
class Classifier:
    """A trained network with what it takes to prepare an image for it and to name its outputs."""

    net: torch.nn.Module
    class_names: list[str]
    in_chans: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    transform: Any  # PIL image at the dataset's native size -> normalised (C, H, W)
    native_size: int | None  # images are resized to this square first; None: the transform resizes and crops

    def prepare(self, image: Image.Image) -> Tensor:
        image = image.convert("L" if self.in_chans == 1 else "RGB")
        if self.native_size is not None and image.size != (self.native_size, self.native_size):
            image = image.resize((self.native_size, self.native_size), Image.Resampling.BILINEAR)
        return self.transform(image)

    def display(self, x: Tensor) -> Tensor:
        return visualize.to_display(x, self.mean, self.std)


def classifier_of(module: ZooClassifier, data: dict[str, Any]) -> Classifier:
    """The network of ``module`` and its evaluation preprocessing from the dataset facts ``data`` (a checkpoint's
    ``datamodule_hyper_parameters``, or what published weights' record states)."""
    spec = DATASETS[data.get("name", "digits")]
    image_size = data.get("image_size") or spec.native_size
    mean, std = tuple(data.get("mean") or spec.mean), tuple(data.get("std") or spec.std)
    transform = preprocess(image_size, mean, std, centre_crop=not spec.in_memory)
    net = module.net.eval()
    return Classifier(
        net,
        list(module.hparams.class_names or range(net.num_classes)),
        net.in_chans,
        mean,
        std,
        transform,
        spec.native_size if spec.in_memory else None,
    )


# ----- finding and reading the images -----
def _is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMG_EXTENSIONS


def find_images(spec: str) -> list[Path]:
    """A file, every image file of a folder, or the files a glob matches."""
    path = Path(spec).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and _is_image_name(p))
        if not found:
            raise ConfigError(f"images={spec}: the folder holds no images ({', '.join(IMG_EXTENSIONS)})")
        return found
    if glob.has_magic(spec):
        found = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).is_file())
        if not found:
            raise ConfigError(f"images={spec}: the pattern matches no file")
        return found
    raise ConfigError(f"images={spec}: no such file or folder")


def find_all_images(spec: Any) -> list[Path]:
    """``images=``: one file, folder or glob, or a list of them (``images=[a/x.png,b/x.png]``)."""
    specs = list(spec) if isinstance(spec, (list, ListConfig)) else [spec]
    if not specs:
        raise ConfigError("images=[] names no image: give a file, a folder or a glob (or a list of them)")
    return [path for one in specs for path in find_images(str(one))]


def picture_names(paths: list[Path]) -> list[str]:
    """A distinct name for each image's pictures: its path below the images' common folder, without suffix
    (``a/x.png`` and ``b/x.png`` -> ``a/x``, ``b/x``), and ``-2``, ``-3``... for a name still taken (``x.png``
    beside ``x.jpg``, or one file given twice)."""
    resolved = [p.resolve() for p in paths]
    common = Path(os.path.commonpath([p.parent for p in resolved]))
    names: list[str] = []
    for path in resolved:
        stem = path.relative_to(common).with_suffix("").as_posix()
        name, n = stem, 1
        while name in names:
            n += 1
            name = f"{stem}-{n}"
        names.append(name)
    return names


def read_images(paths: list[Path]) -> list[tuple[Path, Image.Image]]:
    """Decode every file; one that is not an image is named and skipped, unless none is left."""
    images, bad = [], []
    for path in paths:
        try:
            with open_image(path, str(path)) as image:  # the data layer's reader: a decompression bomb is refused
                image.load()
                images.append((path, image.copy()))
        except (UnreadableImage, OSError) as err:  # OSError: PIL's for a file cut short
            bad.append(path)
            print(f"warning: skipping {path}: not a readable image ({getattr(err, 'reason', type(err).__name__)})")
    if not images:
        raise ConfigError(f"no readable image among {', '.join(map(str, bad))}; give PNG/JPEG/... files")
    return images


# ----- options -----
def _visualizations(value: Any) -> list[str]:
    """``visualize`` as a list (its names are checked by the schema, ``zootrain.schema``)."""
    return [] if value is None else list(value) if isinstance(value, (list, ListConfig)) else [value]


def _target_class(value: Any, class_names: list[str]) -> int | None:
    """``target_class`` as an index; a class name is accepted too."""
    if value is None:
        return None
    if str(value) in class_names and not isinstance(value, int):
        return class_names.index(str(value))
    if not isinstance(value, int) or not 0 <= value < len(class_names):
        raise ConfigError(
            f"target_class={value} is out of range: the model has {len(class_names)} classes "
            f"(0..{len(class_names) - 1}, or a name such as {class_names[0]!r})"
        )
    return value


# ----- the task -----
def predict(cfg: DictConfig) -> dict[str, Any]:
    """Top-k predictions (and pictures) for ``cfg.images``; returns {"predictions": rows, "csv": path}."""
    pictures = _visualizations(cfg.get("visualize"))
    if cfg.get("images") is None:
        raise ConfigError(f"visualize={cfg.visualize} pictures your own images: add images=<file|folder|glob>")
    if cfg.get("tta"):
        raise ConfigError(
            f"tta={cfg.tta} averages views over a split's evaluation, not predictions: drop it or images="
        )
    module, data, _ = evaluated_model(cfg)
    model = classifier_of(module, data)
    target = _target_class(cfg.get("target_class"), model.class_names)
    top_k = min(int(cfg.get("top_k", 5)), len(model.class_names))
    if top_k < 1:
        raise ConfigError(f"top_k={cfg.top_k}; it must be at least 1")
    images = [(path, model.prepare(image)) for path, image in read_images(find_all_images(cfg.images))]
    out_dir = Path(cfg.paths.output_dir)
    outputs = _output_paths(out_dir, pictures, picture_names([path for path, _ in images]))
    _check_no_input_overwritten(outputs, [path for path, _ in images])

    rows = []
    with torch.no_grad():
        for path, x in images:
            probs = model.net(x[None]).softmax(-1)[0]
            top = probs.topk(top_k)
            rows.append(
                {
                    "image": str(path),
                    "classes": [model.class_names[i] for i in top.indices.tolist()],
                    "probabilities": top.values.tolist(),
                }
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    for (path, x), row, written in zip(images, rows, outputs["images"]):
        print(f"{path}: " + ", ".join(f"{c} {p:.3f}" for c, p in zip(row["classes"], row["probabilities"])))
        if "feature_maps" in written:
            _write_feature_maps(model, x, written["feature_maps"])
        if "gradcam" in written:
            _write_gradcam(model, x, target, written["gradcam"])
    csv_path = outputs["csv"]
    _write_csv(rows, top_k, csv_path)
    print(f"wrote {csv_path}" + "".join(f", {out_dir / p}/" for p in pictures))
    return {"predictions": rows, "csv": str(csv_path)}


def _output_paths(out_dir: Path, pictures: list[str], names: list[str]) -> dict[str, Any]:
    """Where each image's pictures (a folder of feature maps, a Grad-CAM file) and the predictions go."""
    suffix = {"feature_maps": "", "gradcam": ".png"}
    return {
        "images": [{kind: out_dir / kind / f"{name}{suffix[kind]}" for kind in pictures} for name in names],
        "csv": out_dir / "predictions.csv",
    }


def _check_no_input_overwritten(outputs: dict[str, Any], inputs: list[Path]) -> None:
    written = [outputs["csv"], *(path for image in outputs["images"] for path in image.values())]
    read = {path.resolve() for path in inputs}
    clash = [path for path in written if path.resolve() in read]
    if clash:
        raise ConfigError(
            f"images: {clash[0]} is an input and would be overwritten by this evaluation's output; "
            "write elsewhere (hydra.run.dir=...) or move the images"
        )


def _write_csv(rows: list[dict], top_k: int, path: Path) -> None:
    with path.open("w", newline="", errors="backslashreplace") as f:  # a file name that is not UTF-8: escaped
        writer = csv.writer(f)
        writer.writerow(["image"] + [f"{key}{k}" for k in range(1, top_k + 1) for key in ("class", "probability")])
        for row in rows:
            writer.writerow(
                [row["image"]]
                + [v for pair in zip(row["classes"], row["probabilities"]) for v in (pair[0], f"{pair[1]:.6f}")]
            )


def _write_feature_maps(model: Classifier, x: Tensor, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for stage, activation in visualize.stage_activations(model.net, x[None]).items():
        fig = visualize.feature_map_figure(model.display(x), activation, f"{model.net.info.name}: {stage}")
        visualize.save(fig, folder / f"{stage}.png")


def _write_gradcam(model: Classifier, x: Tensor, target: int | None, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cams = []
    for cls in [None] if target is None else [None, target]:
        for plus in (False, True):
            result = visualize.grad_cam(model.net, x[None], target=cls, plus=plus)
            name = model.class_names[result.target]
            cams.append(
                (
                    f"{'Grad-CAM++' if plus else 'Grad-CAM'}: {name} ({result.probabilities[result.target]:.2f})",
                    result.map,
                )
            )
    stage = visualize.cam_stage(model.net, x[None])
    visualize.save(visualize.cam_figure(model.display(x), cams, f"{model.net.info.name}, {stage}"), path)
