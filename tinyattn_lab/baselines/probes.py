"""The systems probe of the comparison: training examples/s, peak memory and inference latency of a method.

Each method is probed once, in a fresh Python process (`python -m tinyattn_lab.probes REQUEST`, started by `probe`),
on one fixed batch: training examples/s (forward + backward + AdamW step), peak memory (CPU: growth of the resident
set's high-water mark during those steps, after resetting it through /proc/self/clear_refs, else getrusage's max RSS;
GPU: torch.cuda.max_memory_allocated above the memory in use before) and inference latency (eval-mode forward of the
batch). Probes are cached under cache_dir/probes. `side_by_side_throughput` instead times several methods in one
process, interleaved, for a throughput ratio that a busy shared machine does not skew.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .specs import CACHE_VERSION, DEFAULT_CACHE, MethodSpec, cache_hash, parse_method


@dataclass(frozen=True)
class ProbeShape:
    batch_size: int = 16
    seq_len: int = 64
    steps: int = 5  # training steps; the first (allocation, warm-up) is not timed
    latency_repeats: int = 3
    num_labels: int = 2


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _hwm_bytes() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _random_batch(tokenizer, batch_size: int, seq_len: int, num_labels: int, generator):
    """(batch, labels): random non-special token ids without padding, and random labels, drawn from `generator`."""
    import torch

    low = max(tokenizer.all_special_ids) + 1
    ids = torch.randint(low, tokenizer.vocab_size, (batch_size, seq_len), generator=generator)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if "token_type_ids" in tokenizer.model_input_names:
        batch["token_type_ids"] = torch.zeros_like(ids)
    return batch, torch.randint(0, num_labels, (batch_size,), generator=generator)


def _train_step(task, model, batch, labels, params, optimizer) -> None:
    """One training step as train.fit takes it: loss, backward, clipping, AdamW."""
    import torch

    from ..training.loop import task_loss

    task_loss(task, model(**batch).logits, labels).backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def probe_in_process(spec: MethodSpec, model_name: str, shape: ProbeShape) -> dict:
    """Train steps and inference on one fixed random batch; call in a fresh process for honest memory numbers."""
    import resource
    import statistics

    import torch

    from ..backbones import load_backbone
    from ..data.glue import get_task

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    torch.manual_seed(0)
    backbone, tokenizer = load_backbone(model_name, num_labels=shape.num_labels)
    built = spec.method().build(backbone, **spec.hp)
    model = built.model.to(device)
    batch, labels = _random_batch(tokenizer, shape.batch_size, shape.seq_len, shape.num_labels,
                                  torch.Generator().manual_seed(0))
    batch, labels = {k: v.to(device) for k, v in batch.items()}, labels.to(device)
    task = get_task("sst2")
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    model.train()
    gc.collect()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        how = "torch.cuda.max_memory_allocated() - memory_allocated() before the first step"
    else:
        before = _rss_bytes()
        if _reset_hwm():
            how = "VmHWM after the steps - VmRSS before (high-water mark reset via /proc/self/clear_refs)"
        else:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            how = "getrusage max RSS after the steps - max RSS before (0 if loading peaked higher)"
    times = []
    for _ in range(shape.steps):
        start = time.perf_counter()
        _train_step(task, model, batch, labels, params, optimizer)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    if cuda:
        peak = torch.cuda.max_memory_allocated() - before
    else:
        hwm = _hwm_bytes() if "VmHWM" in how else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        peak = max(0, hwm - before)
    model.eval()
    latencies = []
    with torch.no_grad():
        model(**batch)
        for _ in range(shape.latency_repeats):
            start = time.perf_counter()
            model(**batch)
            if cuda:
                torch.cuda.synchronize()
            latencies.append(time.perf_counter() - start)
    step = statistics.median(times[1:]) if len(times) > 1 else times[0]
    return {
        "label": spec.label, "method": spec.name, "hp": built.hp, "model": model_name, "shape": asdict(shape),
        "device": str(device), "threads": torch.get_num_threads(),
        "train_examples_per_second": shape.batch_size / step, "step_seconds": times,
        "peak_memory_mb": peak / 2**20, "memory_measure": how,
        "latency_ms": 1000 * statistics.median(latencies), "parameters": built.parameters,
    }


def probe(spec: MethodSpec, model_name: str = "minilm", shape: ProbeShape = ProbeShape(),
          cache_dir=DEFAULT_CACHE, subprocess_: bool = True) -> dict:
    """The systems probe of one method, cached; run in a fresh Python process unless subprocess_=False."""
    cache_dir = Path(cache_dir)
    key = cache_hash({"v": CACHE_VERSION, "probe": spec.name, "version": spec.method().version,
                      "hp": spec.resolved_hp(), "model": model_name, "shape": asdict(shape), "cuda": _cuda_name(),
                      "threads": os.environ.get("OMP_NUM_THREADS")})
    path = cache_dir / "probes" / f"{key}.json"
    if path.is_file():
        return json.loads(path.read_text())
    if subprocess_:
        request = json.dumps({"name": spec.name, "hp": spec.hp, "model": model_name, "shape": asdict(shape)})
        done = subprocess.run([sys.executable, "-m", "tinyattn_lab.baselines.probes", request],
                              capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            raise RuntimeError(f"The probe of {spec.label} failed:\n{done.stderr[-2000:]}")
        record = json.loads(lines[-1])
    else:
        record = probe_in_process(spec, model_name, shape)
    record["subprocess"] = subprocess_
    path.parent.mkdir(parents=True, exist_ok=True)
    from ..saving import write_json

    write_json(path, record)
    return record


def _cuda_name() -> str | None:
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else None


def side_by_side_throughput(specs, model_name: str = "minilm", batch_size: int = 32, seq_len: int = 64,
                            rounds: int = 8, steps_per_round: int = 3, seed: int = 0) -> dict:
    """Training examples/s of several methods measured in one process, interleaved round by round on one batch.

    On a shared machine the load changes from second to second; alternating the methods (in a rotating order) exposes
    them to the same conditions, and the per-round ratios show how stable the comparison is.
    """
    import statistics

    import torch

    from ..backbones import load_backbone
    from ..data.glue import get_task

    specs = [parse_method(s) for s in specs]
    task = get_task("sst2")
    g = torch.Generator().manual_seed(seed)
    models = []
    for spec in specs:
        torch.manual_seed(seed)
        backbone, tokenizer = load_backbone(model_name, num_labels=2)
        model = spec.method().build(backbone, **spec.hp).model
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        models.append((spec, model, params, torch.optim.AdamW(params, lr=1e-4)))
    batch, labels = _random_batch(tokenizer, batch_size, seq_len, 2, g)

    def step(model, params, optimizer):
        _train_step(task, model, batch, labels, params, optimizer)

    for _, model, params, optimizer in models:  # warm-up: allocations, optimizer state
        step(model, params, optimizer)
    per_round = {spec.label: [] for spec, *_ in models}
    for r in range(rounds):
        order = models[r % len(models):] + models[:r % len(models)]
        for spec, model, params, optimizer in order:
            start = time.perf_counter()
            for _ in range(steps_per_round):
                step(model, params, optimizer)
            per_round[spec.label].append(batch_size * steps_per_round / (time.perf_counter() - start))
    labels_ = list(per_round)
    result = {
        "model": model_name, "batch_size": batch_size, "seq_len": seq_len, "rounds": rounds,
        "steps_per_round": steps_per_round, "threads": torch.get_num_threads(),
        "examples_per_second": {k: statistics.median(v) for k, v in per_round.items()},
        "per_round": per_round,
    }
    if len(labels_) >= 2:
        a, b = labels_[0], labels_[1]
        ratios = [x / y for x, y in zip(per_round[a], per_round[b])]
        result["ratio"] = {"of": f"{a} / {b}", "median": statistics.median(ratios), "min": min(ratios),
                           "max": max(ratios), "rounds_at_least_1": sum(r >= 1 for r in ratios)}
    return result


def _probe_main(request: str) -> None:
    data = json.loads(request)
    spec = MethodSpec(data["name"], data["hp"])
    print(json.dumps(probe_in_process(spec, data["model"], ProbeShape(**data["shape"]))))


if __name__ == "__main__":
    if len(sys.argv) == 2:
        _probe_main(sys.argv[1])
    else:
        print("usage: python -m tinyattn_lab.probes REQUEST_JSON (probe() runs this in a fresh process)",
              file=sys.stderr)
        sys.exit(2)
