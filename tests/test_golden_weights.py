"""Golden initial weights: for a fixed seed every pinned model starts from the same weights as when it was pinned.

A refactor of the init code (one shared path instead of a copy per family) must change nothing a user sees:
``torch.manual_seed(0); create_model(name)`` gives the same tensors before and after. The state_dict's names and
shapes are pinned by a hash; each parameter by its sum and sum of absolute values (6 significant digits), so a
changed distribution, scale, bias constant or order of random draws shows up per tensor. Sums, not bit hashes:
the vectorised CPU samplers may differ in the last bit between machines.

Regenerate (only when an init change is intended, and say so in the commit):
``ZOO_UPDATE_GOLDEN=1 OMP_NUM_THREADS=1 python -m pytest tests/test_golden_weights.py -m "slow or not slow"``
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import torch
from test_zoo_contract import HEAVY, REPRESENTATIVES

from zoo import create_model, list_models

GOLDEN_FILE = Path(__file__).parent / "golden" / "initial_weights.json"
SEED = 0
RTOL = 1e-5  # of the tensor's sum of |values|: far below what one changed random draw moves a sum by
UPDATE = os.environ.get("ZOO_UPDATE_GOLDEN") == "1"
# The heavy models of the contract tests (2-6 s each to initialise on one core) run with -m slow; of the others, one
# per paper in the default run, the rest with -m integration (as the contract tests' costly checks).
SLOW = HEAVY


def fingerprint(name: str) -> dict:
    """The layout hash and [sum, sum of |values|] of each parameter right after seeded creation."""
    torch.manual_seed(SEED)
    model = create_model(name)
    layout = "\n".join(f"{key}:{tuple(t.shape)}" for key, t in model.state_dict().items())
    sums = []
    for param in model.parameters():
        values = param.detach().double()
        sums.append([float(f"{values.sum().item():.6g}"), float(f"{values.abs().sum().item():.6g}")])
    return {"layout": hashlib.sha256(layout.encode()).hexdigest()[:16], "sums": sums}


def _load_golden() -> dict[str, dict]:
    return json.loads(GOLDEN_FILE.read_text()) if GOLDEN_FILE.is_file() else {}


def _write_golden(golden: dict[str, dict]) -> None:
    GOLDEN_FILE.parent.mkdir(exist_ok=True)
    GOLDEN_FILE.write_text(
        "{\n" + ",\n".join(f"{json.dumps(n)}: {json.dumps(golden[n])}" for n in sorted(golden)) + "\n}\n"
    )


GOLDEN = _load_golden()
NAMES = sorted(set(GOLDEN) | set(list_models())) if UPDATE else sorted(GOLDEN)


@pytest.mark.skipif(UPDATE, reason="regenerating")
def test_every_registered_model_is_pinned():
    unpinned = sorted(set(list_models()) - set(GOLDEN))
    assert not unpinned, f"no golden initial weights for {unpinned}: regenerate (see this module's docstring)"


def _tier(name: str):
    if name in SLOW:
        return pytest.param(name, marks=pytest.mark.slow)
    return name if name in REPRESENTATIVES else pytest.param(name, marks=pytest.mark.integration)


@pytest.mark.parametrize("name", [_tier(n) for n in NAMES])
def test_initial_weights_equal_golden(name):
    actual = fingerprint(name)
    if UPDATE:
        _write_golden({**_load_golden(), name: actual})
        return
    expected = GOLDEN[name]
    assert actual["layout"] == expected["layout"], f"{name}: state_dict names or shapes changed"
    param_names = [key for key, _ in create_model(name).named_parameters()] if actual != expected else []
    for key, (total, abs_total), (got_total, got_abs) in zip(param_names, expected["sums"], actual["sums"]):
        tolerance = RTOL * abs_total + 1e-9
        assert abs(got_total - total) <= tolerance and abs(got_abs - abs_total) <= tolerance, (
            f"{name}.{key}: initial weights changed (sum {got_total} vs {total}, |sum| {got_abs} vs {abs_total})"
        )
