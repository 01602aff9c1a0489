"""The GPU campaign: the medium comparison's methods on the full training sets of every GLUE task in the mirror.

    python benchmarks/compare_gpu.py                     # one GPU: as many runs at once as its free memory holds
    python benchmarks/compare_gpu.py --time-limit 480    # the default: no run starts after 8 minutes

Budget "gpu-full" (tinyattn_lab/baselines/specs.py): whole training sets and dev sets, 2 epochs of batch 32, inputs
up to 128 tokens, the three learning rates of each method's grid on seed 0, then seeds 1 and 2 at the best; bf16
autocast where the GPU supports it (TrainArgs.mixed_precision="auto"). Runs go to a process pool sized by free GPU
memory (campaign.auto_workers, one CPU core each), the largest task first; every run is cached (runs/compare-cache),
so a second call resumes. Runs still missing at the time limit are listed in the output, which is then partial.
Writes benchmarks/results/compare-gpu-full.{json,csv,md,png}. On CPU the same command runs (1 worker) and
`--budget smoke --tasks rte` checks it in about a minute (tests/test_campaign.py does).
"""

from __future__ import annotations

import sys

from compare_medium import METHODS, options, run_and_report

from tinyattn_lab.baselines.campaign import auto_workers
from tinyattn_lab.baselines.compare import available_tasks

BY_SIZE = ("sst2", "qqp", "mnli", "qnli", "cola", "stsb", "mrpc", "rte", "wnli")  # largest first: the pool stays full


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = options(argv, budget="gpu-full", name="compare-gpu-full")
    if "--tasks" not in argv:
        present = available_tasks(args.data_dir)
        args.tasks = [t for t in BY_SIZE if t in present]
    if "--workers" not in argv:
        args.workers = auto_workers(max_workers=len(args.tasks) * len(METHODS) * 3)
    if args.time_limit is None:
        args.time_limit = 480.0
    print(f"{len(args.tasks)} tasks ({', '.join(args.tasks)}), {len(args.methods)} methods, budget {args.budget}, "
          f"{args.workers} workers", flush=True)
    run_and_report(args)
    return 0

if __name__ == "__main__":
    sys.exit(main())
