"""Training throughput and inference latency of tiny attention against its floor, measured side by side.

    python benchmarks/speed.py [--model minilm|random:bert-base|NAME] [--batch-size 32] [--repeats 30] [--device cpu|cuda]

Variants, timed round-robin in one process so machine noise hits them alike (median of the repeats):
  floor        the bare frozen backbone with gradients flowing through every layer (the input embeddings require
               grad), plus the head: the least any adapter in every layer can cost to train
  bare         the bare backbone at inference
  disabled     the TinyAttnModel wrapper with its adapters disabled (the cost of the hooks alone)
  tiny h=1/4/16 a tiny-attention adapter (after_attention, width 1) with 1, 4 or 16 heads
  averaged     the 16-head adapter averaged into one head (the paper's deployment step)
floor and bare run an unwrapped copy of the backbone (same weights, no hooks), so the ratios include every cost of
the wrapper. Training = forward + backward + AdamW step on a real SST-2 batch; inference = forward under no_grad.
Targets (issue 3): tiny attention training at most 1.05x the floor; averaged inference at most 1.03x the bare backbone.
Results go to benchmarks/results/speed-<device>.json with the machine's description.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from tinyattn_lab import TinyAttnConfig, TinyAttnModel, average_heads
from tinyattn_lab.backbones import load_backbone, resolve_model
from tinyattn_lab.data.glue import load_glue, make_collator

HEADS = (1, 4, 16)


def real_batch(tokenizer, batch_size: int, data_dir=None) -> dict:
    """The first `batch_size` SST-2 dev sentences, dynamically padded (a typical GLUE batch)."""
    sentences = load_glue("sst2", data_dir, splits=["validation"])["validation"]["sentence"]
    features = [tokenizer(s, truncation=True, max_length=128) for s in list(sentences)[:batch_size]]
    return make_collator(tokenizer)(features)


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").exists():
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "python": sys.version.split()[0], "torch": torch.__version__, "platform": platform.platform()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


# Timing does not depend on the weights, so larger encoders than the embedded one can be timed offline with random
# weights of their published shapes (BERT's vocabulary, which the embedded tokenizer uses).
# "tiny" is for checking the script itself quickly (tests/test_benchmarks.py).
RANDOM_SHAPES = {"bert-base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
                 "tiny": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)}


def load_timed_backbone(model_name: str):
    """(model, tokenizer); "random:bert-base" is a randomly initialised BERT-base with the embedded tokenizer."""
    if not model_name.startswith("random:"):
        return load_backbone(model_name, num_labels=2)
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertConfig

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm"))
    config = BertConfig(vocab_size=tokenizer.vocab_size, num_labels=2, **RANDOM_SHAPES[model_name.split(":", 1)[1]])
    return AutoModelForSequenceClassification.from_config(config).eval(), tokenizer


def as_floor(backbone, device: str):
    """The unwrapped backbone, frozen in place but for its head, with gradients flowing through every layer (the
    input embeddings require grad): what the floor trains."""
    bare = backbone.to(device)
    for p in bare.base_model.parameters():
        p.requires_grad_(False)
    bare.base_model.get_input_embeddings().register_forward_hook(
        lambda module, args, out: out.requires_grad_(torch.is_grad_enabled()))
    return bare


def build(model_name: str, device: str):
    """(wrapped, bare, tokenizer): one wrapped backbone holding every variant as a named adapter, so all share the
    same weights, and an unwrapped copy of the backbone, frozen but for its head, for the floor and the bare runs."""
    backbone, tokenizer = load_timed_backbone(model_name)
    bare = as_floor(copy.deepcopy(backbone), device)
    model = TinyAttnModel(backbone).to(device)
    for h in HEADS:
        torch.manual_seed(h)
        model.add_adapter(f"h{h}", TinyAttnConfig(num_heads=h, init_scale=0.02))
    average_heads(model, f"h{HEADS[-1]}", "averaged")
    return model, bare, tokenizer


def make_step(model, bare, variant: str, batch: dict):
    """A closure doing one training step of `variant`; the floor trains the unwrapped backbone's head."""
    labels = torch.zeros(batch["input_ids"].shape[0], dtype=torch.long, device=batch["input_ids"].device)
    if variant == "floor":
        optimizer = torch.optim.AdamW([p for p in bare.parameters() if p.requires_grad], lr=1e-5)
    else:
        optimizer = torch.optim.AdamW(model.adapter_parameters(variant), lr=1e-5)

    def step():
        if variant == "floor":
            logits = bare(**batch).logits
        else:
            model.set_adapter(variant)
            logits = model(**batch).logits
        torch.nn.functional.cross_entropy(logits, labels).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def infer(model, bare, variant: str, batch: dict):
    def forward():
        with torch.no_grad():
            if variant == "bare":
                bare(**batch)
            elif variant == "disabled":
                with model.disable_adapter():
                    model(**batch)
            else:
                model.set_adapter(variant)
                model(**batch)

    return forward


