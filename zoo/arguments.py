"""Checks of the library's arguments, with one message shape: the argument and its value, what is wrong, what to do.

Every public entry point (``create_model``, ``list_models``, ``reset_classifier``, ``features_only``/``out_indices``,
``DataConfig``) checks through these, so a wrong argument is a TypeError or ValueError naming it, never a failure deep
inside a layer.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence


def integer(argument: str, value: object, minimum: int) -> int:
    """``value`` as an int of at least ``minimum`` (bools are refused: ``True`` is no class count)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{argument}={value!r}: expected an int (at least {minimum}), got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{argument}={value}: must be at least {minimum}")
    return int(value)


def text(argument: str, value: object, expected: str) -> str:
    """``value`` as a str (a model name, a glob): anything else is a TypeError saying what was expected."""
    if not isinstance(value, str):
        raise TypeError(f"{argument}={value!r}: expected {expected}, got {type(value).__name__}")
    return value


def choice(argument: str, value: object, choices: Sequence[object], meaning: str = "") -> object:
    if value not in choices:
        raise ValueError(f"{argument}={value!r} is not available; choose one of {list(choices)}{meaning}")
    return value


def stage_indices(argument: str, indices: int | Sequence[int] | None, n_stages: int) -> list[int]:
    """timm's convention: None = every stage, an int k = the last k stages, a sequence = those stages once each
    (negative from the end)."""
    if indices is None:
        return list(range(n_stages))
    if isinstance(indices, numbers.Integral) and not isinstance(indices, bool):
        if not 0 < indices <= n_stages:
            raise ValueError(f"{argument}={indices}: the model has {n_stages} stages; take the last 1 to {n_stages}")
        return list(range(n_stages - int(indices), n_stages))
    if isinstance(indices, (str, bytes)) or not isinstance(indices, Sequence):
        raise TypeError(f"{argument}={indices!r}: expected None, an int or a sequence of stage indices")
    if not indices:
        raise ValueError(f"{argument}=[] selects no stage; give at least one index, or None for every stage")
    taken = [integer(f"{argument}[{i}]", index, -n_stages) for i, index in enumerate(indices)]
    taken = [t + n_stages if t < 0 else t for t in taken]
    bad = [i for i, t in zip(indices, taken) if t >= n_stages]
    if bad:
        raise ValueError(
            f"{argument}: stage indices {bad} out of range: the model has {n_stages} stages (0..{n_stages - 1})"
        )
    if len(set(taken)) != len(taken):
        raise ValueError(f"{argument}={list(indices)} names a stage twice; give each stage once")
    return taken
