"""The README's "See inside" section is a contract: its commands run as printed, with only size-limiting overrides
appended (one epoch of two batches), and leave the pictures the section shows."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # the See-inside commands run verbatim, in subprocesses

REPO = Path(__file__).resolve().parent.parent
SHRINK = {
    "train.py": ["trainer.max_epochs=1", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=2"],
    "evaluate.py": [],
}
# picture in the README -> where its command leaves it
PICTURES = {
    "filters.png": "logs/see_inside/lenet5/filters.png",
    "deeper_patches.png": "logs/see_inside/vgg11_bn/deeper_patches.png",
    "feature_maps.png": "logs/see_inside/predict/feature_maps/drawn_7/stem.png",
    "gradcam.png": "logs/see_inside/predict/gradcam/drawn_7.png",
    "misclassified.png": "logs/see_inside/evaluate/misclassified.png",
}


def section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("## See inside")
    return text[start : text.index("\n## ", start)]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section(), flags=re.S)


def commands() -> list[list[str]]:
    lines = "\n".join(blocks("bash")).replace("\\\n", " ").splitlines()
    return [shlex.split(line.split("#")[0]) for line in lines if line.strip() and not line.startswith("#")]


def test_every_picture_of_the_section_is_committed_and_small():
    shown = re.findall(r"\]\((docs/images/[^)]+)\)", section())
    assert sorted(Path(p).name for p in shown) == sorted(PICTURES)
    for path in shown:
        assert (REPO / path).stat().st_size < 150_000, path


@pytest.mark.slow
def test_the_commands_run_as_printed_and_leave_the_pictures(tmp_path):
    shutil.copytree(REPO / "docs", tmp_path / "docs")  # the sample images the commands read
    for argv in commands():
        assert argv[0] == "python" and argv[1] in SHRINK, argv
        subprocess.run(
            [sys.executable, str(REPO / argv[1]), *argv[2:], *SHRINK[argv[1]]],
            cwd=tmp_path,
            check=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
    for picture in PICTURES.values():
        assert (tmp_path / picture).is_file(), picture
    assert (tmp_path / "logs/see_inside/predict/predictions.csv").read_text().count("\n") == 4  # header + 3 images


def test_the_python_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (code,) = blocks("python")
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "cam.png").is_file()
