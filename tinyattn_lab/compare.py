"""Fair comparisons: every method, the same data, steps and seeds, a learning-rate sweep each, results cached.

Paper Figure 1 and abstract: tiny attention beats the other parameter-efficient methods and full fine-tuning with a
fraction of their parameters. `compare` checks that on any backbone and GLUE task:

    tinyattn-lab compare --task sst2 rte --methods tiny_attention lora houlsby bitfit --budget cpu --output out/cmp
    tinyattn-lab glue --method tiny_attention --budget cpu --output out/glue

Protocol. For each task and method, every learning rate of the method's own grid (methods.py; methods differ by 10x
and more in their best rate) is trained with every seed, through train.fit, on the same training subset, in the same
data order per seed, for the same number of steps. A run's score is its best dev evaluation (as the paper reports);
a method's score is that of the learning rate with the best mean over seeds, reported as mean and spread over seeds.
Selecting the rate on the dev set that is also reported is optimistic, and equally so for every method.

Systems numbers come from a probe run once per method in a fresh subprocess, on one fixed batch: training examples/s
(forward + backward + AdamW step), peak memory (CPU: growth of the resident set's high-water mark during those steps,
after resetting it through /proc/self/clear_refs, else getrusage's max RSS; GPU: torch.cuda.max_memory_allocated above
the memory in use before) and inference latency (eval-mode forward of the batch).

Cache: one JSON per run under cache_dir/runs, named by a hash of (task, method, hyperparameters, lr, seed, budget,
data sizes, model); probes under cache_dir/probes. Rerunning or extending a comparison trains only what is new.
Notebook: notebooks/07_baselines_and_frontier.ipynb.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

CACHE_VERSION = 1  # bump when a change in the code changes what a cached run means
DEFAULT_CACHE = Path("runs") / "compare-cache"
DEFAULT_METHODS = ("tiny_attention", "lora", "houlsby", "pfeiffer", "parallel_adapter", "bitfit", "head_only",
                   "full_finetune")


# -- budgets ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Budget:
    """What every method gets: data, steps, seeds, learning-rate points. Part of every cache key."""

    train_size: int | None = 1000  # random training subset (None = all)
    eval_size: int | None = 500  # random dev subset (None = all)
    epochs: int = 1
    batch_size: int = 32
    eval_batch_size: int = 64
    max_length: int = 128
    evals_per_epoch: int = 2
    seeds: tuple = (0, 1)
    lr_points: int = 2  # of each method's three-point grid: 1 = the middle, 2 = middle and high, 3 = all
    sweep: str = "grid"  # "grid": every lr x every seed; "first-seed": lrs on the first seed, other seeds at its best
    warmup_ratio: float = 0.06
    schedule: str = "linear"
    weight_decay: float = 0.0
    data_seed: int = 0  # the subsets are the same for every seed and method

    def __post_init__(self):
        if self.lr_points not in (1, 2, 3):
            raise ValueError(f"lr_points must be 1, 2 or 3, got {self.lr_points!r}.")
        if not self.seeds:
            raise ValueError("Give at least one seed.")
        if self.sweep not in ("grid", "first-seed"):
            raise ValueError(f"sweep must be 'grid' or 'first-seed', got {self.sweep!r}.")
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))

    def learning_rates(self, grid) -> list[float]:
        return {1: [grid[1]], 2: [grid[1], grid[2]], 3: list(grid)}[self.lr_points]

    def replace(self, **changes) -> "Budget":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


BUDGETS = {
    # seconds on a laptop CPU: for tests and the notebook's smoke mode
    "smoke": Budget(train_size=64, eval_size=64, epochs=1, batch_size=16, max_length=64, evals_per_epoch=1,
                    seeds=(0,), lr_points=1),
    # the committed CPU benchmark (benchmarks/compare_glue5.py), sized for 2 CPU cores shared with other jobs:
    # 400 training examples, 2 epochs of batch 16 (50 steps), 300 dev examples, inputs cut at 64 tokens
    "cpu": Budget(train_size=400, eval_size=300, epochs=2, batch_size=16, max_length=64, evals_per_epoch=1,
                  seeds=(0, 1), lr_points=2, sweep="first-seed"),
    # a GPU: whole training sets, three seeds, the full grid
    "full": Budget(train_size=None, eval_size=None, epochs=3, batch_size=32, max_length=128, evals_per_epoch=2,
                   seeds=(0, 1, 2), lr_points=3),
}


def get_budget(budget: "str | Budget | dict", **changes) -> Budget:
    if isinstance(budget, Budget):
        base = budget
    elif isinstance(budget, dict):
        base = Budget(**budget)
    elif budget in BUDGETS:
        base = BUDGETS[budget]
    else:
        raise ValueError(f"Unknown budget {budget!r}; presets: {', '.join(BUDGETS)} (or pass a Budget).")
    return base.replace(**changes)


# -- method specs: "lora", "lora:r=16", "tiny_attention:num_heads=4" ----------------------------------------------------------

@dataclass(frozen=True)
class MethodSpec:
    name: str
    hp: dict = field(default_factory=dict)
    lrs: tuple | None = None  # overrides the method's grid

    @property
    def label(self) -> str:
        return self.name if not self.hp else f"{self.name}({','.join(f'{k}={v}' for k, v in sorted(self.hp.items()))})"

    def method(self):
        from .methods import get_method

        return get_method(self.name)

    def resolved_hp(self) -> dict:
        return self.method().resolve(**self.hp)

    def learning_rates(self, budget: Budget) -> list[float]:
        return list(self.lrs) if self.lrs else budget.learning_rates(self.method().lr_grid)


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_method(spec: "str | MethodSpec") -> MethodSpec:
    """'name' or 'name:key=value,key=value' (values as JSON: 16, 0.1, [0,1], null; else strings)."""
    if isinstance(spec, MethodSpec):
        spec.resolved_hp()
        return spec
    name, _, rest = spec.partition(":")
    hp = {}
    for item in filter(None, _split_top(rest)):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"Bad hyperparameter {item!r} in {spec!r}: write key=value.")
        hp[key.strip()] = _value(value.strip())
    parsed = MethodSpec(name.strip(), hp)
    parsed.resolved_hp()  # unknown names fail here, before any training
    return parsed


def _split_top(text: str) -> list[str]:
    """Split on commas outside brackets (so layers=[0,1] stays whole)."""
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [*parts, current] if current else parts


# -- one run -----------------------------------------------------------------------------------------------------------

def _hash(document: dict) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()[:20]


def run_key(task: str, spec: MethodSpec, lr: float, seed: int, budget: Budget, model_name: str) -> str:
    b = asdict(budget)
    for name in ("seeds", "lr_points", "sweep"):  # a run does not depend on the other seeds or rates of its sweep
        b.pop(name)
    key = {"v": CACHE_VERSION, "task": task, "method": spec.name, "hp": spec.resolved_hp(), "lr": lr, "seed": seed,
           "budget": b, "model": model_name}
    if spec.method().version != 1:  # so that the keys of methods at version 1 stay what they were
        key["method_version"] = spec.method().version
    return _hash(key)


_DATA: dict = {}


def _task_data(task, model_name: str, data_dir, budget: Budget):
    from .data import make_collator
    from .jobs import glue_splits

    key = (task, model_name, str(data_dir), budget.train_size, budget.eval_size, budget.max_length, budget.data_seed)
    if key not in _DATA:
        from transformers import AutoTokenizer

        from .backbones import resolve_model

        tokenizer = AutoTokenizer.from_pretrained(resolve_model(model_name))
        train, evals = glue_splits(task, tokenizer, data_dir, budget.train_size, budget.eval_size, budget.max_length,
                                   budget.data_seed)
        _DATA.clear()  # one task at a time in memory
        _DATA[key] = (train, evals, make_collator(tokenizer))
    return _DATA[key]


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("torch", "transformers", "peft", "tinyattn-lab"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def train_run(task: str, spec: MethodSpec, lr: float, seed: int, budget: Budget, model_name: str = "minilm",
              data_dir=None, cache_dir=DEFAULT_CACHE, keep_model: bool = False, log=print) -> dict:
    """Train one (task, method, lr, seed) or read it from the cache; returns the run record."""
    import torch

    from .backbones import load_backbone
    from .data import get_task
    from .jobs import write_json
    from .train import TrainArgs, fit

    task = get_task(task).name
    key = run_key(task, spec, lr, seed, budget, model_name)
    cache_dir = Path(cache_dir)
    path = cache_dir / "runs" / f"{key}.json"
    if path.is_file():
        return json.loads(path.read_text())
    started = time.perf_counter()
    train, evals, collator = _task_data(task, model_name, data_dir, budget)
    torch.manual_seed(seed)  # the fresh head and the method's own initialisation depend on the seed
    backbone, _ = load_backbone(model_name, num_labels=get_task(task).num_labels)
    built = spec.method().build(backbone, **spec.hp)
    args = TrainArgs(epochs=budget.epochs, batch_size=budget.batch_size, eval_batch_size=budget.eval_batch_size,
                     lr=lr, weight_decay=budget.weight_decay, warmup_ratio=budget.warmup_ratio,
                     schedule=budget.schedule, evals_per_epoch=budget.evals_per_epoch, seed=seed, progress=False)
    work = cache_dir / "work" / key  # fit's checkpoint: a killed run resumes here
    work.mkdir(parents=True, exist_ok=True)
    save = built.save if keep_model else (lambda directory: None)
    with open(work / "log.txt", "a") as out, contextlib.redirect_stdout(out):
        result = fit(built.model, task, train, evals, collator, args, work, save)
    record = {
        "key": key, "task": task, "method": spec.name, "label": spec.label, "family": spec.method().family,
        "hp": built.hp, "lr": lr, "seed": seed, "budget": asdict(budget), "model": model_name,
        "main_metric": get_task(task).main_metric, "best": result["best"],
        "best_main": _main(task, result["best"]), "history": result["history"],
        "train_examples_per_second": result["train_examples_per_second"], "train_seconds": result["train_seconds"],
        "steps": result["steps"], "train_examples": len(train), "eval_examples": {s: len(d) for s, d in evals.items()},
        "parameters": built.parameters, "description": built.description, "device": result["device"],
        "wall_seconds": time.perf_counter() - started, "versions": _versions(), "created": time.time(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, record)
    if keep_model:
        shutil.copytree(work / "adapter", cache_dir / "models" / key, dirs_exist_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    del built, backbone
    gc.collect()
    log(f"  {task} {spec.label} lr={lr:g} seed={seed}: {record['main_metric']} {record['best_main']:.4f} "
        f"({record['wall_seconds']:.0f}s, {record['train_examples_per_second']:.1f} ex/s)")
    return record


def _main(task, best: dict) -> float:
    from .train import main_metric

    value = main_metric(task, best)
    return float("nan") if value == -math.inf else value


# -- systems probe (fresh subprocess per method) ---------------------------------------------------------------------------

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


def probe_in_process(spec: MethodSpec, model_name: str, shape: ProbeShape) -> dict:
    """Train steps and inference on one fixed random batch; call in a fresh process for honest memory numbers."""
    import resource
    import statistics

    import torch

    from .backbones import load_backbone
    from .train import task_loss
    from .data import get_task

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    torch.manual_seed(0)
    backbone, tokenizer = load_backbone(model_name, num_labels=shape.num_labels)
    built = spec.method().build(backbone, **spec.hp)
    model = built.model.to(device)
    g = torch.Generator().manual_seed(0)
    low = max(tokenizer.all_special_ids) + 1
    ids = torch.randint(low, tokenizer.vocab_size, (shape.batch_size, shape.seq_len), generator=g)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if "token_type_ids" in tokenizer.model_input_names:
        batch["token_type_ids"] = torch.zeros_like(ids)
    batch = {k: v.to(device) for k, v in batch.items()}
    labels = torch.randint(0, shape.num_labels, (shape.batch_size,), generator=g).to(device)
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
        loss = task_loss(task, model(**batch).logits, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
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
    key = _hash({"v": CACHE_VERSION, "probe": spec.name, "version": spec.method().version, "hp": spec.resolved_hp(),
                 "model": model_name,
                 "shape": asdict(shape), "cuda": _cuda_name(), "threads": os.environ.get("OMP_NUM_THREADS")})
    path = cache_dir / "probes" / f"{key}.json"
    if path.is_file():
        return json.loads(path.read_text())
    if subprocess_:
        request = json.dumps({"name": spec.name, "hp": spec.hp, "model": model_name, "shape": asdict(shape)})
        done = subprocess.run([sys.executable, "-m", "tinyattn_lab.compare", "--probe", request],
                              capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            raise RuntimeError(f"The probe of {spec.label} failed:\n{done.stderr[-2000:]}")
        record = json.loads(lines[-1])
    else:
        record = probe_in_process(spec, model_name, shape)
    record["subprocess"] = subprocess_
    path.parent.mkdir(parents=True, exist_ok=True)
    from .jobs import write_json

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

    from .backbones import load_backbone
    from .data import get_task
    from .train import task_loss

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
    low = max(tokenizer.all_special_ids) + 1
    ids = torch.randint(low, tokenizer.vocab_size, (batch_size, seq_len), generator=g)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
    if "token_type_ids" not in tokenizer.model_input_names:
        batch.pop("token_type_ids")
    labels = torch.randint(0, 2, (batch_size,), generator=g)

    def step(model, params, optimizer):
        loss = task_loss(task, model(**batch).logits, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

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


# -- the comparison -------------------------------------------------------------------------------------------------------

def available_tasks(data_dir=None) -> list[str]:
    """GLUE tasks whose training and dev splits are both present (in the mirror, or all of them on the hub)."""
    from .data import GLUE_TASKS, resolve_data_dir

    root = resolve_data_dir(data_dir)
    if root is None:
        return list(GLUE_TASKS)
    return [name for name, task in GLUE_TASKS.items()
            if all((root / "glue" / name / f"{s}.parquet").is_file() for s in ("train", *task.eval_splits))]


def compare(tasks, methods=DEFAULT_METHODS, budget: "str | Budget" = "cpu", model_name: str = "minilm",
            data_dir=None, cache_dir=DEFAULT_CACHE, output=None, probes: bool = True,
            probe_shape: ProbeShape = ProbeShape(), probe_subprocess: bool = True, log=print) -> dict:
    """Train every (task, method, lr, seed) not yet cached, then summarise; writes output.{json,csv,png} if given."""
    from .data import get_task

    budget = get_budget(budget)
    tasks = [get_task(t).name for t in ([tasks] if isinstance(tasks, str) else tasks)]
    specs = [parse_method(m) for m in ([methods] if isinstance(methods, str) else methods)]
    if len({s.label for s in specs}) != len(specs):
        raise ValueError("The same method (with the same hyperparameters) is listed twice.")
    started = time.perf_counter()
    records = []
    for task in tasks:
        log(f"{task}:")
        for spec in specs:
            run = lambda lr, seed: train_run(task, spec, lr, seed, budget, model_name, data_dir, cache_dir, log=log)
            lrs = spec.learning_rates(budget)
            if budget.sweep == "grid" or len(lrs) == 1:
                records += [run(lr, seed) for lr in lrs for seed in budget.seeds]
            else:  # sweep on the first seed, then the other seeds at its best rate
                first = [run(lr, budget.seeds[0]) for lr in lrs]
                best = max(first, key=lambda r: _sortable(r["best_main"]))["lr"]
                records += first + [run(best, seed) for seed in budget.seeds[1:]]
    probe_records = {}
    if probes:
        for spec in specs:
            probe_records[spec.label] = probe(spec, model_name, probe_shape, cache_dir, probe_subprocess)
    result = summarize(records, probe_records, tasks, specs, budget)
    result.update({
        "model": model_name, "budget": asdict(budget), "tasks": tasks, "methods": [s.label for s in specs],
        "protocol": (("per method: every lr of its grid x every seed" if budget.sweep == "grid" else
                      "per method: every lr of its grid on the first seed, the other seeds at the best of those")
                     + ", on the same data subset, order (per seed) and steps; run score = best dev evaluation; "
                     "method score = mean and std over seeds at the chosen lr"),
        "probe_shape": asdict(probe_shape) if probes else None, "versions": _versions(),
        "wall_seconds_this_call": time.perf_counter() - started,
        "train_seconds_all_runs": sum(r["wall_seconds"] for r in records),
    })
    if output is not None:
        write_outputs(result, output)
    return result


def _sortable(value: float) -> float:
    return -math.inf if math.isnan(value) else value


def _mean_std(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return float("nan"), float("nan")
    mean = sum(finite) / len(finite)
    std = math.sqrt(sum((v - mean) ** 2 for v in finite) / (len(finite) - 1)) if len(finite) > 1 else 0.0
    return mean, std


def summarize(records: list[dict], probe_records: dict, tasks: list[str], specs: list[MethodSpec],
              budget: Budget) -> dict:
    """Rows per (task, method) at the method's best learning rate; an average over tasks per method."""
    rows = []
    for task in tasks:
        for spec in specs:
            runs = [r for r in records if r["task"] == task and r["label"] == spec.label]
            by_lr = {}
            for r in runs:
                by_lr.setdefault(r["lr"], []).append(r)
            # the rate is chosen on what every rate has: all seeds (grid) or the first seed (first-seed sweep)
            grid = budget.sweep == "grid"
            sweep = {lr: _mean_std([r["best_main"] for r in rs if grid or r["seed"] == budget.seeds[0]])[0]
                     for lr, rs in by_lr.items()}
            best_lr = max(sweep, key=lambda lr: _sortable(sweep[lr]))
            chosen = by_lr[best_lr]
            mean, std = _mean_std([r["best_main"] for r in chosen])
            metric_names = [k for k in chosen[0]["best"] if k not in ("step", "epoch", "loss")]
            all_metrics = {k: _mean_std([r["best"][k] for r in chosen])[0] for k in metric_names}
            p = chosen[0]["parameters"]
            pr = probe_records.get(spec.label, {})
            rows.append({
                "task": task, "method": spec.label, "family": chosen[0]["family"], "metric": chosen[0]["main_metric"],
                "mean": mean, "std": std, "seeds": len(chosen), "scores": [r["best_main"] for r in chosen],
                "best_lr": best_lr, "lr_sweep": {f"{lr:g}": v for lr, v in sorted(sweep.items())},
                "lr_at_grid_edge": len(sweep) > 1 and (best_lr == max(sweep) or (len(sweep) > 2 and best_lr == min(sweep))),
                "all_metrics": all_metrics,
                "trainable": p["trainable"], "total": p["total"], "trainable_percent": p["trainable_percent"],
                "train_examples_per_second": _mean_std([r["train_examples_per_second"] for r in chosen])[0],
                "probe_train_examples_per_second": pr.get("train_examples_per_second"),
                "peak_memory_mb": pr.get("peak_memory_mb"), "latency_ms": pr.get("latency_ms"),
                "train_examples": chosen[0]["train_examples"], "steps": chosen[0]["steps"],
            })
    averages = []
    for spec in specs:
        mine = [r for r in rows if r["method"] == spec.label]
        if len(mine) == len(tasks) and len(tasks) > 1:
            per_seed = [sum(r["scores"][i] for r in mine) / len(mine) for i in range(min(r["seeds"] for r in mine))]
            mean, std = _mean_std(per_seed)
            averages.append({"method": spec.label, "family": mine[0]["family"], "mean": mean, "std": std,
                             "trainable": mine[0]["trainable"], "trainable_percent": mine[0]["trainable_percent"]})
    return {"rows": rows, "average": averages, "probes": probe_records}


