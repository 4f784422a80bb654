"""curves.png: redrawn during training only while drawing stays a small share of the run, always complete at the
end and after an interruption. The clock is a stand-in, so nothing here depends on how fast the machine is."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from zootrain import callbacks
from zootrain.callbacks import FIRST_PLOT_AFTER_S, PLOT_GAP, RunPlots


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def plots(tmp_path, monkeypatch):
    """A RunPlots whose drawing takes 1 s of a fake clock; ``drawn`` records the epochs each picture held."""
    clock, drawn = FakeClock(), []

    def draw(history, path):
        drawn.append(len(history))
        clock.now += 1.0

    monkeypatch.setattr(callbacks.time, "perf_counter", clock)
    monkeypatch.setattr(callbacks, "plot_curves", draw)
    return RunPlots(str(tmp_path)), clock, drawn


def _epoch_end(run_plots: RunPlots, epoch: int) -> None:
    trainer = SimpleNamespace(callback_metrics={"val/acc": 0.5}, current_epoch=epoch, is_global_zero=True)
    run_plots.on_train_epoch_end(trainer, None)


def test_short_epochs_are_plotted_only_once_drawing_is_a_small_share(plots):
    run_plots, clock, drawn = plots
    for epoch in range(30):  # epochs of 2 s: one drawing (1 s) then PLOT_GAP s without
        _epoch_end(run_plots, epoch)
        clock.now += 2.0
    assert drawn[0] == 1 and len(drawn) < 30 / (PLOT_GAP / 2) + 1
    assert all(later - earlier >= PLOT_GAP / 2 for earlier, later in zip(drawn, drawn[1:]))


def test_a_short_run_is_not_plotted_until_it_has_gone_on_for_a_while(plots, monkeypatch):
    run_plots, clock, drawn = plots
    monkeypatch.setattr(RunPlots, "_first_conv", lambda self, module: torch.zeros(6, 1, 5, 5))
    run_plots.on_fit_start(None, None)
    for epoch in range(10):  # half of FIRST_PLOT_AFTER_S in all
        _epoch_end(run_plots, epoch)
        clock.now += FIRST_PLOT_AFTER_S / 20
    assert drawn == []
    clock.now += FIRST_PLOT_AFTER_S
    _epoch_end(run_plots, 10)
    assert drawn == [11]


def test_long_epochs_are_plotted_every_epoch(plots):
    run_plots, clock, drawn = plots
    for epoch in range(5):
        _epoch_end(run_plots, epoch)
        clock.now += 10.0 * PLOT_GAP
    assert drawn == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("hook", ["on_exception", "on_fit_end"])
def test_the_last_picture_holds_every_epoch(plots, hook, monkeypatch):
    run_plots, clock, drawn = plots
    for epoch in range(4):
        _epoch_end(run_plots, epoch)
    if hook == "on_exception":
        run_plots.on_exception(None, None, KeyboardInterrupt())
    else:
        # filters.png is not this test's: a stand-in 5x5 first layer, nothing drawn
        monkeypatch.setattr(RunPlots, "_first_conv", lambda self, module: SimpleNamespace(shape=(6, 1, 5, 5)))
        monkeypatch.setattr(callbacks.visualize, "filters_figure", lambda *args: None)
        monkeypatch.setattr(callbacks.visualize, "save", lambda *args: None)
        module = SimpleNamespace(net=SimpleNamespace(info=SimpleNamespace(name="lenet5")))
        run_plots.on_fit_end(SimpleNamespace(current_epoch=4, datamodule=None), module)
    assert drawn == [1, 4]
