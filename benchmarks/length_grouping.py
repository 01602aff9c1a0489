"""Time to accuracy with and without length-grouped batches, on the README's quick start, side by side.

    nice -n 15 python benchmarks/length_grouping.py [--train-size 8000] [--threads 1]

Runs `tinyattn-lab train --task sst2 --train-size 8000 --evals-per-epoch 4 --lr 3e-3` twice at the same seed, once with
--group-by-length (the default) and once with --no-group-by-length, as two processes at the same time so that a busy
shared machine slows both alike. Writes benchmarks/results/length-grouping-cpu.json: per run the wall time, the
training seconds, the dev accuracy at each evaluation and when it was first reached, with the machine's description.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from speed import machine

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train-size", type=int, default=8000)
    p.add_argument("--eval-size", type=int, default=None)
    p.add_argument("--threads", type=int, default=1, help="torch threads per run (OMP_NUM_THREADS)")
    p.add_argument("--data-dir", default=os.environ.get("TINYATTN_DATA", str(ROOT.parent / "shared" / "data")))
    p.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "length-grouping-cpu.json"))
    args = p.parse_args(argv)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as work:
        runs = {}
        for flag in ("--group-by-length", "--no-group-by-length"):
            command = [sys.executable, "-m", "tinyattn_lab.cli", "train", "--task", "sst2", "--train-size",
                       str(args.train_size), "--evals-per-epoch", "4", "--lr", "3e-3", "--no-progress",
                       "--data-dir", args.data_dir, "--output", str(Path(work) / flag), flag]
            if args.eval_size:
                command += ["--eval-size", str(args.eval_size)]
            runs[flag] = (command, time.perf_counter(), subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                                                         stderr=subprocess.STDOUT, text=True))
        results = {}
        for flag, (command, started, process) in runs.items():
            log, _ = process.communicate()
            wall = time.perf_counter() - started
            if process.returncode:
                raise SystemExit(f"{' '.join(command)} failed:\n{log}")
            metrics = json.loads((Path(work) / flag / "metrics.json").read_text())
            history = [{"step": r["step"], "accuracy": r["accuracy"]} for r in metrics["history"]]
            results[flag.lstrip("-")] = {
                "command": " ".join(command[2:]), "wall_seconds": wall, "train_seconds": metrics["train_seconds"],
                "train_examples_per_second": metrics["train_examples_per_second"],
                "best_accuracy": metrics["best"]["accuracy"], "best_step": metrics["best"]["step"], "history": history,
            }
    on, off = results["group-by-length"], results["no-group-by-length"]
    document = {"machine": {**machine(), "torch_threads": args.threads, "load_average": os.getloadavg()},
                "runs": results, "wall_speedup": off["wall_seconds"] / on["wall_seconds"],
                "train_speedup": off["train_seconds"] / on["train_seconds"],
                "accuracy_difference_points": 100 * (on["best_accuracy"] - off["best_accuracy"])}
    Path(args.output).write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
