"""Loading weights into zoo models: safely (never executing code from a file) and forgivingly (prefixes,
torchvision's legacy key names, a classifier for another number of classes), but never silently partially.
"""

from __future__ import annotations

import logging
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from .arguments import boolean, instance
from .base import ZooModel
from .errors import WeightsError

log = logging.getLogger(__name__)

# Wrappers that prefix every key: Lightning modules (`net.`/`model.`), DataParallel/DDP (`module.`), torch.compile.
WRAPPER_PREFIXES = ("net.", "model.", "module.", "_orig_mod.")
# torchvision's published DenseNet files predate its current module names ("norm.1" for "norm1").
LEGACY_KEY_PATTERNS = [(re.compile(r"(denselayer\d+\.(?:norm|relu|conv))\.([12])\."), r"\1\2.")]
MIN_MATCHED_FRACTION = 0.5  # below this share of the backbone's tensors the file is another architecture
MAX_EXTRA_FRACTION = 0.1  # ... and so it is above this share of tensors the model lacks (e.g. a deeper ResNet)


@dataclass
class LoadReport:
    loaded: list[str]
    missing: list[str]
    unexpected: list[str]
    reinitialised: list[str]  # classifier tensors dropped because the class count differs


def existing_file(argument: str, path: str | Path) -> Path:
    """``path`` as a Path to a file, or a WeightsError naming ``argument`` (a directory or nothing there)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise WeightsError(f"{argument}={str(path)!r} is a directory, not a weights file: pass a file inside it")
    if not path.is_file():
        raise WeightsError(f"checkpoint not found: {path} (given as {argument}); check the path")
    return path


def load_file(path: str | Path, argument: str = "path") -> dict:
    """Read a checkpoint or state_dict file on the CPU with ``weights_only=True`` (tensors and plain containers
    only)."""
    path = existing_file(argument, path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        blocked = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+)", str(err))
        if blocked:
            raise WeightsError(
                f"refusing to load {path}: it holds a Python object ({blocked.group(1)}) besides tensors and plain "
                "containers, and unpickling it could execute code, so it is loaded with weights_only=True and never "
                "otherwise. If you trust the file, re-save only its state_dict"
            ) from None
        raise WeightsError(f"{path} is not a PyTorch checkpoint (corrupt or another format)") from None
    except Exception as err:  # a text file, a truncated zip, ...: torch raises whatever its parser met first
        raise WeightsError(
            f"{path} is not a PyTorch checkpoint (corrupt or another format: {type(err).__name__})"
        ) from None
    if not isinstance(obj, dict):
        raise WeightsError(f"{path} holds a {type(obj).__name__}, not a checkpoint or state_dict")
    return obj


def extract_state_dict(obj: Mapping) -> dict[str, Tensor]:
    """The model tensors of a Lightning checkpoint or a plain/torchvision state_dict, with wrapper prefixes stripped."""
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    state = {}
    for key, value in obj.items():
        if not isinstance(value, Tensor):
            continue
        while key.startswith(WRAPPER_PREFIXES):
            key = key.split(".", 1)[1]
        for pattern, replacement in LEGACY_KEY_PATTERNS:
            key = pattern.sub(replacement, key)
        state[key] = value
    return state


def _head_keys(model: ZooModel) -> set[str]:
    head_paths = dict(model.group_layout())["head"]
    return {k for k in model.state_dict() if any(k == p or k.startswith(p + ".") for p in head_paths)}


def adapt_first_conv(weight: Tensor, in_chans: int) -> Tensor:
    """Fit a first-layer kernel to another number of input channels.

    To 1 channel the source kernels are summed; otherwise the source channels are repeated cyclically and scaled
    by source/target channel count. The response to a grey image (every channel equal) is kept exactly when the
    target count is 1 or a multiple of the source count (RGB -> 6, 9, ...); for other counts (RGB -> 2, 4, 5)
    the cyclic repeat gives some source channels more weight than others, so it is kept only approximately.
    """
    if in_chans == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = -(-in_chans // weight.shape[1])
    return weight.repeat(1, repeats, 1, 1)[:, :in_chans] * (weight.shape[1] / in_chans)


def _architecture_mismatch(own: dict, incoming: dict, head: set[str], shape_clash: list[str]) -> str | None:
    """Why ``incoming`` comes from another architecture than ``own`` (None when only the head differs)."""
    body_clash = [k for k in shape_clash if k not in head]
    if body_clash:
        return f"shape mismatch in {body_clash[:3]}"
    backbone = [k for k in own if k not in head]
    matched = [k for k in backbone if k in incoming]
    if len(matched) < MIN_MATCHED_FRACTION * len(backbone):
        return f"only {len(matched)} of {len(backbone)} backbone tensors match by name"
    extra = [k for k in incoming if k not in own]
    if len(extra) > MAX_EXTRA_FRACTION * len(own):
        return f"{len(extra)} tensors the model does not have, e.g. {extra[:3]}"
    return None


def unusable_tensors(own: Mapping[str, Tensor], incoming: Mapping[str, Tensor]) -> str | None:
    """Why tensors of ``incoming`` cannot stand for ``own``'s of the same names (None: they can): integers where the
    model holds floats or the reverse (``load_state_dict`` would cast them without a word), or values that are not
    finite (NaN or inf weights train and predict nothing)."""
    common = [k for k in own if k in incoming]
    other_kind = [k for k in common if own[k].is_floating_point() != incoming[k].is_floating_point()]
    if other_kind:
        return f"{other_kind[:3]} hold {incoming[other_kind[0]].dtype} where the model holds {own[other_kind[0]].dtype}"
    broken = [k for k in common if incoming[k].is_floating_point() and not bool(torch.isfinite(incoming[k]).all())]
    return f"{broken[:3]} hold NaN or infinite values" if broken else None


def source_architecture(raw: Mapping) -> str | None:
    """The zoo model name a checkpoint written by this project's training was made with, if it says."""
    model = raw.get("hyper_parameters", {}).get("model") if isinstance(raw.get("hyper_parameters"), Mapping) else None
    return model.get("name") if isinstance(model, Mapping) else None


