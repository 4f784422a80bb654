"""Classify what each bad input of docs/reliability.md does, in this checkout or in another one (e.g. an older
revision checked out elsewhere): a clear one-line error, a traceback, silence (exit 0), or something else.

    python benchmarks/bad_inputs.py --checkout . --out benchmarks/results/bad_inputs_now.json
    git worktree add /tmp/old <rev> && python benchmarks/bad_inputs.py --checkout /tmp/old --out ...

Every row runs as ``python train.py|evaluate.py <arguments> <size limits>`` in a scratch folder, with the
placeholders of the table filled by files this script makes (see docs/reliability.md).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from bad_input_files import make_bad_files  # noqa: E402  (the table's files, made as its test makes them)

ROW = re.compile(r"^\| (\d+) \| ([^|]+) \| `(train|evaluate)([^`]*)` \| ([^|]+) \|$")
LIMITS = {
    "train": [
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=40",
        "trainer.limit_val_batches=2",
        "callbacks.progress_bar.refresh_rate=0",
    ],
    "evaluate": ["trainer.limit_test_batches=2"],
}


def make_files(root: Path, checkout: Path) -> dict[str, str]:
    files = make_bad_files(root)
    files["finished"] = root / "finished"
    subprocess.run(
        [
            sys.executable,
            str(checkout / "train.py"),
            f"hydra.run.dir={files['finished']}",
            "auto_resume=true",
            *LIMITS["train"],
        ],
        cwd=root,
        capture_output=True,
        check=True,
    )
    files["lenet5_ckpt"] = files["finished"] / "checkpoints" / "last.ckpt"
    return {k: str(v) for k, v in files.items()}


def classify(proc: subprocess.CompletedProcess) -> str:
    if proc.returncode == 0:
        return "silent"
    if "Traceback" in proc.stderr:
        return "traceback"
    last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
    return "clear" if last.startswith("error:") else "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkout", type=Path, default=Path("."), help="the checkout whose train.py/evaluate.py run")
    parser.add_argument(
        "--table", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "reliability.md"
    )
    parser.add_argument("--out", type=Path, required=True, help="JSON file for the per-row outcomes and counts")
    parser.add_argument("--rows", type=int, nargs="*", help="only these rows, replacing theirs in an existing --out")
    args = parser.parse_args()
    checkout = args.checkout.resolve()
    rows = [m for m in map(ROW.match, args.table.read_text().splitlines()) if m]
    rows = [m for m in rows if not args.rows or int(m.group(1)) in args.rows]
    kept = json.loads(args.out.read_text())["rows"] if args.rows and args.out.is_file() else []
    results = [r for r in kept if r["row"] not in (args.rows or [])]
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        files = make_files(root, checkout)
        for match in rows:
            number, what, script, arguments = match.group(1), match.group(2).strip(), match.group(3), match.group(4)
            argv = [a.format(**files) for a in arguments.split()]
            given = {a.partition("=")[0] for a in argv}
            limits = [
                a for a in [*LIMITS[script], f"paths.log_dir={root / 'logs'}"] if a.partition("=")[0] not in given
            ]
            proc = subprocess.run(
                [sys.executable, str(checkout / f"{script}.py"), *argv, *limits],
                cwd=root,
                capture_output=True,
                text=True,
            )
            outcome = classify(proc)
            last = proc.stderr.strip().splitlines()[-1][:200] if proc.stderr.strip() else ""
            results.append(
                {
                    "row": int(number),
                    "what": what,
                    "outcome": outcome,
                    "exit": proc.returncode,
                    "last_stderr_line": last,
                }
            )
            print(f"{number:>3} {outcome:<9} {what}", flush=True)
    results.sort(key=lambda r: r["row"])
    counts = Counter(r["outcome"] for r in results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"checkout": str(checkout), "counts": counts, "rows": results}, indent=2))
    print(dict(counts))


if __name__ == "__main__":
    main()
