"""Checks of the library's arguments, with one message shape: the argument and its value, what is wrong, what to do.

Every public entry point (``create_model`` and its models' own arguments, ``list_models``, ``reset_classifier``,
``features_only``/``out_indices``, ``DataConfig``, ``create_transform``, ``load_pretrained``) checks through these, so a
wrong argument is a TypeError or ValueError naming it, never a failure deep inside a layer.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

MAX_SHOWN = 60  # a longer repr (a model, a tensor) would bury the message: its type is shown instead


def shown(value: object) -> str:
    """``value``'s repr when it is short and one line, else ``<its type>``."""
    written = repr(value)
    return written if len(written) <= MAX_SHOWN and "\n" not in written else f"<{type(value).__name__}>"


def instance(argument: str, value: object, kind: type | tuple[type, ...], expected: str) -> object:
    """``value`` when it is a ``kind``; anything else is a TypeError saying what was expected."""
    if not isinstance(value, kind):
        raise TypeError(f"{argument}={shown(value)}: expected {expected}, got {type(value).__name__}")
    return value


def integer(argument: str, value: object, minimum: int) -> int:
    """``value`` as an int of at least ``minimum`` (bools are refused: ``True`` is no class count)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{argument}={shown(value)}: expected an int (at least {minimum}), got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{argument}={value}: must be at least {minimum}")
    return int(value)


def text(argument: str, value: object, expected: str) -> str:
    """``value`` as a str (a model name, a glob): anything else is a TypeError saying what was expected."""
    return instance(argument, value, str, expected)


def boolean(argument: str, value: object) -> bool:
    """``value`` when it is True or False: a text such as ``"no"`` (or a 0/1) would be taken by its truth value."""
    return instance(argument, value, bool, "True or False")


def probability(argument: str, value: object) -> float:
    """``value`` as a float in [0, 1], a drop rate: torch's range (1, every unit dropped, probes where dropout acts;
    the training settings refuse it); NaN fails the comparison too."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{argument}={shown(value)}: expected a rate between 0 and 1, got {type(value).__name__}")
    if not 0 <= value <= 1:
        raise ValueError(f"{argument}={value}: a rate is the share of units dropped in training; give one in [0, 1]")
    return float(value)


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
