"""Greedy generation per new token on a tiny random decoder, with and without the adapter's key/value cache.

    python benchmarks/generation.py [--prompt 64] [--new-tokens 64] [--repeats 7] [--output PATH]

A tiny random Llama (hidden 64, 4 layers, vocabulary 1,000; random weights: speed does not depend on them), one CPU
thread. Variants, timed round-robin in one process so machine noise hits them alike (median of the repeats):
  bare cached      the model alone, use_cache=True
  tiny cached      with a tiny-attention adapter (4 heads, after_attention): the adapter keeps its own keys and
                   values beside the model's cache, so a new token costs one projection of that token
  tiny uncached    the same, use_cache=False: every step runs the model and the adapter over the whole prefix
Per new token = (time for N new tokens - time for 1) / (N - 1), so the prompt's first pass is left out.
Tokens are checked equal between the cached and uncached runs. Results: benchmarks/results/generation-cpu.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import machine  # noqa: E402

from tinyattn_lab import TinyAttnConfig, TinyAttnModel  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "generation-cpu.json"


def build(seed: int = 0) -> TinyAttnModel:
    from transformers import AutoModelForCausalLM, LlamaConfig

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=4, head_dim=16, max_position_embeddings=512,
                         pad_token_id=0, bos_token_id=1, eos_token_id=2)
    wrapped = TinyAttnModel(AutoModelForCausalLM.from_config(config).eval(), TinyAttnConfig(num_heads=4,
                                                                                             init_scale=0.5))
    return wrapped.eval()


def generate_seconds(model, prompt, new_tokens: int, use_cache: bool) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=new_tokens,
                             min_new_tokens=new_tokens, do_sample=False, use_cache=use_cache, pad_token_id=0)
    return time.perf_counter() - start, out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt", type=int, default=64, help="prompt length in tokens")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return measure(args, argv)
    finally:
        torch.set_num_threads(threads)


def measure(args, argv) -> dict:
    model = build()
    prompt = torch.randint(5, 1000, (1, args.prompt), generator=torch.Generator().manual_seed(0))
    variants = {"bare cached": (True, False), "tiny cached": (True, True), "tiny uncached": (False, True)}
    times = {name: {1: [], args.new_tokens: []} for name in variants}
    tokens = {}
    for _ in range(args.repeats):
        for name, (use_cache, adapter) in variants.items():
            for n in (1, args.new_tokens):
                if adapter:
                    seconds, out = generate_seconds(model, prompt, n, use_cache)
                else:
                    with model.disable_adapter():
                        seconds, out = generate_seconds(model, prompt, n, use_cache)
                times[name][n].append(seconds)
                tokens[name] = out
    if not torch.equal(tokens["tiny cached"], tokens["tiny uncached"]):
        raise AssertionError("cached and uncached greedy generation disagree")
    per_token = {name: (statistics.median(t[args.new_tokens]) - statistics.median(t[1])) / (args.new_tokens - 1)
                 for name, t in times.items()}
    document = {
        "command": " ".join(["python", "benchmarks/generation.py", *(argv or sys.argv[1:])]),
        "machine": machine(),
        "model": "random Llama: hidden 64, 4 layers, 4 heads, vocabulary 1000; adapter: 4 heads of width 1",
        "prompt_tokens": args.prompt, "new_tokens": args.new_tokens, "repeats": args.repeats,
        "ms_per_new_token": {name: round(1e3 * s, 3) for name, s in per_token.items()},
        "tiny_cached_over_bare_cached": round(per_token["tiny cached"] / per_token["bare cached"], 3),
        "tiny_uncached_over_tiny_cached": round(per_token["tiny uncached"] / per_token["tiny cached"], 3),
        "cached_equals_uncached_tokens": True,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document["ms_per_new_token"], indent=2))
    return document


if __name__ == "__main__":
    main()
