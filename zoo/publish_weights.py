"""Publish a trained model as shipped weights: ``<arch>.<tag>.safetensors`` in ``zoo/_weights/`` and its record in
``zoo/_weights/zoo.json``, so that ``create_model(arch, pretrained=tag)`` loads it offline.

    python -m zoo.publish_weights CHECKPOINT --tag cifar10 --metrics RUN/metrics.json --recipe "python train.py ..."

``CHECKPOINT`` is a train.py checkpoint (a Lightning ``.ckpt``, read with ``weights_only=True``) or a state_dict.
The architecture, class names and preprocessing come from the checkpoint's hyper-parameters where it has them;
the accuracy from evaluate.py's ``metrics.json``. Publishing is data: a file and a JSON entry, no code.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from safetensors.torch import save_file

from .arguments import text
from .catalog import (
    SHIPPED_MANIFEST,
    WEIGHTS_DIR,
    Accuracy,
    Preprocessing,
    WeightsRecord,
    dataset_classes,
    record_to_json,
)
from .errors import WeightsError
from .pretrained import sha256
from .registry import create_model, fit_channels, model_info
from .weights import load_file, load_pretrained, source_architecture

TAG = re.compile(r"[A-Za-z0-9_-]+")  # a file name's part, and the part of arch.tag after the dot
EVALUATE_METRICS = "pass the metrics.json evaluate.py ckpt_path=... wrote"
OWN_IMAGES = "imagefolder"  # the dataset name of a run on the user's own folder: --dataset may name it


def accuracy_from_metrics(path: str | Path, argument: str = "metrics file") -> Accuracy:
    """The top-1/top-5 (in percent) and split of an evaluate.py ``metrics.json``."""
    try:
        metrics = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise WeightsError(f"{argument} {path} is not JSON ({err}): {EVALUATE_METRICS}") from None
    if not _evaluate_metrics(metrics):
        raise WeightsError(
            f"{argument} {path} is not a metrics.json of evaluate.py (it lacks top1, split or num_samples as "
            f"evaluate.py writes them; a training run's holds val/acc): {EVALUATE_METRICS}"
        )
    top5 = metrics.get("top5")
    return Accuracy(
        top1=round(100 * metrics["top1"], 2),
        top5=None if top5 is None else round(100 * top5, 2),
        split=f"{metrics['split']} split, {metrics['num_samples']} images",
    )


def _evaluate_metrics(metrics: object) -> bool:
    """Whether ``metrics`` is the object evaluate.py writes: numbers top1, num_samples (and top5, if any), a split."""

    def number(value: object) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    if not isinstance(metrics, dict) or "split" not in metrics:
        return False
    return number(metrics.get("top1")) and number(metrics.get("num_samples")) and number(metrics.get("top5", 0))


def _preprocessing(architecture: str, data: Mapping, in_chans: int) -> Preprocessing:
    """What the run fed the model: its data hyper-parameters, else the model's defaults."""
    info = model_info(architecture)
    size = data.get("image_size") or info.input_size[-1]
    return Preprocessing(
        mean=tuple(data.get("mean") or fit_channels(info.mean, in_chans)),
        std=tuple(data.get("std") or fit_channels(info.std, in_chans)),
        input_size=(in_chans, size, size),
        resize_size=size,
    )


def current_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def publish(
    checkpoint: str | Path,
    tag: str,
    accuracy: Accuracy | None,
    recipe: str,
    architecture: str | None = None,
    dataset: str | None = None,
    commit: str | None = None,
    default: bool = False,
    out_dir: Path = WEIGHTS_DIR,
) -> WeightsRecord:
    """Write ``<arch>.<tag>.safetensors`` into ``out_dir`` and add (or replace) its record in ``out_dir/zoo.json``.

    The weights are loaded into a fresh model first, so a file that does not fit the architecture is refused.
    """
    if not TAG.fullmatch(tag):
        raise WeightsError(
            f"tag={tag!r}: a tag is a name of letters, digits, _ and - (it names the file <arch>.<tag>.safetensors "
            "and the weights <arch>.<tag>)"
        )
    if not text("recipe", recipe, "the commands that made the weights").strip():
        raise WeightsError(f"recipe={recipe!r} (--recipe): give the exact commands that made and measured the weights")
    raw = load_file(checkpoint, "checkpoint")
    hparams = raw.get("hyper_parameters", {})
    data = raw.get("datamodule_hyper_parameters", {})
    architecture = _architecture(checkpoint, architecture, source_architecture(raw))
    dataset = _dataset(checkpoint, dataset, data.get("name"))
    model_hp = hparams.get("model", {})
    try:
        model = create_model(
            architecture, model_hp.get("num_classes"), model_hp.get("in_chans"), **model_hp.get("kwargs", {})
        )
    except (TypeError, ValueError) as err:  # an edited checkpoint's model arguments
        reason = err.args[0] if err.args else err
        raise WeightsError(
            f"checkpoint={str(checkpoint)!r}: its model arguments do not build {architecture}: {reason}"
        ) from None
    load_pretrained(model, raw, source_name=f"the weights in {checkpoint}")
    file = f"{architecture}.{tag}.safetensors"
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out_dir / file))
    record = WeightsRecord(
        architecture=architecture,
        tag=tag,
        dataset=dataset,
        class_names=tuple(hparams.get("class_names") or range(model.num_classes)),
        preprocessing=_preprocessing(architecture, data, model.in_chans),
        file=file,
        sha256=sha256(out_dir / file),
        recipe=recipe,
        accuracy=accuracy,
        commit=commit,
        model_kwargs=dict(model_hp.get("kwargs", {})),
        default=default,
    )
    _write_record(out_dir / SHIPPED_MANIFEST.name, record)
    return record


