"""zoo.summary: shapes, parameter and MAC counts, receptive fields, the command line."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from zoo import count_parameters, create_model, list_models, model_info
from zoo.summary import format_summary, main, summarize


def _by_name(rows):
    return {r.name: r for r in rows}  # first call of each module


def test_lenet5_table_reads_like_the_paper():
    rows = summarize(create_model("lenet5"))
    table = _by_name(rows)
    shapes = {name: table[name].output_shape for name in ("c1", "s2", "c3", "s4", "c5", "f6")}
    assert shapes == {
        "c1": (6, 28, 28),
        "s2": (6, 14, 14),
        "c3": (16, 10, 10),
        "s4": (16, 5, 5),
        "c5": (120, 1, 1),
        "f6": (84,),
    }
    # receptive field / jump by hand: C1 5x5 -> 5/1; S2 2x2/2 -> 6/2; C3 -> 6+4*2=14/2; S4 -> 16/4; C5 -> 32/4
    fields = {name: (table[name].receptive_field, table[name].jump) for name in ("c1", "s2", "c3", "s4", "c5")}
    assert fields == {
        "c1": ((5, 5), (1, 1)),
        "s2": ((6, 6), (2, 2)),
        "c3": ((14, 14), (2, 2)),
        "s4": ((16, 16), (4, 4)),
        "c5": ((32, 32), (4, 4)),
    }
    assert table["f6"].receptive_field is None and table["f6"].jump is None
    # C3 counts only its Table I connections: 10*10 positions * 60 kernels * 25 weights
    assert table["c3"].macs == 150_000 and table["c1"].macs == 28 * 28 * 6 * 25
    assert sum(r.params for r in rows) == count_parameters(create_model("lenet5"))


def test_alexnet_conv1_and_fields_at_227():
    model = create_model("alexnet")
    rows = summarize(model, (3, 227, 227))
    table = _by_name(rows)
    assert table["features.conv1"].output_shape == (96, 55, 55)
    assert table["features.conv1"].macs == 55 * 55 * 96 * 3 * 11 * 11
    assert table["features.conv2"].macs == 27 * 27 * 256 * (96 // 2) * 5 * 5  # grouped: in_ch / groups
    assert table["fc.fc6"].macs == 9216 * 4096
    assert (table["features.pool5"].receptive_field, table["features.pool5"].jump) == ((195, 195), (32, 32))
    assert sum(r.params for r in rows) == 60_965_224
    text = format_summary(rows)
    assert "96x55x55" in text and "Total params: 60,965,224" in text
    assert f"Total MACs: {sum(r.macs for r in rows):,}" in text


def test_resnet_branches_take_the_larger_field():
    rows = summarize(create_model("resnet18"), (3, 64, 64))
    table = _by_name(rows)
    # conv1 7/2 -> 7; maxpool -> 11; each further 3x3 adds 2 * jump: ResNet-18's well-known 435
    last_conv = [r for r in rows if r.name == "layer4.1.conv2"][0]
    assert last_conv.receptive_field == (435, 435) and last_conv.jump == (32, 32)
    # the block's final ReLU sees (conv branch + shortcut): the larger of the two fields
    assert rows[rows.index(last_conv) + 2].name == "layer4.1.relu"
    assert rows[rows.index(last_conv) + 2].receptive_field == (435, 435)
    assert table["layer2.0.downsample.0"].receptive_field == (43, 43)  # 1x1 conv keeps its input's field
    assert table["avgpool"].receptive_field is None and table["fc"].receptive_field is None


class _TwoBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.tall = nn.Conv2d(1, 2, (7, 1), padding=(3, 0))
        self.small = nn.Conv2d(1, 2, 3, padding=1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        return self.pool(torch.cat([self.tall(x), self.small(x)], dim=1)).mean(dim=(2, 3))


def test_fields_are_per_axis_and_concatenation_takes_the_maximum():
    rows = summarize(_TwoBranch(), (1, 16, 16))
    assert [r.name for r in rows] == ["tall", "small", "pool"]
    assert rows[0].receptive_field == (7, 1) and rows[1].receptive_field == (3, 3)
    assert rows[2].receptive_field == (8, 4) and rows[2].jump == (2, 2)
    assert "8x4" in format_summary(rows)


def test_summary_restores_training_mode_and_removes_hooks():
    model = create_model("lenet5").train()
    summarize(model)
    assert model.training
    assert all(not m._forward_hooks for m in model.modules())


def _small_models() -> list[str]:
    return [n for n in list_models() if model_info(n).input_size[1] <= 64]


@pytest.mark.parametrize("name", _small_models())
def test_every_small_registered_model_summarizes(name):
    model = create_model(name, num_classes=7)
    rows = summarize(model)
    assert rows[-1].output_shape == (7,)
    assert rows[0].receptive_field is not None and rows[0].receptive_field[0] >= 1
    row_params = sum(r.params for r in rows)
    if model.aux_weights:  # auxiliary heads do not run in eval mode
        assert row_params <= count_parameters(model)
    else:
        assert row_params == count_parameters(model)


def test_cli_prints_the_table(capsys):
    assert main(["lenet5"]) == 0
    out = capsys.readouterr().out
    assert "c3" in out and "16x10x10" in out and "Total params: 60,850" in out


def test_cli_input_size_and_num_classes(capsys):
    assert main(["resnet18_cifar", "--input-size", "1", "16", "16", "--num-classes", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].startswith("conv1") and " 64x16x16 " in lines[2]
    assert lines[-3].split()[:3] == ["fc", "Linear", "5"]


def test_cli_unknown_name_exits_2_with_the_registry_message(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["lenet-5"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown model 'lenet-5'" in err and "lenet5" in err
