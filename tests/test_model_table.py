"""The README's weights table is the one ``zoo.model_table`` renders from the records: no figure typed by hand."""

import re
from pathlib import Path

import pytest

from zoo import model_table

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def readme_table() -> str:
    return re.search(r"<!-- weights table: zoo.model_table -->\n(.*?)\n<!-- end weights table -->", README, re.S).group(
        1
    )


def readme_gmacs() -> dict[str, str]:
    """{architecture: GMACs cell} of the README's table."""
    cells = [line.split(" | ") for line in readme_table().splitlines()[2:]]
    return {re.match(r"\| `([\w]+)", row[0]).group(1): row[4] for row in cells}


def test_readme_weights_table_matches_the_records():
    """Every column but the multiply-adds (counting them takes minutes: see the slow test), row for row."""
    macs = readme_gmacs()
    assert readme_table() == model_table.render(gmacs=lambda name, num_classes, size: macs[name])


@pytest.mark.slow
def test_readme_weights_table_matches_the_models_macs():
    assert readme_table() == model_table.render()
