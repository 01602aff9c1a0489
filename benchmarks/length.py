"""Tiny attention at length: training-step time and peak memory against the floor, T = 128 ... 8192 (issue 12).

    python benchmarks/length.py [--lengths 128 512 2048 8192] [--heads 1 4 16] [--repeats 3] [--device cpu|cuda]

The adapter's attention runs in kernel.py's blocked path when the fused kernel would materialise the (B, h, T, T)
probabilities (dropout on a CPU; width-1 heads on CUDA), so its memory is linear in T (paper section 2's dropout on
the probabilities kept exact). One process per variant, so each peak is its own (max RSS on a CPU,
max_memory_allocated on CUDA); the variants of one length run one after the other, so machine noise hits them alike.
  floor       the bare frozen backbone with gradients through every layer, backbone in eval mode (speed.py's floor)
  h<n> p<d>   a tiny-attention adapter (after_attention, width 1) with n heads and attention dropout d
Shape: the 6-layer, 384-wide BERT shape (MiniLM's) with random weights and as many positions as the longest length,
batch 1, random token ids. (A ModernBERT-sized encoder, 22 layers of 768, is too slow for a 1-thread CPU sweep at
8,192 tokens; the same 6 x 384 shape with 8,192 positions stands in for it.)
Results go to benchmarks/results/length-<device>.json with the machine's description, rewritten after every variant.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import as_floor, machine, make_step  # noqa: E402

SHAPE = dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)


def variants(heads) -> list[tuple[int, float]]:
    """(heads, dropout) pairs; heads 0 is the floor."""
    return [(0, 0.0), *((h, p) for h in heads for p in (0.1, 0.0))]


def name(heads: int, dropout: float) -> str:
    return "floor" if heads == 0 else f"h{heads} p{dropout:g}"


def run_variant(length: int, positions: int, heads: int, dropout: float, device: str, repeats: int,
                shape: dict = SHAPE) -> dict:
    """One variant's training steps in this process: median seconds per step and the peak memory in MB."""
    from transformers import AutoModelForSequenceClassification, BertConfig

    from tinyattn_lab import TinyAttnConfig, TinyAttnModel

    torch.manual_seed(0)
    config = BertConfig(num_labels=2, max_position_embeddings=positions, **shape)
    backbone = AutoModelForSequenceClassification.from_config(config).eval()
    batch = {"input_ids": torch.randint(1, shape["vocab_size"], (1, length), device=device),
             "attention_mask": torch.ones(1, length, dtype=torch.long, device=device)}
    if heads == 0:
        model, bare = None, as_floor(backbone, device)
        bare.train()
        bare.base_model.eval()  # frozen backbones run without dropout, as TinyAttnModel.train keeps them
    else:
        model, bare = TinyAttnModel(backbone, TinyAttnConfig(num_heads=heads, dropout=dropout, init_scale=0.02),
                                    adapter_name="timed").to(device), None
        model.train()
    step = make_step(model, bare, "floor" if heads == 0 else "timed", batch)
    cuda = device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    times = []
    for _ in range(repeats + 1):  # the first step is a warm-up
        sync()
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    if cuda:
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    return {"variant": name(heads, dropout), "length": length, "heads": heads, "dropout": dropout,
            "step_seconds": statistics.median(times[1:]), "peak_mb": peak}


def with_ratios(rows: list[dict]) -> list[dict]:
    """Each row's time and peak memory over the floor's at the same length."""
    floors = {r["length"]: r for r in rows if r["heads"] == 0}
    for r in rows:
        floor = floors.get(r["length"])
        if floor is not None:
            r["step_vs_floor"] = r["step_seconds"] / floor["step_seconds"]
            r["peak_vs_floor"] = r["peak_mb"] / floor["peak_mb"]
    return rows


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 512, 2048, 8192])
    parser.add_argument("--heads", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per variant (after one warm-up)")
    parser.add_argument("--long-repeats", type=int, default=1, help="timed steps per variant at 8,192 and above")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output", default=None, help="JSON file (default: benchmarks/results/length-<device>.json)")
    parser.add_argument("--variant", default=None, help=argparse.SUPPRESS)  # internal: one child process's variant
    args = parser.parse_args(argv)

    if args.variant is not None:
        length, positions, heads, dropout, repeats = json.loads(args.variant)
        print(json.dumps(run_variant(length, positions, heads, dropout, args.device, repeats)))
        return {}
    output = Path(args.output or Path(__file__).parent / "results" / f"length-{args.device}.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    positions = max(512, *args.lengths)
    result = {"machine": machine(), "device": args.device, "shape": SHAPE, "positions": positions, "batch_size": 1,
              "repeats": args.repeats, "long_repeats": args.long_repeats, "rows": []}
    print(f"{'T':>5} {'variant':10} {'step s':>8} {'x floor':>8} {'peak MB':>8} {'x floor':>8}")
    for length in args.lengths:
        repeats = args.long_repeats if length >= 8192 else args.repeats
        for heads, dropout in variants(args.heads):
            spec = json.dumps([length, positions, heads, dropout, repeats])
            child = subprocess.run([sys.executable, __file__, "--device", args.device, "--variant", spec],
                                   capture_output=True, text=True, check=True)
            result["rows"].append(json.loads(child.stdout.strip().splitlines()[-1]))
            with_ratios(result["rows"])
            output.write_text(json.dumps(result, indent=2))
            r = result["rows"][-1]
            print(f"{length:5} {r['variant']:10} {r['step_seconds']:8.3f} {r.get('step_vs_floor', float('nan')):8.3f} "
                  f"{r['peak_mb']:8.0f} {r.get('peak_vs_floor', float('nan')):8.3f}", flush=True)
    print(f"wrote {output}")
    return result


if __name__ == "__main__":
    main()
