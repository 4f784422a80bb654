"""The outside publishers' data the catalogue copies, read from their own packages (torchvision's ``*_Weights``
enums, timm's models): what ``zoo/_weights/torchvision.json`` and the timm key tables are checked against."""

import inspect

import torch

from zoo import create_model

# the zoo architectures whose layers and state_dict keys are torchvision's, and what they are there
TORCHVISION_ARCHITECTURES = [
    *(f"resnet{d}" for d in (18, 34, 50, 101, 152)),
    *(f"vgg{d}{bn}" for bn in ("", "_bn") for d in (11, 13, 16, 19)),
    *(f"densenet{d}" for d in (121, 161, 169, 201)),
    "inception_v3",
]
TORCHVISION_TAGS = {"IMAGENET1K_V1": "tv_in1k", "IMAGENET1K_V2": "tv2_in1k"}  # timm's names for them
TORCHVISION_KWARGS = {"inception_v3": {"transform_input": True}}  # Google's weights expect (x - 0.5) / 0.5


def torchvision_entries() -> list[dict]:
    """The JSON entries of torchvision's ImageNet weights for the zoo's architectures."""
    from torchvision.models import get_model_weights

    entries = []
    for arch in TORCHVISION_ARCHITECTURES:
        enum = get_model_weights(arch)
        for member in enum:
            if member.name not in TORCHVISION_TAGS:  # e.g. VGG16's IMAGENET1K_FEATURES: no classifier
                continue
            entries.append(_torchvision_entry(arch, member, member is enum.DEFAULT))
    return entries


def _torchvision_entry(arch, member, default: bool) -> dict:
    transform = member.transforms
    options = {
        name: p.default for name, p in inspect.signature(transform.func).parameters.items() if name != "self"
    } | transform.keywords
    filename = member.url.rsplit("/", 1)[1]
    metrics = member.meta["_metrics"]["ImageNet-1K"]
    entry = {
        "architecture": arch,
        "tag": TORCHVISION_TAGS[member.name],
        "dataset": "imagenet1k",
        "preprocessing": {
            "mean": list(options["mean"]),
            "std": list(options["std"]),
            "input_size": [3, options["crop_size"], options["crop_size"]],
            "resize_size": options["resize_size"],
            "interpolation": options["interpolation"].value,
        },
        "file": filename,
        "sha256": filename.rsplit("-", 1)[1].split(".")[0],
        "recipe": member.meta["recipe"],
        "accuracy": {"top1": metrics["acc@1"], "top5": metrics["acc@5"], "split": "ImageNet-1k val, torchvision"},
        "url": member.url,
        "default": default,
    }
    if arch in TORCHVISION_KWARGS:
        entry["model_kwargs"] = TORCHVISION_KWARGS[arch]
    return entry


def module_renames(reference: torch.nn.Module, arch: str) -> dict[str, str]:
    """{reference module path: zoo module path}, from the two state_dicts paired by position (same shapes)."""
    ours, theirs = create_model(arch).state_dict(), reference.state_dict()
    renames: dict[str, str] = {}
    for (a, va), (b, vb) in zip(ours.items(), theirs.items(), strict=True):
        assert va.shape == vb.shape, (a, b)
        mine, other = a.split("."), b.split(".")
        while mine and other and mine[-1] == other[-1]:  # the common tail (conv.weight, bn.running_mean, ...)
            mine.pop()
            other.pop()
        renames[".".join(other)] = ".".join(mine)
    return renames
