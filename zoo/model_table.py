"""The README's table of weights, rendered from the records (``zoo.catalog``) and the models (``zoo.summary``):
one row per published ``arch.tag``, then the architectures whose paper reports a figure but which have no
weights yet. ``python -m zoo.model_table`` prints it; a test checks the README against it.
"""

from __future__ import annotations

from collections.abc import Callable

from .catalog import Accuracy, catalogue, paper_accuracy
from .registry import create_model, model_info
from .summary import summarize

HEADER = ("weights", "dataset", "top-1 / top-5 here", "paper", "GMACs", "eval input")


def _accuracy(acc: Accuracy | None) -> str:
    if acc is None:
        return "—"
    figures = f"{acc.top1:.2f}" if acc.top5 is None else f"{acc.top1:.2f} / {acc.top5:.2f}"
    return f"{figures} ({acc.split})"


def live_gmacs(name: str, num_classes: int, input_size: tuple[int, int, int]) -> str:
    """Multiply-adds of one image, in billions, counted by ``zoo.summary``."""
    macs = sum(row.macs for row in summarize(create_model(name, num_classes=num_classes), input_size))
    return f"{macs / 1e9:.3g}"


def rows(gmacs: Callable[[str, int, tuple[int, int, int]], str] = live_gmacs) -> list[tuple[str, ...]]:
    table = []
    for record in catalogue().values():
        prep = record.preprocessing
        size = "×".join(map(str, prep.input_size))
        resize = f"resize {prep.resize_size}, " if prep.resize_size and prep.resize_size != prep.crop_size else ""
        table.append(
            (
                f"`{record.name}`",
                record.dataset,
                _accuracy(record.accuracy),
                _accuracy(record.paper_accuracy),
                gmacs(record.architecture, record.num_classes, prep.input_size),
                f"{resize}{size}, {prep.interpolation}",
            )
        )
    published = {r.architecture for r in catalogue().values()}
    for name, paper in paper_accuracy().items():
        if name not in published:
            info = model_info(name)
            figures = {k: v for k, v in paper.items() if k != "dataset"}
            size = "×".join(map(str, info.input_size))
            row = (f"`{name}` (none yet)", paper["dataset"], "—", _accuracy(Accuracy(**figures)))
            table.append((*row, gmacs(name, info.num_classes, info.input_size), size))
    return table


def render(gmacs: Callable[[str, int, tuple[int, int, int]], str] = live_gmacs) -> str:
    lines = [HEADER, ("---",) * len(HEADER), *rows(gmacs)]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


if __name__ == "__main__":
    print(render())
