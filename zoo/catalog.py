"""The catalogue of published weights: one ``WeightsRecord`` per ``arch.tag`` (timm's naming), read from JSON.

Records are data, not code: ``zoo/_weights/*.json`` hold them (``torchvision.json`` and ``timm.json`` for files
downloaded from their publishers, ``zoo.json`` for the files shipped in ``zoo/_weights/`` and written by
``python -m zoo.publish_weights``); ``classes.json`` the class names of each dataset; ``paper.json`` the accuracy
each paper reports, attached to the records of the same architecture and dataset. Nothing here imports a model.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

from .arguments import text
from .errors import WeightsError

WEIGHTS_DIR = Path(__file__).parent / "_weights"
MANIFESTS = ("torchvision.json", "timm.json", "zoo.json")  # later files may not repeat an earlier arch.tag
SHIPPED_MANIFEST = WEIGHTS_DIR / "zoo.json"


@dataclass(frozen=True)
class Preprocessing:
    """How images are prepared for these weights at evaluation: resize the shorter side to ``resize_size``
    (None: images are already ``input_size``), center-crop ``input_size``, scale to [0, 1], normalise."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    input_size: tuple[int, int, int]  # (C, H, W) after the crop
    resize_size: int | None = None
    interpolation: str = "bilinear"  # torchvision.transforms.InterpolationMode, lower case

    @property
    def crop_size(self) -> int:
        return self.input_size[-1]


@dataclass(frozen=True)
class Accuracy:
    """Top-1 (and top-5 where known) accuracy in percent, and on which split it was measured."""

    top1: float
    split: str
    top5: float | None = None


@dataclass(frozen=True)
class WeightsRecord:
    """One published weights file and its model card."""

    architecture: str  # a registered model name
    tag: str
    dataset: str  # a key of classes.json: imagenet1k, cifar10, digits, ...
    class_names: tuple[str, ...]
    preprocessing: Preprocessing
    file: str  # its name in zoo/_weights/ (shipped) or in torch.hub's cache (downloaded)
    sha256: str | None  # full hex digest, or the prefix the publisher prints in its file name; None: not published
    recipe: str  # the command (or the publisher's recipe link) that made the weights
    accuracy: Accuracy | None
    url: str | None = None  # None: shipped inside the package
    commit: str | None = None  # this project's git commit the recipe ran at (None for outside publishers)
    paper_accuracy: Accuracy | None = None
    model_kwargs: dict = field(default_factory=dict, hash=False)  # factory arguments these weights need
    key_map: str | None = None  # a rename table in zoo/_weights/ (publisher's module names -> the zoo's)
    default: bool = False  # what pretrained=True loads

    @property
    def name(self) -> str:
        return f"{self.architecture}.{self.tag}"

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def shipped(self) -> bool:
        return self.url is None


def _read_json(name: str):
    return json.loads((WEIGHTS_DIR / name).read_text())


def _accuracy(entry: dict | None) -> Accuracy | None:
    return None if entry is None else Accuracy(**entry)


def record_from_json(entry: dict, classes: dict, papers: dict) -> WeightsRecord:
    """A record from its JSON form: ``class_names`` default to the dataset's, the paper's figure is attached."""
    entry = dict(entry)
    prep = entry.pop("preprocessing")
    paper = dict(papers.get(entry["architecture"], {}))
    paper_dataset = paper.pop("dataset", None)
    return WeightsRecord(
        **{k: v for k, v in entry.items() if k not in ("class_names", "accuracy")},
        class_names=tuple(entry.get("class_names") or classes[entry["dataset"]]),
        preprocessing=Preprocessing(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in prep.items()},
        ),
        accuracy=_accuracy(entry.get("accuracy")),
        paper_accuracy=_accuracy(paper) if paper_dataset == entry["dataset"] else None,
    )


def record_to_json(record: WeightsRecord) -> dict:
    """The JSON form of a record (what ``publish_weights`` writes): class names of a known dataset by reference."""
    entry = asdict(record)
    entry.pop("paper_accuracy")
    if tuple(record.class_names) == tuple(dataset_classes().get(record.dataset, ())):
        entry.pop("class_names")
    return entry


@cache
def dataset_classes() -> dict[str, list[str]]:
    return _read_json("classes.json")


@cache
def paper_accuracy() -> dict[str, dict]:
    """The figure each paper reports for an architecture: {name: {dataset, top1, top5, split}}."""
    return _read_json("paper.json")


@cache
def catalogue() -> dict[str, WeightsRecord]:
    """Every record by ``arch.tag``, in manifest order."""
    records: dict[str, WeightsRecord] = {}
    for manifest in MANIFESTS:
        for entry in _read_json(manifest):
            record = record_from_json(entry, dataset_classes(), paper_accuracy())
            if record.name in records:
                raise ValueError(f"{manifest}: {record.name} is already in an earlier manifest")
            records[record.name] = record
    return records


def list_pretrained(pattern: str = "*") -> list[str]:
    """``arch.tag`` of every published weights file matching a glob (``"resnet50.*"``, ``"*cifar10"``), sorted."""
    pattern = text("pattern", pattern, "a glob such as 'resnet50.*'")
    return sorted(name for name in catalogue() if fnmatch.fnmatchcase(name, pattern))


def weights_record(architecture: str, pretrained: bool | str = True) -> WeightsRecord:
    """The record ``create_model(architecture, pretrained=...)`` loads: ``True`` the default, a string that tag.

    Raises ``WeightsError`` listing what exists when the model has no weights or not that tag.
    """
    tags = {r.tag: r for r in catalogue().values() if r.architecture == architecture}
    if not tags:
        every = ", ".join(sorted({r.architecture for r in catalogue().values()}))
        raise WeightsError(
            f"pretrained={pretrained!r}: {architecture} has no published weights; models with weights: {every}"
        )
    if pretrained is True:
        return next((r for r in tags.values() if r.default), next(iter(tags.values())))
    if pretrained not in tags:
        raise WeightsError(
            f"pretrained={pretrained!r}: {architecture} has no weights tagged {pretrained!r}; "
            f"its tags: {', '.join(tags)} (zoo.list_pretrained({architecture + '.*'!r}))"
        )
    return tags[pretrained]
