"""Property-based tests generated from the schema itself (zootrain.schema.settings): valid, boundary and invalid values
of every setting of the default run, alone and combined. The invariant: a run either finishes with finite metrics
and a complete run directory, or stops with exactly one ``error:`` line naming what is wrong, and then leaves what
was written before as it was. Never exit 0 with NaN or empty results.

Cheap by construction: the config is composed once and changed in-process; most examples only run the check, a few
train for real (one epoch of two batches on digits, one thread)."""

from __future__ import annotations

import copy
import math
import string
from pathlib import Path

import pytest
from conftest import compose_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError
from test_bad_input import QUICK

from zootrain.cli import run_reporting_user_errors
from zootrain.data import DataConfigError
from zootrain.errors import ConfigError
from zootrain.run import evaluate, train
from zootrain.schema import NULL, Kind
from zootrain.schema import settings as schema_settings
from zootrain.settings import check_train_settings

# the default run with the optional callbacks on, so their settings are drawn too
BASE = [*QUICK, "threads=1", "callbacks=[ema,early_stopping]"]


def budget(examples: int):
    """A fixed, reproducible number of examples, however long each takes."""
    return settings(
        max_examples=examples, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )


def with_more_examples(test, examples: int):
    """``test`` again with ``examples``, marked slow (``-m slow``)."""
    return pytest.mark.slow(budget(examples)(given(data=st.data())(test.hypothesis.inner_test)))


# What a real run varies: every setting of what learns (optimizer, schedule, fine-tuning multipliers, loss, seeds,
# clipping, accumulation), none of what sizes the run (its length, batches, image size, model) or names files.
TRAINED = ("optimizer.", "scheduler.", "finetune.head_lr_mult", "finetune.backbone_lr_mult", "finetune.layer_decay")
TRAINED += ("label_smoothing", "seed", "deterministic", "dataset.split_seed", "trainer.gradient_clip_val")
TRAINED += ("trainer.accumulate_grad_batches", "callbacks.ema.", "callbacks.early_stopping.")
TRAINED += ("dataset.augment", "dataset.erasing", "dataset.mixup_alpha", "dataset.cutmix_alpha")
RUN_FILES = ("config.yaml", "metrics.csv", "metrics.json", "checkpoints/last.ckpt")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The default run's config and a finished run directory of it."""
    finished = tmp_path_factory.mktemp("finished") / "run"
    cfg = compose_config("train", BASE, finished)
    train(copy.deepcopy(cfg))
    return cfg, finished


def keys_and_kinds(cfg) -> dict[str, tuple[Kind, ...]]:
    return {key: kinds for key, _, kinds in schema_settings(cfg) if kinds and not key.endswith("_target_")}


def _bounded(kind: Kind) -> tuple[float, float]:
    low = kind.low if kind.low is not None else -1e6
    return low, kind.high if kind.high is not None else low + 1e6


def nudged(bound: float, direction: int) -> float:
    """Just beside ``bound``, by more than a subnormal step (training flushes subnormals to zero)."""
    return bound + direction * max(abs(bound), 1.0) * 1e-9


def valid_values(kind: Kind) -> st.SearchStrategy:
    """Values of ``kind``, its boundaries first."""
    if kind.type is None:
        return st.sampled_from(kind.choices)
    if kind == NULL:
        return st.none()
    if kind.type is bool:
        return st.booleans()
    if kind.type is int:
        low, high = map(int, _bounded(kind))
        return st.one_of(st.sampled_from([low, high]), st.integers(low, high))
    if kind.type is float:
        low, high = _bounded(kind)
        low = nudged(low, 1) if kind.low_open else float(low)
        high = nudged(high, -1) if kind.high_open else float(high)
        return st.one_of(st.sampled_from([low, high]), st.floats(low, high, allow_subnormal=False))
    if kind.type is list:
        items = valid_values(kind.item) if kind.item else st.integers(0, 3)
        return st.lists(items, min_size=kind.length or 0, max_size=kind.length or 3)
    if kind.pattern is not None:  # a text of a form (a name, a duration)
        return st.from_regex(kind.pattern, fullmatch=True).filter(lambda text: len(text) <= 16)
    return st.text(string.ascii_letters, min_size=1, max_size=8)


def invalid_values(kinds: tuple[Kind, ...]) -> st.SearchStrategy:
    """Values none of ``kinds`` admits: just outside each range, and the wrong types."""
    candidates = ["abc", True, None, [1], {"a": 1}, 1.5, -1, 0, float("inf"), float("nan"), "../up", "a/b"]
    for kind in kinds:
        for bound, open_, step in ((kind.low, kind.low_open, -1), (kind.high, kind.high_open, 1)):
            if bound is not None:
                candidates += [bound] if open_ else [bound + step, nudged(bound, step)]
    return st.sampled_from(candidates).filter(lambda v: not any(kind.admits(v) for kind in kinds))