# -- outputs -----------------------------------------------------------------------------------------------------------------

CSV_COLUMNS = ["task", "method", "family", "metric", "mean", "std", "seeds", "best_lr", "lr_at_grid_edge", "trainable",
               "trainable_percent", "train_examples_per_second", "probe_train_examples_per_second", "peak_memory_mb",
               "latency_ms", "train_examples", "steps"]


def write_outputs(result: dict, output) -> list[Path]:
    from .jobs import write_json

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    paths = [output.with_suffix(".json"), output.with_suffix(".csv"), output.with_suffix(".png")]
    write_json(paths[0], result)
    with open(paths[1], "w", newline="") as f:
        writer = csv.DictWriter(f, CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in result["rows"]:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        for row in result["average"]:
            writer.writerow({**{k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()},
                             "task": "average", "metric": "mean of task metrics"})
    try:
        fig = plot_frontier(result)
    except ImportError:  # matplotlib is an optional dependency (the notebooks extra)
        print(f"matplotlib is not installed: no {paths[2].name}")
        return paths[:2]
    fig.savefig(paths[2], dpi=120, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return paths


_COLORS = {"tiny attention": "tab:red", "peft": "tab:blue", "bottleneck": "tab:green", "selective": "tab:gray",
           "full": "black"}


def plot_frontier(result: dict, title: str | None = None):
    """Dev metric against trainable parameters (log scale), one panel per task plus the average: the paper's Figure 1
    on this backbone."""
    import matplotlib

    if "ipykernel" not in sys.modules and "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(t, [r for r in result["rows"] if r["task"] == t]) for t in result["tasks"]]
    if result["average"]:
        panels.append(("average", result["average"]))
    cols = min(3, len(panels))
    rows_ = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows_, cols, figsize=(5.2 * cols, 4.0 * rows_), squeeze=False)
    for ax, (name, rows) in zip(axes.flat, panels):
        for r in rows:
            color = _COLORS.get(r["family"], "tab:purple")
            ax.errorbar(r["trainable"], 100 * r["mean"], yerr=100 * r["std"], fmt="o", color=color, capsize=3,
                        ms=7 if r["family"] == "tiny attention" else 5)
            ax.annotate(r["method"], (r["trainable"], 100 * r["mean"]), fontsize=7, xytext=(4, 3),
                        textcoords="offset points")
        ax.set_xscale("log")
        metric = rows[0].get("metric", "mean of task metrics") if rows else ""
        ax.set_title(f"{name} ({metric})", fontsize=10)
        ax.set_xlabel("trainable parameters (log scale)")
        ax.set_ylabel("dev score x100 (mean ± std over seeds)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    b = result["budget"]
    fig.suptitle(title or f"{result['model']}: {b['train_size'] or 'all'} train examples, {b['epochs']} epoch(s), "
                 f"{len(b['seeds'])} seed(s), best of {b['lr_points']} lr(s) per method", fontsize=11)
    fig.tight_layout()
    return fig


def format_table(result: dict) -> str:
    """A Markdown table: one row per method, one column per task (mean ± std), the average, parameters, systems."""
    methods, tasks = result["methods"], result["tasks"]
    cell = {(r["task"], r["method"]): r for r in result["rows"]}
    avg = {r["method"]: r for r in result["average"]}
    metric = {t: next(r["metric"] for r in result["rows"] if r["task"] == t) for t in tasks}
    head = ["method", "trainable", "%", *[f"{t} ({metric[t]})" for t in tasks]]
    head += ["avg"] if avg else []
    head += ["train ex/s", "peak MB", "latency ms"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in methods:
        first = next(r for r in result["rows"] if r["method"] == m)
        row = [m, f"{first['trainable']:,}", f"{first['trainable_percent']:.3g}"]
        for t in tasks:
            r = cell[(t, m)]
            row.append(f"{100 * r['mean']:.1f} ± {100 * r['std']:.1f}" + ("*" if r["lr_at_grid_edge"] else ""))
        if avg:
            row.append(f"{100 * avg[m]['mean']:.1f}" if m in avg else "")
        pr = result["probes"].get(m, {})
        row += [f"{pr['train_examples_per_second']:.1f}" if pr else "", f"{pr['peak_memory_mb']:.0f}" if pr else "",
                f"{pr['latency_ms']:.0f}" if pr else ""]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


# -- published reference numbers ---------------------------------------------------------------------------------------

_LORA_TABLE = ("Hu et al. 2021, LoRA (arXiv:2106.09685), Table 2, as transcribed in shared/docs/paper-notes.md section "
               "4.2; that the tiny-attention paper reuses exactly these rows is NOT verified")
GLUE_COLUMNS = ("mnli", "sst2", "mrpc", "cola", "qnli", "qqp", "rte", "stsb")
_ROWS = [
    ("FT (full fine-tuning)*", "roberta-large", "355.0M", (90.2, 96.4, 90.9, 68.0, 94.7, 92.2, 86.6, 92.4), 88.9),
    ("LoRA", "roberta-large", "0.8M", (90.6, 96.2, 90.9, 68.2, 94.9, 91.6, 87.4, 92.6), 89.0),
    ("Adapter-P (Pfeiffer)†", "roberta-large", "3.0M", (90.2, 96.1, 90.2, 68.3, 94.8, 91.9, 83.8, 92.1), 88.4),
    ("Adapter-P (Pfeiffer)†", "roberta-large", "0.8M", (90.5, 96.6, 89.7, 67.8, 94.8, 91.7, 80.1, 91.9), 87.9),
    ("Adapter-H (Houlsby)†", "roberta-large", "6.0M", (89.9, 96.2, 88.7, 66.5, 94.7, 92.1, 83.4, 91.0), 87.8),
    ("Adapter-H (Houlsby)†", "roberta-large", "0.8M", (90.3, 96.3, 87.7, 66.3, 94.7, 91.5, 72.9, 91.5), 86.4),
    ("LoRA†", "roberta-large", "0.8M", (90.6, 96.2, 90.2, 68.2, 94.8, 91.6, 85.2, 92.3), 88.6),
    ("BitFit", "roberta-base", "0.1M", (84.7, 93.7, 92.7, 62.0, 91.8, 84.0, 81.5, 90.8), 85.2),
]
REFERENCE_ROWS = [
    {"system": system, "backbone": backbone, "trainable": params, "scores": dict(zip(GLUE_COLUMNS, scores)),
     "average": average, "split": "dev", "source": _LORA_TABLE,
     "note": ("* copied by the LoRA paper from prior work; † the LoRA paper's re-runs in Houlsby et al.'s setup "
              "(sequence length 128, one batch size, MRPC/RTE/STS-B not started from MNLI); MNLI = matched and "
              "mismatched accuracy, MRPC and QQP accuracy, CoLA Matthews, STS-B Pearson")}
    for system, backbone, params, scores, average in _ROWS
]
REFERENCE_TINY_ATTENTION = {
    "system": "Tiny attention (the paper)", "trainable_percent": 0.05, "glue": "not retrieved",
    "source": "Zhao, Tan, Mei 2022 (arXiv:2211.01979), abstract: 0.05% of the parameters; beats full fine-tuning and "
              "the other PEFT methods on GLUE. Its GLUE table could not be obtained offline (paper notes 4.2).",
}


# -- GLUE sweep --------------------------------------------------------------------------------------------------------------

def glue_table(result: dict, method_label: str) -> dict:
    """The GLUE table of one method: every official metric per task, each task's score (the mean of its metrics, as
    the GLUE benchmark scores MRPC, STS-B and QQP) and the average over tasks, with and without WNLI."""
    rows = []
    for r in (x for x in result["rows"] if x["method"] == method_label):
        metrics = {k.split("/")[-1] if "/" in k else k: v for k, v in r["all_metrics"].items()}
        if any("/" in k for k in r["all_metrics"]):  # MNLI: matched and mismatched accuracy
            metrics = dict(r["all_metrics"])
        score = sum(metrics.values()) / len(metrics)
        rows.append({"task": r["task"], "metrics": metrics, "score": score, "selected_on": r["metric"],
                     "std_of_selected": r["std"], "best_lr": r["best_lr"], "seeds": r["seeds"]})
    scores = [r["score"] for r in rows]
    no_wnli = [r["score"] for r in rows if r["task"] != "wnli"]
    return {"method": method_label, "rows": rows,
            "average": sum(scores) / len(scores) if scores else float("nan"),
            "average_without_wnli": sum(no_wnli) / len(no_wnli) if no_wnli else float("nan")}


def format_glue_table(table: dict) -> str:
    head = "| task | metrics (x100) | task score | lr | seeds |"
    lines = [head, "|---|---|---|---|---|"]
    for r in table["rows"]:
        metrics = ", ".join(f"{k} {100 * v:.1f}" for k, v in r["metrics"].items())
        lines.append(f"| {r['task']} | {metrics} | {100 * r['score']:.1f} | {r['best_lr']:g} | {r['seeds']} |")
    lines.append(f"| **average** | | **{100 * table['average']:.1f}** | | |")
    if any(r["task"] == "wnli" for r in table["rows"]):
        lines.append(f"| average without WNLI | | {100 * table['average_without_wnli']:.1f} | | |")
    return "\n".join(lines)


def glue_sweep(method: str = "tiny_attention", budget: "str | Budget" = "cpu", tasks=None, model_name: str = "minilm",
               data_dir=None, cache_dir=DEFAULT_CACHE, output=None, log=print) -> dict:
    """One method over every GLUE task available (shares the comparison's cache); writes output.{json,csv,md}."""
    spec = parse_method(method)
    tasks = tasks or available_tasks(data_dir)
    from .data import GLUE_TASKS

    skipped = [t for t in GLUE_TASKS if t not in tasks]
    if skipped:
        log(f"skipping {', '.join(skipped)}: no training or dev split in the data")
    result = compare(tasks, [spec], budget, model_name, data_dir, cache_dir, output=None, probes=False, log=log)
    table = glue_table(result, spec.label)
    document = {**table, "skipped_tasks": skipped, "budget": result["budget"], "model": model_name,
                "versions": result["versions"], "table_markdown": format_glue_table(table)}
    if output is not None:
        from .jobs import write_json

        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        write_json(output.with_suffix(".json"), document)
        note = (f"\nNot run: {', '.join(skipped)} (no training or dev split in the data).\n" if skipped else "")
        output.with_suffix(".md").write_text(document["table_markdown"] + "\n" + note)
        with open(output.with_suffix(".csv"), "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["task", "metric", "value", "task_score", "best_lr", "seeds"])
            for r in table["rows"]:
                for k, v in r["metrics"].items():
                    writer.writerow([r["task"], k, f"{v:.6g}", f"{r['score']:.6g}", r["best_lr"], r["seeds"]])
            writer.writerow(["average", "", "", f"{table['average']:.6g}", "", ""])
    return document


# -- command line ----------------------------------------------------------------------------------------------------------

def _add_budget_args(p) -> None:
    g = p.add_argument_group("budget (a preset, then overrides)")
    g.add_argument("--budget", default="cpu", choices=list(BUDGETS), help="preset: smoke | cpu | full")
    g.add_argument("--train-size", type=int, default=None, help="training examples per task (0 = all)")
    g.add_argument("--eval-size", type=int, default=None, help="dev examples per task (0 = all)")
    g.add_argument("--epochs", type=int, default=None)
    g.add_argument("--batch-size", type=int, default=None)
    g.add_argument("--max-length", type=int, default=None)
    g.add_argument("--evals-per-epoch", type=int, default=None)
    g.add_argument("--seeds", type=int, nargs="+", default=None)
    g.add_argument("--lr-points", type=int, choices=[1, 2, 3], default=None,
                   help="points of each method's lr grid: 1 middle, 2 middle+high, 3 all")
    p.add_argument("--model", default="minilm", help="HF encoder name or path; 'minilm' is the embedded one")
    p.add_argument("--data-dir", default=None, help="folder of the local GLUE mirror (default: $TINYATTN_DATA)")
    p.add_argument("--cache", default=str(DEFAULT_CACHE), help="run cache folder (reruns train only what is new)")
    p.add_argument("--output", required=True, help="path prefix of the outputs: PREFIX.json, .csv, .png/.md")


def _budget_from(args) -> Budget:
    changes = {k: getattr(args, k) for k in ("epochs", "batch_size", "max_length", "evals_per_epoch", "lr_points")}
    if args.seeds:
        changes["seeds"] = tuple(args.seeds)
    budget = get_budget(args.budget, **changes)
    for name in ("train_size", "eval_size"):
        value = getattr(args, name)
        if value is not None:
            budget = replace(budget, **{name: value or None})
    return budget


def add_parsers(sub) -> None:
    """The `compare` and `glue` subcommands of tinyattn-lab (cli.py calls this)."""
    from argparse import ArgumentDefaultsHelpFormatter as _Formatter

    from .methods import METHODS

    p = sub.add_parser("compare", help="train several methods fairly on GLUE tasks and plot the frontier",
                       description=__doc__.split("\n\n")[0], formatter_class=_Formatter)
    p.add_argument("--task", "--tasks", dest="tasks", nargs="+", required=True, help="GLUE task(s)")
    p.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS),
                   help=f"method[:key=value,...]; known: {', '.join(METHODS)}")
    p.add_argument("--lr", action="append", default=[], metavar="METHOD=LR,LR",
                   help="override a method's learning rates, e.g. --lr lora=5e-4,1e-3")
    p.add_argument("--no-probe", action="store_true", help="skip the systems probe (memory, latency, examples/s)")
    _add_budget_args(p)
    g = sub.add_parser("glue", help="one method over every GLUE task available: the GLUE table and average",
                       formatter_class=_Formatter)
    g.add_argument("--method", default="tiny_attention", help="method[:key=value,...]")
    g.add_argument("--task", "--tasks", dest="tasks", nargs="+", default=None, help="default: every task available")
    _add_budget_args(g)


def _with_lrs(specs: list[MethodSpec], overrides: list[str]) -> list[MethodSpec]:
    table = {}
    for item in overrides:
        name, sep, values = item.partition("=")
        if not sep:
            raise ValueError(f"--lr takes METHOD=LR,LR; got {item!r}.")
        table[name] = tuple(float(v) for v in values.split(","))
    unknown = set(table) - {s.label for s in specs} - {s.name for s in specs}
    if unknown:
        raise ValueError(f"--lr names method(s) not in --methods: {sorted(unknown)}.")
    return [replace(s, lrs=table.get(s.label, table.get(s.name))) for s in specs]


def run_cli(args) -> int:
    budget = _budget_from(args)
    if args.command == "compare":
        specs = _with_lrs([parse_method(m) for m in args.methods], args.lr)
        result = compare(args.tasks, specs, budget, args.model, args.data_dir, args.cache, args.output,
                         probes=not args.no_probe)
        print(format_table(result))
        print(f"wrote {args.output}.json, .csv, .png")
    else:
        document = glue_sweep(args.method, budget, args.tasks, args.model, args.data_dir, args.cache, args.output)
        print(document["table_markdown"])
        print(f"wrote {args.output}.json, .csv, .md")
    return 0


def _probe_main(request: str) -> None:
    data = json.loads(request)
    spec = MethodSpec(data["name"], data["hp"])
    print(json.dumps(probe_in_process(spec, data["model"], ProbeShape(**data["shape"]))))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--probe":
        _probe_main(sys.argv[2])
    else:
        print("usage: tinyattn-lab compare ... | tinyattn-lab glue ...", file=sys.stderr)
        sys.exit(2)
