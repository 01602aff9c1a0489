"""Does tiny attention win? The comparison at the `medium` budget, where every task learns, with paired statistics.

    nice -n 15 python benchmarks/compare_medium.py --workers 2          # run or resume the campaign, then report
    python benchmarks/compare_medium.py --report-only                    # tables from what the cache holds
    nice -n 15 python benchmarks/compare_medium.py --pilot --tasks rte --train-size 1000 --epochs 2

The budget (tinyattn_lab/baselines/specs.py TASK_BUDGETS["medium"]) sizes the training set and epochs per task.
Methods: tiny attention in its three placements with 1 head and after attention with 4 heads, LoRA, IA3, Houlsby,
Pfeiffer, parallel adapter, BitFit, prefix tuning and full fine-tuning. Protocol: the middle and high learning rate
of each method's grid (on CoLA and RTE all three) on seed 0, then seeds 1 and 2 at the best; every finished run is
cached in benchmarks/results/compare-medium-cache/runs/ and committed, so a campaign spans sittings, and stopping and
restarting loses at most the runs in flight (their checkpoints, under work/, are not committed). Each worker is one
process with one thread (OMP_NUM_THREADS=1); 2 workers for 2 cores. Writes
benchmarks/results/compare-medium-cpu.{json,csv,md,png} after the runs (and with --report-only at any time): per
task the trivial baseline, per method mean, sd, seeds, trainable parameters and the paired difference to tiny
attention with its 95% t interval, in percent; runs still missing are listed, so a partial campaign says it is
partial.

--pilot trains only full fine-tuning and a PEFT method (Houlsby) at the middle learning rate on
seeds 0 and 1, at the budget with the given overrides, and appends a line per (task, method) to
benchmarks/results/medium-pilot-<task>.json: the evidence for the sizes in TASK_BUDGETS (docs/baselines.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from tinyattn_lab.baselines.campaign import collect, run_campaign  # noqa: E402
from tinyattn_lab.baselines.campaign_report import campaign_document, trivial_baselines, write_campaign  # noqa: E402
from tinyattn_lab.baselines.specs import MethodSpec, get_budget, parse_method  # noqa: E402
from tinyattn_lab.baselines.stats import learns  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("sst2", "stsb", "cola", "mrpc", "rte")  # cheapest first
METHODS = ("tiny_attention", "tiny_attention:num_heads=4", "tiny_attention_parallel", "tiny_attention_ffn", "lora",
           "ia3", "houlsby", "pfeiffer", "parallel_adapter", "bitfit", "prefix_tuning", "full_finetune")
PILOT = ("full_finetune", "houlsby")


def options(argv=None, budget="medium", name="compare-medium-cpu"):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budget", default=budget)
    p.add_argument("--tasks", nargs="+", default=list(TASKS))
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("--model", default="minilm", help="backbone: 'minilm' (embedded), an HF name or a path")
    p.add_argument("--reference", default="tiny_attention", help="the method every other is paired against")
    p.add_argument("--workers", type=int, default=1, help="training processes at once")
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    p.add_argument("--time-limit", type=float, default=None, help="start no run after this many seconds")
    p.add_argument("--data-dir", default=os.environ.get("TINYATTN_DATA", str(ROOT.parent / "shared" / "data")))
    p.add_argument("--cache", default=str(ROOT / "benchmarks" / "results" / "compare-medium-cache"))  # committed
    p.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / name))
    p.add_argument("--report-only", action="store_true", help="no training: report what the cache holds")
    p.add_argument("--pilot", action="store_true", help="full FT + PEFT at the middle rate, seeds 0 and 1")
    p.add_argument("--train-size", type=int, default=None, help="pilot: override the budget's training size")
    p.add_argument("--epochs", type=int, default=None, help="pilot: override the budget's epochs")
    args = p.parse_args(argv)
    try:  # bad names fail here, in one line with exit code 2, not as a traceback from a worker
        for name in (*args.methods, args.reference):
            parse_method(name)
        for task in args.tasks:
            get_budget(args.budget, task)
    except ValueError as err:
        p.error(str(err))
    return args


def report(args, started: float) -> dict:
    specs = [parse_method(m) for m in args.methods]
    records, missing = collect(args.tasks, specs, args.budget, args.model, args.cache)
    trivial = trivial_baselines(args.tasks, args.budget, args.model, args.data_dir)
    document = campaign_document(records, missing, args.tasks, [s.label for s in specs], args.budget, trivial,
                                 parse_method(args.reference).label, args.model)
    document["wall_seconds_this_call"] = time.time() - started
    document["train_seconds_all_runs"] = sum(r["wall_seconds"] for r in records)
    write_campaign(document, args.output)
    print(Path(args.output).with_suffix(".md").read_text(), flush=True)
    return document


def pilot(args) -> None:
    for task in args.tasks:
        path = ROOT / "benchmarks" / "results" / f"medium-pilot-{task}.json"  # one file per task: parallel pilots
        lines = json.loads(path.read_text()) if path.is_file() else []
        budget = get_budget(args.budget, task).replace(train_size=args.train_size, epochs=args.epochs, seeds=(0, 1))
        specs = [parse_method(name) for name in PILOT]
        specs = [MethodSpec(s.name, s.hp, (s.method().lr_grid[1],)) for s in specs]
        run_campaign([task], specs, budget, args.model, args.data_dir, args.cache, args.workers, args.threads,
                     log=lambda line: print(line, flush=True))  # one pool for both methods: no core waits
        for name, spec in zip(PILOT, specs):
            records, _ = collect([task], [spec], budget, args.model, args.cache)
            scores = [100 * r["best_main"] for r in records]
            trivial = trivial_baselines([task], budget, args.model, args.data_dir)[task]
            mean = sum(scores) / len(scores)
            spread = max(scores) - min(scores)
            line = {"task": task, "method": name, "lr": spec.lrs[0], "train_size": records[0]["train_examples"],
                    "epochs": budget.epochs, "max_length": budget.max_length, "steps": records[0]["steps"],
                    "scores": scores, "mean": mean, "spread": spread, "trivial": trivial,
                    "learns": learns(scores, trivial),
                    "wall_seconds": [r["wall_seconds"] for r in records]}
            print(json.dumps(line), flush=True)
            lines = [x for x in lines if any(x[k] != line[k] for k in ("task", "method", "lr", "train_size",
                                                                        "epochs", "max_length"))] + [line]
            path.write_text(json.dumps(lines, indent=1) + "\n")


def run_and_report(args) -> dict:
    """Train what the campaign still misses (unless --report-only), then write its report."""
    started = time.time()
    if not args.report_only:
        missing = run_campaign(args.tasks, args.methods, args.budget, args.model, args.data_dir, args.cache,
                               args.workers, args.threads, args.time_limit, log=lambda line: print(line, flush=True))
        print(f"{len(missing)} runs missing after {(time.time() - started) / 60:.1f} min", flush=True)
    return report(args, started)


def main(argv=None) -> int:
    args = options(argv)
    if args.pilot:
        pilot(args)
    else:
        run_and_report(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
