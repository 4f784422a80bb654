"""Published weights for the zoo's models, for users with network: ``create_model(name, pretrained=True)``.

Only faithful public checkpoints are listed: torchvision's ImageNet files for the architectures the zoo shares with
torchvision (same layers and state_dict keys). A file is downloaded once into torch.hub's cache
(``$TORCH_HOME/hub/checkpoints``, the same place torchvision uses), its SHA-256 checked against the prefix torchvision
publishes in the file name on every load, and read with ``weights_only=True``. Offline, the error names the file
to place in the cache. Nothing here runs at import time, and the tests never download.
"""

import hashlib
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import torch

from .base import ZooModel
from .weights import WeightsError, load_pretrained

TORCHVISION = "https://download.pytorch.org/models/"


@dataclass(frozen=True)
class PretrainedFile:
    url: str
    sha256_prefix: str  # leading hex digits of the file's SHA-256, as in torchvision's file name
    model_kwargs: dict = field(default_factory=dict)  # factory arguments these weights need

    @property
    def filename(self) -> str:
        return Path(urlparse(self.url).path).name


def _torchvision(filename: str, **model_kwargs) -> PretrainedFile:
    return PretrainedFile(TORCHVISION + filename, filename.rsplit("-", 1)[1].split(".")[0], model_kwargs)


PRETRAINED: dict[str, PretrainedFile] = {
    "resnet18": _torchvision("resnet18-f37072fd.pth"),
    "resnet34": _torchvision("resnet34-b627a593.pth"),
    "resnet50": _torchvision("resnet50-0676ba61.pth"),
    "resnet101": _torchvision("resnet101-63fe2227.pth"),
    "resnet152": _torchvision("resnet152-394f9c45.pth"),
    "vgg11": _torchvision("vgg11-8a719046.pth"),
    "vgg13": _torchvision("vgg13-19584684.pth"),
    "vgg16": _torchvision("vgg16-397923af.pth"),
    "vgg19": _torchvision("vgg19-dcbb9e9d.pth"),
    "vgg11_bn": _torchvision("vgg11_bn-6002323d.pth"),
    "vgg13_bn": _torchvision("vgg13_bn-abd245e5.pth"),
    "vgg16_bn": _torchvision("vgg16_bn-6c64b313.pth"),
    "vgg19_bn": _torchvision("vgg19_bn-c79401a0.pth"),
    "densenet121": _torchvision("densenet121-a639ec97.pth"),
    "densenet161": _torchvision("densenet161-8d451a50.pth"),
    "densenet169": _torchvision("densenet169-b2777c0a.pth"),
    "densenet201": _torchvision("densenet201-c1103571.pth"),
    # Google's released weights expect inputs scaled to (x - 0.5) / 0.5: see zoo.inception_v3
    "inception_v3": _torchvision("inception_v3_google-0cc3c7bd.pth", transform_input=True),
}


def pretrained_file(name: str) -> PretrainedFile:
    if name not in PRETRAINED:
        raise KeyError(f"no published weights for {name!r}; models with weights: {', '.join(sorted(PRETRAINED))}")
    return PRETRAINED[name]


def cache_path(entry: PretrainedFile) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / entry.filename


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(entry: PretrainedFile) -> Path:
    """The cached file, downloaded first if absent; its hash checked."""
    path = cache_path(entry)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(entry.url, str(path), hash_prefix=None, progress=False)
        except (urllib.error.URLError, OSError) as err:
            raise WeightsError(
                f"cannot download {entry.url} ({err}); without network, place that file at {path}"
            ) from None
    digest = _sha256(path)
    if not digest.startswith(entry.sha256_prefix):
        raise WeightsError(
            f"{path} has SHA-256 {digest[:12]}..., expected {entry.sha256_prefix}...: a corrupt or "
            f"other file; delete it (it is downloaded again from {entry.url})"
        )
    return path


def load_published(model: ZooModel, name: str) -> None:
    """Load ``name``'s published weights into ``model`` (a new head if its class count differs)."""
    entry = pretrained_file(name)
    load_pretrained(model, fetch(entry), source_name=f"the published weights of {name} ({entry.filename})")
