"""The reference zoo of classic CNNs: plain PyTorch models in a registry.

    from zoo import create_model, create_transform, list_models, list_pretrained, resolve_data_config
    model = create_model("resnet18", num_classes=10)
    model = create_model("lenet5", pretrained="digits")  # published weights: list_pretrained() lists arch.tag
    transform = create_transform(resolve_data_config(model))  # the weights' preprocessing

Nothing here imports Lightning or Hydra.
"""

from . import (  # noqa: F401  (registers the models)
    alexnet,
    bn_inception,
    densenet,
    googlenet,
    inception_resnet,
    inception_v3,
    inception_v4,
    lenet,
    resnet,
    resnet_cifar,
    vgg,
)
from .base import ClassifierOutput, ZooModel, count_parameters, split_output
from .catalog import WeightsRecord, list_pretrained
from .data_config import DataConfig, create_transform, resolve_data_config
from .errors import WeightsError
from .info import ModelInfo
from .registry import create_model, list_models, model_info, register_model

__all__ = [
    "ClassifierOutput",
    "DataConfig",
    "ModelInfo",
    "WeightsError",
    "WeightsRecord",
    "ZooModel",
    "count_parameters",
    "create_model",
    "create_transform",
    "list_models",
    "list_pretrained",
    "model_info",
    "register_model",
    "resolve_data_config",
    "split_output",
]
