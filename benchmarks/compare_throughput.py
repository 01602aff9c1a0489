"""Throughput target of the baselines issue: tiny attention trains at least as many examples/s as LoRA.

    nice -n 10 python benchmarks/compare_throughput.py [--batch-size 16] [--seq-len 64] [--rounds 8]

Both methods are built by tinyattn_lab.methods on the same backbone (the embedded MiniLM), in one process, and trained
on the same batch, round by round in alternating order (probes.side_by_side_throughput), so a busy shared machine
slows both alike. LoRA is peft's, r=8 on query and value (its default targets for BERT). Writes
benchmarks/results/compare-throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from tinyattn_lab.baselines.probes import side_by_side_throughput  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", nargs="+", default=["tiny_attention", "lora:r=8"])
    p.add_argument("--batch-size", type=int, nargs="+", default=[16, 32])
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--steps-per-round", type=int, default=2)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "compare-throughput.json"))
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    for batch_size in args.batch_size:
        r = side_by_side_throughput(args.methods, "minilm", batch_size, args.seq_len, args.rounds, args.steps_per_round)
        results.append(r)
        eps = ", ".join(f"{k} {v:.1f}" for k, v in r["examples_per_second"].items())
        print(f"batch {batch_size}x{args.seq_len}: {eps} examples/s; ratio {r['ratio']['of']} median "
              f"{r['ratio']['median']:.3f} (min {r['ratio']['min']:.3f}, max {r['ratio']['max']:.3f}, "
              f">= 1 in {r['ratio']['rounds_at_least_1']}/{args.rounds} rounds)", flush=True)
    document = {"command": " ".join(sys.argv), "machine": {"platform": platform.platform(), "processor": platform.processor(),
                            "cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
                            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                            "torch": torch.__version__},
                "results": results}
    Path(args.output).write_text(json.dumps(document, indent=2))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
