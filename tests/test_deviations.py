"""Every model module names its deviations from the paper in a "Deviations" section of its docstring.

The contract test only checks that the word appears; this reads the sections themselves: bullets that exist, and
for the networks added with the families issue, the specific deviations they were built with.
"""

from __future__ import annotations

import sys

import pytest

from zoo import ZooModel, create_model


def deviations(module_doc: str) -> list[str]:
    """The bullets ("- ...", continuation lines joined) of every section whose heading starts with "Deviations"."""
    bullets: list[str] = []
    in_section = False
    for line in module_doc.splitlines():
        if line.startswith("Deviations"):
            in_section = True
        elif in_section and line.startswith("- "):
            bullets.append(line[2:].strip())
        elif in_section and line.startswith("  ") and bullets:
            bullets[-1] += " " + line.strip()
        else:
            in_section = False
    return bullets


def _module_doc(name: str) -> str:
    model = create_model(name)
    return sys.modules[type(model).__module__].__doc__


def _model_modules() -> list[str]:
    """The zoo modules that define a ZooModel subclass (every registered model's class lives in one of them)."""
    return sorted({cls.__module__ for cls in _subclasses(ZooModel)})


def _subclasses(cls: type) -> list[type]:
    return [sub for direct in cls.__subclasses__() for sub in [direct, *_subclasses(direct)]]


@pytest.mark.parametrize("module", _model_modules())
def test_every_model_module_has_a_deviations_section_with_bullets(module):
    assert deviations(sys.modules[module].__doc__), f"{module}: no bullets under a 'Deviations' heading"


# For each network of the families issue: words its module's Deviations bullets must contain.
NEW_NETWORK_DEVIATIONS = {
    "resnet20": ["zero channels are appended", "default init"],
    "resnet1202": ["resnet1202", "zero_init_residual=False"],
    "densenet264": ["Init follows torchvision"],
    "densenet_bc250_cifar": ["Init follows torchvision"],
    "densenet_bc190_cifar": ["Init follows torchvision"],
    "lenet5": ["Linear(84, num_classes)", 'output="rbf"', "DIGIT_BITMAPS"],
}


@pytest.mark.parametrize("name,phrases", NEW_NETWORK_DEVIATIONS.items())
def test_new_networks_name_their_deviations(name, phrases):
    doc = _module_doc(name)
    bullets = " ".join(deviations(doc))
    assert name in doc, f"{name} is not described in its module's docstring"
    missing = [phrase for phrase in phrases if phrase not in bullets]
    assert not missing, f"{name}: the Deviations section does not name {missing}"
