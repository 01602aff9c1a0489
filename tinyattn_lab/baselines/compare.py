"""Fair comparisons: every method, the same data, steps and seeds, a learning-rate sweep each, results cached.

Paper Figure 1 and abstract: tiny attention beats the other parameter-efficient methods and full fine-tuning with a
fraction of their parameters. `compare` checks that on any backbone and GLUE tasks; `glue_sweep` runs one method over
every GLUE task available. On the command line (compare_cli.py):

    tinyattn-lab compare --task sst2 rte --methods tiny_attention lora houlsby bitfit --budget cpu --output out/cmp
    tinyattn-lab glue --method tiny_attention --budget cpu --output out/glue

Protocol. For each task and method, every learning rate of the method's own grid (methods.py; methods differ by 10x
and more in their best rate) is trained with every seed, through train.fit, on the same training subset, in the same
data order per seed, for the same number of steps. A run's score is its best dev evaluation (as the paper reports);
a method's score is that of the learning rate with the best mean over seeds, reported as mean and spread over seeds.
Selecting the rate on the dev set that is also reported is optimistic, and equally so for every method.

This module trains the runs (`train_run`, each cached under its `run_key`) and summarises them. Budgets, method specs
and cache keys are in specs.py, the systems probe in probes.py, the tables, figure and files in
report.py. Notebook: notebooks/07_baselines_and_frontier.ipynb.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import shutil
import time
from dataclasses import asdict
from pathlib import Path

from .report import format_glue_table, glue_table, write_glue_outputs, write_outputs
from .specs import DEFAULT_CACHE, DEFAULT_METHODS, Budget, MethodSpec, get_budget, parse_method, run_key
from .probes import ProbeShape, probe


# -- one run -----------------------------------------------------------------------------------------------------------

_DATA: dict = {}


def _task_data(task, model_name: str, data_dir, budget: Budget):
    from ..data.glue import make_collator
    from ..training.jobs import glue_splits

    key = (task, model_name, str(data_dir), budget.train_size, budget.eval_size, budget.max_length, budget.data_seed)
    if key not in _DATA:
        from transformers import AutoTokenizer

        from ..backbones import resolve_model

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

    from ..backbones import load_backbone
    from ..data.glue import get_task
    from ..saving import write_json
    from ..training.loop import TrainArgs, fit

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
                     schedule=budget.schedule, evals_per_epoch=budget.evals_per_epoch, seed=seed, progress=False,
                     group_by_length=budget.group_by_length)
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
    from ..training.loop import main_metric

    value = main_metric(task, best)
    return float("nan") if value == -math.inf else value


# -- the comparison -------------------------------------------------------------------------------------------------------

def available_tasks(data_dir=None) -> list[str]:
    """GLUE tasks whose training and dev splits are both present (in the mirror, or all of them on the hub)."""
    from ..data.glue import GLUE_TASKS, resolve_data_dir

    root = resolve_data_dir(data_dir)
    if root is None:
        return list(GLUE_TASKS)
    return [name for name, task in GLUE_TASKS.items()
            if all((root / "glue" / name / f"{s}.parquet").is_file() for s in ("train", *task.eval_splits))]


def compare(tasks, methods=DEFAULT_METHODS, budget: "str | Budget" = "cpu", model_name: str = "minilm",
            data_dir=None, cache_dir=DEFAULT_CACHE, output=None, probes: bool = True,
            probe_shape: ProbeShape = ProbeShape(), probe_subprocess: bool = True, log=print) -> dict:
    """Train every (task, method, lr, seed) not yet cached, then summarise; writes output.{json,csv,png} if given."""
    from ..data.glue import get_task

    tasks = [get_task(t).name for t in ([tasks] if isinstance(tasks, str) else tasks)]
    budgets = {task: get_budget(budget, task) for task in tasks}  # a preset may size the data per task
    budget = budgets[tasks[0]]  # seeds and sweep: the same for every task of a preset
    specs = [parse_method(m) for m in ([methods] if isinstance(methods, str) else methods)]
    if len({s.label for s in specs}) != len(specs):
        raise ValueError("The same method (with the same hyperparameters) is listed twice.")
    started = time.perf_counter()
    records = []
    for task in tasks:
        log(f"{task}:")
        for spec in specs:
            run = lambda lr, seed: train_run(task, spec, lr, seed, budgets[task], model_name, data_dir, cache_dir,
                                             log=log)
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
        "model": model_name, "tasks": tasks,
        "budget": asdict(budget) if len(set(budgets.values())) == 1 else {t: asdict(b) for t, b in budgets.items()},
        "methods": [s.label for s in specs],
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
                "lr_at_grid_edge": len(sweep) > 1 and (best_lr == max(sweep)
                                                       or (len(sweep) > 2 and best_lr == min(sweep))),
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


# -- GLUE sweep --------------------------------------------------------------------------------------------------------------

def glue_sweep(method: str = "tiny_attention", budget: "str | Budget" = "cpu", tasks=None, model_name: str = "minilm",
               data_dir=None, cache_dir=DEFAULT_CACHE, output=None, log=print) -> dict:
    """One method over every GLUE task available (shares the comparison's cache); writes output.{json,csv,md}."""
    spec = parse_method(method)
    tasks = tasks or available_tasks(data_dir)
    from ..data.glue import GLUE_TASKS

    skipped = [t for t in GLUE_TASKS if t not in tasks]
    if skipped:
        log(f"skipping {', '.join(skipped)}: no training or dev split in the data")
    result = compare(tasks, [spec], budget, model_name, data_dir, cache_dir, output=None, probes=False, log=log)
    table = glue_table(result, spec.label)
    document = {**table, "skipped_tasks": skipped, "budget": result["budget"], "model": model_name,
                "versions": result["versions"], "table_markdown": format_glue_table(table)}
    if output is not None:
        write_glue_outputs(document, output)
    return document