def load_pretrained(
    model: ZooModel, source: str | Path | Mapping, source_name: str | None = None, allow_partial: bool = False
) -> LoadReport:
    """Load every matching tensor into ``model``; re-initialise the classifier when its class count differs, and
    adapt the first convolution when the input channels differ (e.g. ImageNet weights for grey images).

    Raises ``WeightsError`` naming both architectures when the source does not fit outside the head, and when it
    leaves some of the model's tensors unset (e.g. resnet18 weights in a resnet34) unless ``allow_partial``.
    """
    instance("model", model, ZooModel, "a zoo model (built by zoo.create_model)")
    instance("source", source, (str, Path, Mapping), "a weights file's path, or a checkpoint or state_dict (a dict)")
    boolean("allow_partial", allow_partial)
    raw = load_file(source, "source") if isinstance(source, (str, Path)) else source
    incoming = extract_state_dict(raw)
    own = model.state_dict()
    head = _head_keys(model)
    model_name = model.info.name if model.info is not None else type(model).__name__
    source_desc = source_name or (
        f"the weights in {source}" if isinstance(source, (str, Path)) else "the given weights"
    )
    source_arch = source_architecture(raw)
    if source_arch:
        source_desc += f" ({source_arch})"

    first = f"{model.first_conv_path}.weight"
    if (
        first in incoming
        and first in own
        and incoming[first].shape[1] != own[first].shape[1]
        and incoming[first].shape[2:] == own[first].shape[2:]
    ):
        log.info(
            "%s: first convolution adapted from %d to %d input channels",
            model_name,
            incoming[first].shape[1],
            own[first].shape[1],
        )
        incoming[first] = adapt_first_conv(incoming[first], own[first].shape[1])
    shape_clash = [k for k in own if k in incoming and incoming[k].shape != own[k].shape]
    reason = _architecture_mismatch(own, incoming, head, shape_clash)
    if reason:
        raise WeightsError(
            f"{source_desc} do not fit {model_name}: {reason}. They belong to "
            f"{source_arch or 'another architecture'}; pick the model they were trained as, or another checkpoint"
        )
    unusable = unusable_tensors(own, {k: v for k, v in incoming.items() if k not in shape_clash})
    if unusable:
        raise WeightsError(f"{source_desc} cannot be loaded into {model_name}: {unusable}; pick another file")
    reinitialised = [k for k in shape_clash if k in head]
    missing = [k for k in own if k not in incoming and k not in head]
    if missing and not allow_partial:
        raise WeightsError(
            f"{source_desc} cover only {len(own) - len(missing)} of {len(own)} tensors of {model_name} "
            f"(none for e.g. {missing[:2]}): they come from {source_arch or 'a smaller or different network'}. "
            "Pick the model they were trained as, or allow a partial load (finetune.allow_partial=true) to keep the "
            "rest as initialised"
        )
    if reinitialised:
        model.reset_classifier(model.num_classes)  # fresh head, initialised the family's way
        log.info("classifier re-initialised for %d classes (dropped %s)", model.num_classes, reinitialised)
    usable = {k: v for k, v in incoming.items() if k not in shape_clash}
    result = model.load_state_dict(usable, strict=False)
    missing = [k for k in result.missing_keys if k not in reinitialised]
    if missing:  # only with allow_partial
        log.warning("%s: %d tensors not in %s, left as initialised: %s", model_name, len(missing), source_desc, missing)
    if result.unexpected_keys:
        log.warning(
            "%s: %d unexpected tensors ignored: %s", model_name, len(result.unexpected_keys), result.unexpected_keys
        )
    return LoadReport(
        loaded=sorted(usable.keys() & own.keys()),
        missing=missing,
        unexpected=list(result.unexpected_keys),
        reinitialised=reinitialised,
    )