def timed_round_robin(jobs: dict, repeats: int, sync) -> dict[str, float]:
    """Median seconds per call of each job, calling them in turn `repeats` times after two warm-up rounds."""
    times = {name: [] for name in jobs}
    for round_index in range(repeats + 2):
        for name, job in jobs.items():
            sync()
            start = time.perf_counter()
            job()
            sync()
            if round_index >= 2:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="minilm",
                        help=f"model name or path, or random:<shape> ({', '.join(RANDOM_SHAPES)}) for random weights")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--output", default=None, help="JSON file (default: benchmarks/results/speed-<device>.json)")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    model, bare, tokenizer = build(args.model, args.device)
    batch = {k: v.to(args.device) for k, v in real_batch(tokenizer, args.batch_size, args.data_dir).items()}
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    model.train()
    bare.train()
    bare.base_model.eval()  # frozen backbones run without dropout, as TinyAttnModel.train keeps them
    train_variants = ["floor", *(f"h{h}" for h in HEADS)]
    train = timed_round_robin({v: make_step(model, bare, v, batch) for v in train_variants}, args.repeats, sync)
    model.eval()
    bare.eval()
    infer_variants = ["bare", "disabled", *(f"h{h}" for h in HEADS), "averaged"]
    latency = timed_round_robin({v: infer(model, bare, v, batch) for v in infer_variants}, args.repeats, sync)

    n = args.batch_size
    result = {
        "machine": machine(),
        "model": args.model,
        "device": args.device,
        "batch_size": n,
        "tokens_per_example": int(batch["attention_mask"].sum()) / n,
        "padded_length": batch["input_ids"].shape[1],
        "repeats": args.repeats,
        "train_examples_per_second": {v: n / s for v, s in train.items()},
        "train_step_vs_floor": {v: s / train["floor"] for v, s in train.items()},
        "inference_ms": {v: 1000 * s for v, s in latency.items()},
        "inference_vs_bare": {v: s / latency["bare"] for v, s in latency.items()},
    }
    suffix = "" if args.model == "minilm" else "-" + args.model.replace("random:", "random-").replace("/", "_")
    output = Path(args.output or Path(__file__).parent / "results" / f"speed-{args.device}{suffix}.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2))
    print(f"{'variant':10} {'train ex/s':>11} {'x floor':>8} {'infer ms':>9} {'x bare':>7}")
    for v in ["floor", *infer_variants]:
        ex = result["train_examples_per_second"].get(v)
        ratio = result["train_step_vs_floor"].get(v)
        ms, rel = result["inference_ms"].get(v), result["inference_vs_bare"].get(v)
        print(f"{v:10} {ex or float('nan'):11.1f} {ratio or float('nan'):8.3f} "
              f"{ms or float('nan'):9.2f} {rel or float('nan'):7.3f}")
    print(f"wrote {output}")
    return result


if __name__ == "__main__":
    main()
