"""Config nodes generated from the zoo's registry, so the registry stays the one source of truth for models.

``model=<name>`` exists for every registered name, with the factory's keyword arguments as typed keys
(``model.zero_init_residual=true``; a misspelt key or a wrong type fails when the config is composed). Family
aliases (``model=resnet``) are YAML files in ``configs/model/`` that pick a member.
"""

from __future__ import annotations

from dataclasses import field, make_dataclass
from typing import Any

from hydra.core.config_store import ConfigStore

from zoo import list_models, model_info
from zoo.registry import model_arguments

from .finetune import register_finetune_schema

PLAIN_TYPES = (bool, int, float, str)  # typed keys; a choice (a Literal) is a plain key the schema checks
MODEL_KEYS = ("name", "variant")  # the other keys of a model node are the factory's arguments


def _model_node(name: str) -> type:
    fields: list[tuple[str, Any, Any]] = [("name", str, field(default=name)), ("variant", str, field(default="auto"))]
    for arg, param in model_arguments(name).items():
        kind = param.annotation if param.annotation in PLAIN_TYPES else Any
        fields.append((arg, kind, field(default=param.default)))
    return make_dataclass(f"{name}_model_config", fields)


def register_configs() -> None:
    """Store the generated nodes; call before Hydra composes (importing ``zootrain`` does)."""
    store = ConfigStore.instance()
    for name in list_models():
        info = model_info(name)
        store.store(group="model", name=name, node=_model_node(name), provider=f"zoo registry: {info.paper}")
    register_finetune_schema()
