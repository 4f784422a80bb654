"""Every row of docs/reliability.md's bad-input table: the command stops with one ``error:`` line that says what is
wrong and what to do. Rows run in-process (the same pre-flight check and task wrapper the command line uses); a few
also run as real commands to check what reaches the terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from bad_input_files import make_bad_files
from conftest import compose_config

from zootrain.cli import preflight, run_reporting_user_errors
from zootrain.run import evaluate, train

REPO = Path(__file__).resolve().parent.parent
TABLE = REPO / "docs" / "reliability.md"
ROW = re.compile(r"^\| (\d+) \| ([^|]+) \| `(train|evaluate)([^`]*)` \| ([^|]+) \|$")
QUICK = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.num_sanity_val_steps=0",
    "trainer.enable_model_summary=false",
    "callbacks.progress_bar.refresh_rate=0",
]


def table_rows() -> list:
    rows = [ROW.match(line.strip()) for line in TABLE.read_text().splitlines()]
    return [
        pytest.param(m.group(3), m.group(4).split(), m.group(5).strip(), id=f"{m.group(1)}-{m.group(2).strip()}")
        for m in rows
        if m
    ]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("bad_input")
    made = make_bad_files(root)
    finished = root / "finished"
    result = train(compose_config("train", [*QUICK, f"paths.data_dir={root}"], finished))
    made.update(finished=finished, lenet5_ckpt=Path(result["last_model_path"]))
    return {k: str(v) for k, v in made.items()}


def run_in_process(script: str, args: list[str], tmp_path: Path) -> str:
    """What the command line would print: the message of the SystemExit from the pre-flight check or the task."""
    output_dir = tmp_path / "run"
    overrides = []
    for arg in args:
        key, _, value = arg.partition("=")
        if key == "hydra.run.dir":
            output_dir = Path(value)  # what Hydra would make paths.output_dir
        else:
            overrides.append(arg)
    with pytest.raises(SystemExit) as stopped:
        preflight(script, args)
        base = QUICK + [f"paths.data_dir={tmp_path / 'data'}"] if script == "train" else []
        cfg = compose_config(script, [*base, *overrides], output_dir)
        run_reporting_user_errors(train if script == "train" else evaluate, cfg)
    return str(stopped.value.code)


@pytest.mark.parametrize("script,args,expected", table_rows())
def test_bad_input_is_one_clear_line(script, args, expected, files, tmp_path):
    if "trainer=gpu" in args and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    args = [a.format(**files) for a in args]
    message = run_in_process(script, args, tmp_path)
    assert message.startswith("error: ") and "\n" not in message, message
    assert expected in message, message


def test_the_table_has_at_least_forty_rows():
    assert len(table_rows()) >= 40


@pytest.mark.parametrize(
    "script,args",
    [
        ("train.py", ["finetune=head_only"]),
        ("train.py", ["model=resnet-18"]),
        ("train.py", ["trainer.max_epochs=abc"]),
        ("evaluate.py", []),
        ("evaluate.py", ["ckpt_path={evil}"]),
    ],
)
@pytest.mark.integration
def test_the_terminal_shows_one_error_line_and_no_traceback(script, args, files, tmp_path):
    args = [a.format(**files) for a in args]
    proc = subprocess.run(
        [sys.executable, str(REPO / script), *args, f"paths.log_dir={tmp_path}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "this must never run" not in proc.stdout
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), proc.stderr


@pytest.mark.integration
def test_a_traceback_is_shown_when_asked_for(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(REPO / "train.py"), "seed=abc", f"paths.log_dir={tmp_path}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "HYDRA_FULL_ERROR": "1"},
    )
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "ConfigError" in proc.stderr


def test_every_fault_row_names_an_existing_test():
    references = re.findall(r"`(tests/test_\w+\.py)::(test_\w+)`", TABLE.read_text())
    assert len(references) >= 10
    for file, name in references:
        assert re.search(rf"^def {name}\(", (REPO / file).read_text(), re.M), f"{file}::{name}"