def _architecture(checkpoint: str | Path, given: str | None, recorded: str | None) -> str:
    """The model to publish: the checkpoint's, which ``given`` may only repeat (its arguments are that model's)."""
    if given is not None and recorded is not None and given != recorded:
        raise WeightsError(
            f"architecture={given!r} (--architecture) does not fit checkpoint={str(checkpoint)!r}: its model is "
            f"{recorded} (hyper_parameters.model.name); leave --architecture out to take it"
        )
    if given is None and recorded is None:
        raise WeightsError(
            f"checkpoint={str(checkpoint)!r} does not name its model: pass --architecture (architecture=)"
        )
    return given or recorded


def _dataset(checkpoint: str | Path, given: str | None, recorded: str | None) -> str:
    """The dataset recorded: the one the checkpoint was trained on (``given`` may only repeat it, or name the user's
    own image folder); without one recorded, ``given`` must be a dataset the catalogue knows."""
    if given is None:
        if recorded is None:
            raise WeightsError(f"checkpoint={str(checkpoint)!r} does not name its dataset: pass --dataset (dataset=)")
        return recorded
    known = list(dataset_classes())
    if recorded not in (None, OWN_IMAGES) and given != recorded:
        raise WeightsError(
            f"dataset={given!r} (--dataset): checkpoint={str(checkpoint)!r} was trained on {recorded} "
            "(its datamodule_hyper_parameters); leave --dataset out to take it"
        )
    if recorded is None and given not in known:
        raise WeightsError(
            f"dataset={given!r} (--dataset) is not a dataset the zoo knows, and checkpoint={str(checkpoint)!r} "
            f"records none: choose one of {known}"
        )
    if not TAG.fullmatch(given):
        raise WeightsError(f"dataset={given!r} (--dataset): name your images with letters, digits, _ and -")
    return given


def _write_record(manifest: Path, record: WeightsRecord) -> None:
    entries = json.loads(manifest.read_text()) if manifest.is_file() else []
    entries = [e for e in entries if (e["architecture"], e["tag"]) != (record.architecture, record.tag)]
    manifest.write_text(json.dumps([*entries, record_to_json(record)], indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zoo.publish_weights", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a train.py checkpoint (.ckpt) or a state_dict file")
    parser.add_argument("--tag", required=True, help="the weights' tag: arch.TAG (e.g. cifar10, digits)")
    parser.add_argument("--metrics", help="evaluate.py's metrics.json: the accuracy recorded")
    parser.add_argument("--recipe", required=True, help="the exact commands that made and measured the weights")
    parser.add_argument("--architecture", help="default: the checkpoint's model name")
    parser.add_argument("--dataset", help="default: the checkpoint's dataset name")
    parser.add_argument("--commit", help="default: this checkout's git HEAD")
    parser.add_argument("--default", action="store_true", help="what pretrained=True loads for the architecture")
    parser.add_argument("--out-dir", type=Path, default=WEIGHTS_DIR)
    args = parser.parse_args(argv)
    try:
        record = publish(
            args.checkpoint,
            args.tag,
            accuracy_from_metrics(args.metrics, "--metrics") if args.metrics else None,
            args.recipe,
            architecture=args.architecture,
            dataset=args.dataset,
            commit=args.commit or current_commit(),
            default=args.default,
            out_dir=args.out_dir,
        )
    except OSError as err:  # a folder that cannot be written, a --metrics file that is not there
        parser.error(f"cannot read or write {err.filename}: {err.strerror or err}")
    except (KeyError, ValueError) as err:  # WeightsError is a ValueError; a KeyError's str() would quote its message
        parser.error(str(err.args[0]) if err.args else str(err))
    print(
        f"wrote {args.out_dir / record.file} (sha256 {record.sha256[:12]}...) and its record in {SHIPPED_MANIFEST.name}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
