"""After every multirun (grid or Optuna): ``sweep_summary.md`` and ``sweep_summary.json`` in the sweep directory.

One row per job directory found there (re-running a sweep finds its earlier jobs: the directory name is fixed): its
overrides, its objective (``val/acc`` from the job's ``metrics.json``) and its status: ``completed``; ``failed``
with the reason a failed job leaves in ``failed.txt`` (its one error line); ``unfinished`` when it left neither
(interrupted, or a ``tune=lr_find`` job); ``mixed`` when the run whose results the folder holds had other settings
than the point Hydra last started there (two points that shared one folder): its results are no point's. The best
completed point closes the table and the console output. Registered as a Hydra callback in
``configs/hydra/default.yaml``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from .resume import CONFIG_FILE, FINISHED_SAFE_KEYS, settings_changes

log = logging.getLogger(__name__)
OBJECTIVE = "val/acc"  # what train.py returns to the sweeper; higher is better
SUMMARY = "sweep_summary"


def other_runs_settings(job_dir: Path) -> list[str]:
    """How the run of the folder's results (its ``config.yaml``, written as each run starts) differs from the point
    Hydra started there last (``.hydra/config.yaml``); none when they are one run, or nothing has run there."""
    run_file, point_file = job_dir / CONFIG_FILE, job_dir / ".hydra" / "config.yaml"
    if not (run_file.is_file() and point_file.is_file()):
        return []
    point = OmegaConf.load(point_file)
    with open_dict(point):
        point.paths.output_dir = str(job_dir)  # Hydra's ${hydra:runtime.output_dir}, as the job resolved it
    try:
        settings = OmegaConf.to_container(point, resolve=True)
    except OmegaConfBaseException as err:
        return [f"the point's settings do not resolve here: {err}"]
    return settings_changes(OmegaConf.to_container(OmegaConf.load(run_file)), settings, FINISHED_SAFE_KEYS)


def read_point(job_dir: Path) -> dict[str, Any]:
    overrides = list(OmegaConf.load(job_dir / ".hydra" / "overrides.yaml"))
    point: dict[str, Any] = {"job": str(job_dir), "overrides": overrides, OBJECTIVE: None, "status": "unfinished"}
    changes = other_runs_settings(job_dir)
    if changes:
        point.update(status="mixed", reason=f"the folder holds another run's results ({'; '.join(changes)})")
    elif (job_dir / "metrics.json").is_file():
        point.update(status="completed", **{OBJECTIVE: json.loads((job_dir / "metrics.json").read_text())[OBJECTIVE]})
    elif (job_dir / "failed.txt").is_file():
        point.update(status="failed", reason=(job_dir / "failed.txt").read_text().strip())
    return point


def varying(points: list[dict]) -> list[str]:
    """The override keys whose values differ between points: the sweep's own parameters, in their order."""
    values: dict[str, set[str]] = {}
    for point in points:
        for override in point["overrides"]:
            key, _, value = override.partition("=")
            values.setdefault(key, set()).add(value)
    return [key for key, seen in values.items() if len(seen) > 1 or len(points) == 1]


def markdown(points: list[dict], best: dict | None, keys: list[str]) -> str:
    def value(point: dict, key: str) -> str:
        return next((o.partition("=")[2] for o in point["overrides"] if o.partition("=")[0] == key), "")

    def score(point: dict) -> str:
        return "" if point[OBJECTIVE] is None else f"{point[OBJECTIVE]:.4f}"

    rows = [
        [*(value(p, k) for k in keys), score(p), p["status"] + (f": {p['reason']}" if "reason" in p else "")]
        for p in points
    ]
    header = [*keys, OBJECTIVE, "status"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines.append("")
    lines.append(f"best: {' '.join(best['overrides'])} ({OBJECTIVE} {score(best)})" if best else "best: none completed")
    return "\n".join(lines) + "\n"


class SweepSummary(Callback):
    """Writes the sweep's summary when a multirun ends (Hydra calls ``on_multirun_end`` whatever the sweeper)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        jobs = sorted(p.parent.parent for p in sweep_dir.rglob(".hydra/overrides.yaml"))
        points = [read_point(job) for job in jobs]
        completed = [p for p in points if p["status"] == "completed" and p[OBJECTIVE] is not None]
        best = max(completed, key=lambda p: p[OBJECTIVE], default=None)
        summary = {"objective": OBJECTIVE, "direction": "maximize", "best": best, "points": points}
        (sweep_dir / f"{SUMMARY}.json").write_text(json.dumps(summary, indent=2))
        (sweep_dir / f"{SUMMARY}.md").write_text(markdown(points, best, varying(points)))
        failed = sum(p["status"] == "failed" for p in points)
        mixed = sum(p["status"] == "mixed" for p in points)
        log.info(
            f"sweep: {len(points)} points, {len(completed)} completed, {failed} failed; "
            + (f"{mixed} in a folder holding another run's results; " if mixed else "")
            + (f"best {' '.join(best['overrides'])} ({OBJECTIVE} {best[OBJECTIVE]:.4f}); " if best else "")
            + f"table: {sweep_dir / f'{SUMMARY}.md'}"
        )
