"""The measured comparison of the README: tiny attention against its baselines on SST-2, CoLA, STS-B, MRPC and RTE.

    nice -n 10 python benchmarks/compare_glue5.py [--budget cpu] [--methods ...] [--data-dir shared/data]

Writes benchmarks/results/compare-glue5-<budget>.{json,csv,png} after every finished task (so a long run that is
stopped still leaves the tasks it finished), plus a Markdown table (.md). The core methods are trained on every task
first (compare-glue5-<budget>.*), then all 13 methods task by task (compare-glue5-<budget>-extended.*). The run
cache (runs/compare-cache) makes a rerun or an extension train only what is new. The budget "cpu"
(tinyattn_lab/baselines/specs.py) is sized for 2 CPU cores: 400 training examples, 2 epochs of batch 16 (50 steps), 300 dev examples, inputs cut at 64 tokens, the middle
and high point of each method's learning-rate grid on seed 0, then seed 1 at the better rate.

Two single-threaded workers use 2 cores better than one two-threaded process (195 runs: about an hour when idle):

    python benchmarks/compare_glue5.py --threads 1 --no-output --tasks sst2 rte stsb &
    python benchmarks/compare_glue5.py --threads 1 --no-output --tasks mrpc cola; wait
    python benchmarks/compare_glue5.py          # everything cached: probes, tables and the figure
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

from tinyattn_lab.baselines import compare  # noqa: E402
from tinyattn_lab.baselines.report import format_table  # noqa: E402
from tinyattn_lab.baselines.specs import BUDGETS  # noqa: E402
from tinyattn_lab.baselines.methods import METHODS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("sst2", "cola", "stsb", "mrpc", "rte")  # short inputs first
CORE = ("tiny_attention", "lora", "head_only", "full_finetune")  # trained first, on every task
MORE = tuple(m for m in METHODS if m not in CORE)  # then every other method, task by task (the cache keeps them)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budget", default="cpu", choices=list(BUDGETS))
    p.add_argument("--tasks", nargs="+", default=list(TASKS))
    p.add_argument("--methods", nargs="+", default=list(CORE) + list(MORE))
    p.add_argument("--core", nargs="+", default=list(CORE), help="methods trained on every task before the others")
    p.add_argument("--data-dir", default=os.environ.get("TINYATTN_DATA", str(ROOT.parent / "shared" / "data")))
    p.add_argument("--cache", default=str(ROOT / "runs" / "compare-cache"))
    p.add_argument("--name", default=None, help="output name (default compare-glue5-<budget>)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (1 per worker when running several)")
    p.add_argument("--no-output", action="store_true", help="only fill the cache (for parallel workers)")
    args = p.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    output = ROOT / "benchmarks" / "results" / (args.name or f"compare-glue5-{args.budget}")
    started = time.time()
    core = [m for m in args.methods if m in args.core]
    phases = [core, args.methods] if core and core != args.methods else [args.methods]
    for i, methods in enumerate(phases):  # after every task, the outputs hold every task finished so far
        out = output if i == 0 else output.with_name(output.name + "-extended")
        done = []
        for task in args.tasks:
            done.append(task)
            result = compare.compare(done, methods, args.budget, "minilm", args.data_dir, args.cache,
                                     None if args.no_output else out,
                                     probes=task == args.tasks[-1] and not args.no_output,
                                     log=lambda line: print(line, flush=True))
            if args.no_output:
                continue
            result_md = format_table(result)
            out.with_suffix(".md").write_text(
                f"{result_md}\n\nBudget: {result['budget']}\nMethods: {', '.join(methods)}; tasks finished: "
                f"{', '.join(done)}; {(time.time() - started) / 60:.1f} min in this invocation; "
                f"{result['train_seconds_all_runs'] / 60:.1f} min of training runs in all (cached runs included).\n")
            print(result_md, flush=True)
    print(f"done in {(time.time() - started) / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
