"""How long the test suite takes, the figure the README states: each selection (``default``: ``python -m pytest``;
``integration``: ``python -m pytest -m integration``) run once, in a fresh process, in the checkout given.

A run that fails stops the benchmark (a time of a red suite is no figure). The JSON keeps pytest's counts and its own
seconds, the wall time from start to exit, the largest resident memory of the run, the load average before and
after (an idle machine reads below 0.5 before) and whether the checkout had uncommitted changes. pytest runs as
``python -m pytest`` from the checkout, so the tests import its ``zoo``; a program a test starts elsewhere imports the
installed one (the same code for a clone of the installed checkout).

    git clone . /tmp/fresh
    python benchmarks/test_suite.py --checkout /tmp/fresh --json benchmarks/results/test_suite.json
    python benchmarks/test_suite.py --selections default -- tests/test_arguments.py   # a part of the suite
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
from common import progress, write_payload

SELECTIONS = {"default": [], "integration": ["-m", "integration"]}
COUNT = re.compile(r"(\d+) (passed|failed|skipped|deselected|errors?|xfailed|xpassed)")
SECONDS = re.compile(r" in ([\d.]+)s")


def summary_line(output: str) -> str:
    """pytest's last line: ``915 passed, 8 skipped, ... in 248.05s (0:04:08)``."""
    lines = [line for line in output.strip().splitlines() if SECONDS.search(line)]
    return lines[-1].strip("= ") if lines else ""


def run_selection(checkout: Path, selection: str, paths: list[str]) -> dict:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SELECTIONS[selection], *paths]
    load_before = os.getloadavg()
    started = time.perf_counter()
    done = subprocess.run(command, cwd=checkout, capture_output=True, text=True)
    wall = time.perf_counter() - started
    line = summary_line(done.stdout)
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(command)} failed ({line or 'exit ' + str(done.returncode)}):\n{done.stdout[-3000:]}"
        )
    counts = {kind.rstrip("s") if kind.startswith("error") else kind: int(n) for n, kind in COUNT.findall(line)}
    return {
        "selection": selection,
        "command": " ".join(["python", *command[1:]]),
        "counts": counts,
        "pytest_s": float(SECONDS.search(line).group(1)),
        "wall_s": round(wall, 1),
        # the largest of the children waited for so far: each selection runs after the previous one, so a later
        # selection's figure is at least the earlier's
        "max_rss_gib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20, 2),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "summary": line,
    }


def checkout_state(checkout: Path) -> dict:
    """The checkout's commit and whether it has uncommitted changes (None where it is no git checkout)."""

    def git(*arguments: str) -> str | None:
        done = subprocess.run(["git", *arguments], cwd=checkout, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain")
    return {"commit": git("rev-parse", "HEAD"), "uncommitted_changes": None if status is None else bool(status)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkout", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--selections", nargs="+", choices=SELECTIONS, default=list(SELECTIONS))
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("paths", nargs="*", help="only these tests (after --): a part of the suite")
    args = parser.parse_args()
    checkout = args.checkout.resolve()
    results = []
    for selection in args.selections:
        progress(f"{selection}: python -m pytest {' '.join(SELECTIONS[selection] + args.paths)} in {checkout}")
        results.append(run_selection(checkout, selection, args.paths))
        print(f"{selection}: {results[-1]['summary']} (wall {results[-1]['wall_s']} s)", flush=True)
    if args.json:
        settings = {"checkout": str(checkout), **checkout_state(checkout), "paths": args.paths}
        write_payload(args.json, "test_suite.py", torch.device("cpu"), settings, results)


if __name__ == "__main__":
    main()