@st.composite
def changes(draw, cfg, keys: list[str] | None = None, invalid: int = 0, most: int = 3) -> dict:
    """A few keys of ``cfg`` with valid values, and ``invalid`` of them with a value out of their kinds."""
    kinds = keys_and_kinds(cfg)
    chosen = draw(st.lists(st.sampled_from(keys or sorted(kinds)), min_size=1, max_size=most, unique=True))
    drawn = {key: draw(st.one_of(*map(valid_values, kinds[key]))) for key in chosen}
    for key in chosen[:invalid]:
        drawn[key] = draw(invalid_values(kinds[key]))
    return drawn


def changed(cfg, values: dict, output_dir: Path):
    """``cfg`` with ``values``; a typed node refusing a value is Hydra's refusal while composing (one line)."""
    cfg = copy.deepcopy(cfg)
    OmegaConf.update(cfg, "paths.output_dir", str(output_dir))
    for key, value in values.items():
        OmegaConf.update(cfg, key, value, merge=False)
    return cfg


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_one_error_line(message: str, *keys: str) -> None:
    assert message.startswith("error: ") and "\n" not in message, message
    assert any(key in message for key in keys), (keys, message)


@budget(40)
@given(data=st.data())
def test_a_value_out_of_its_kinds_is_one_line_and_leaves_an_earlier_run_untouched(base, data):
    cfg, finished = base
    values = data.draw(changes(cfg, invalid=1))
    before = snapshot(finished)
    try:
        cfg = changed(cfg, values, finished)
    except ValidationError as err:  # Hydra's composition refuses it naming the key
        assert err.full_key in values
        return
    with pytest.raises(SystemExit) as stopped:
        run_reporting_user_errors(train, cfg)
    assert_one_error_line(str(stopped.value.code), *values)
    assert snapshot(finished) == before


@budget(40)
@given(data=st.data())
def test_values_within_their_kinds_pass_or_break_a_rule_between_keys_in_one_line(base, data, tmp_path):
    cfg, _ = base
    values = data.draw(changes(cfg, most=4))
    try:
        cfg = changed(cfg, values, tmp_path / "never")
    except ValidationError as err:
        pytest.fail(f"the schema admits {values} but the typed config refuses {err.full_key}")
    try:
        check_train_settings(cfg)
    except (ConfigError, DataConfigError) as err:  # anything else fails the test
        assert "\n" not in str(err)


@budget(4)
@given(data=st.data())
def test_a_run_the_schema_admits_finishes_with_finite_metrics_or_stops_in_one_line(base, data, tmp_path_factory):
    cfg, _ = base
    trained = [key for key in keys_and_kinds(cfg) if key.startswith(TRAINED)]
    values = data.draw(changes(cfg, keys=trained, most=4))
    out = tmp_path_factory.mktemp("run") / "run"
    try:
        result = run_reporting_user_errors(train, changed(cfg, values, out))
    except SystemExit as stopped:
        assert str(stopped.value.code).startswith("error: ") and "\n" not in str(stopped.value.code)
        assert not (out / "metrics.json").exists()
        return
    assert all((out / name).is_file() for name in RUN_FILES), values
    assert math.isfinite(result["val/acc"]) and math.isfinite(result["train/loss_epoch"]), (values, result)


@budget(8)
@given(data=st.data())
def test_an_evaluation_setting_out_of_its_kinds_is_one_line_before_anything_is_read(base, data, tmp_path_factory):
    """evaluate.py's own settings too (tta, pretrained, split, images, top_k, ...), on a real checkpoint."""
    _, finished = base
    out = tmp_path_factory.mktemp("evaluate") / "run"
    cfg = compose_config("evaluate", [f"ckpt_path={finished / 'checkpoints' / 'last.ckpt'}", "threads=1"], out)
    values = data.draw(changes(cfg, invalid=1))
    try:
        cfg = changed(cfg, values, out)
    except ValidationError as err:
        assert err.full_key in values
        return
    with pytest.raises(SystemExit) as stopped:
        run_reporting_user_errors(evaluate, cfg)
    assert_one_error_line(str(stopped.value.code), *values)
    assert not out.exists() or not any(out.rglob("*.json"))


test_many_values_out_of_their_kinds = with_more_examples(
    test_a_value_out_of_its_kinds_is_one_line_and_leaves_an_earlier_run_untouched, 600
)
test_many_values_within_their_kinds = with_more_examples(
    test_values_within_their_kinds_pass_or_break_a_rule_between_keys_in_one_line, 600
)
test_many_evaluation_values_out_of_their_kinds = with_more_examples(
    test_an_evaluation_setting_out_of_its_kinds_is_one_line_before_anything_is_read, 300
)
test_many_runs_the_schema_admits = with_more_examples(
    test_a_run_the_schema_admits_finishes_with_finite_metrics_or_stops_in_one_line, 40
)
