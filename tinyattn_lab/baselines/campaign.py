"""A campaign: many (task, method, lr, seed) runs in a pool of processes, resumable from the run cache.

Paper Figure 1 at a budget of one's choosing, on CPU cores or one GPU. The protocol is compare.py's first-seed sweep:
for each task and method every learning rate of its grid on the first seed, then the other seeds at the best of
those. `run_campaign` schedules that over `workers` processes (each trains one run at a time through
compare.train_run, so a run's cache file is the same as the comparison's); a killed campaign restarts where its cache
ends. `collect` reads what the cache holds, without training, and says what is missing, so partial results are
reported as partial. Pool size: `auto_workers` (by free GPU memory, or 1 on CPU). Notebook: 07_baselines_and_frontier.
"""

from __future__ import annotations

import json
import math
import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

from .specs import DEFAULT_CACHE, Budget, MethodSpec, get_budget, parse_method, run_key

GIB = 1024 ** 3


def cached_run(task: str, spec: MethodSpec, lr: float, seed: int, budget: Budget, model_name: str,
               cache_dir=DEFAULT_CACHE) -> dict | None:
    path = Path(cache_dir) / "runs" / f"{run_key(task, spec, lr, seed, budget, model_name)}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _score(record: dict) -> float:
    return -math.inf if math.isnan(record["best_main"]) else record["best_main"]


def collect(tasks, specs, budget, model_name: str = "minilm", cache_dir=DEFAULT_CACHE) -> tuple[list, list]:
    """(cached records that the protocol uses, missing (task, method label, lr or None, seed) runs)."""
    records, missing = [], []
    for task in tasks:
        b = get_budget(budget, task)
        for spec in specs:
            lrs = spec.learning_rates(b)
            first = {lr: cached_run(task, spec, lr, b.seeds[0], b, model_name, cache_dir) for lr in lrs}
            missing += [(task, spec.label, lr, b.seeds[0]) for lr, r in first.items() if r is None]
            if any(r is None for r in first.values()):
                missing += [(task, spec.label, None, seed) for seed in b.seeds[1:]]  # the rate is not chosen yet
                records += [r for r in first.values() if r is not None]
                continue
            best = max(first.values(), key=_score)["lr"]
            rest = {seed: cached_run(task, spec, best, seed, b, model_name, cache_dir) for seed in b.seeds[1:]}
            missing += [(task, spec.label, best, seed) for seed, r in rest.items() if r is None]
            records += list(first.values()) + [r for r in rest.values() if r is not None]
    return records, missing


def auto_workers(per_run_gib: float = 4.0, max_workers: int | None = None) -> int:
    """Processes to run at once: on a GPU as many as its free memory holds (a CPU core each), else 1."""
    import torch

    cores = max(1, (os.cpu_count() or 2) - 1)
    if not torch.cuda.is_available():
        return 1
    free, _ = torch.cuda.mem_get_info()
    found = max(1, min(cores, int(free / GIB // per_run_gib)))
    return min(found, max_workers) if max_workers else found


def _init_worker(threads: int) -> None:
    import torch

    os.environ["TQDM_DISABLE"] = "1"
    torch.set_num_threads(threads)


class _InlinePool:
    """workers=1: each run in this process, through the same scheduling (no start-up cost, data kept between runs)."""

    def __init__(self, threads: int):
        import torch

        torch.set_num_threads(threads)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *args) -> Future:
        future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as error:  # raised again by future.result(), as a pool would
            future.set_exception(error)
        return future


def _train(task, label_spec, lr, seed, budget, model_name, data_dir, cache_dir) -> dict:
    from .compare import train_run

    return train_run(task, parse_method(label_spec), lr, seed, budget, model_name, data_dir, cache_dir,
                     log=lambda line: None)


def run_campaign(tasks, methods, budget="medium", model_name: str = "minilm", data_dir=None, cache_dir=DEFAULT_CACHE,
                 workers: int = 1, threads: int = 1, time_limit: float | None = None, log=print) -> list[tuple]:
    """Train every run of the protocol not yet cached, `workers` at a time; returns the runs still missing.

    No new run starts after `time_limit` seconds; those running finish (each is cached when it ends).
    """
    import multiprocessing

    specs = [parse_method(m) for m in methods]
    spec_of = {s.label: s for s in specs}
    budgets = {task: get_budget(budget, task) for task in tasks}
    started = time.perf_counter()
    queue = [(t, s.label, lr, budgets[t].seeds[0]) for t in tasks for s in specs
             for lr in s.learning_rates(budgets[t])]
    seen = set(queue)  # every run is queued once, though each run of a sweep may be the one that completes it

    def follow(run):
        for nxt in _next_runs(run, spec_of[run[1]], budgets[run[0]], model_name, cache_dir):
            if nxt not in seen:
                seen.add(nxt)
                queue.insert(0, nxt)  # finish a method's seeds before starting new sweeps: tasks complete early
    pending: dict = {}  # future -> run
    context = multiprocessing.get_context("spawn")  # CUDA cannot be used in a forked child
    pool = _InlinePool(threads) if workers == 1 else ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(threads,))
    with pool:
        while queue or pending:
            out_of_time = time_limit is not None and time.perf_counter() - started > time_limit
            while queue and len(pending) < workers and not out_of_time:
                task, label, lr, seed = run = queue.pop(0)
                if cached_run(task, spec_of[label], lr, seed, budgets[task], model_name, cache_dir) is None:
                    spec = spec_of[label]
                    pending[pool.submit(_train, task, _spec_text(spec), lr, seed, budgets[task], model_name,
                                        data_dir, cache_dir)] = run
                else:
                    follow(run)
            if out_of_time:
                queue.clear()
            if not pending:
                continue
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                task, label, lr, seed = run = pending.pop(future)
                record = future.result()
                log(f"  {task} {label} lr={lr:g} seed={seed}: {record['main_metric']} {record['best_main']:.4f} "
                    f"({record['wall_seconds']:.0f}s) [{(time.perf_counter() - started) / 60:.1f} min]")
                follow(run)
    return collect(tasks, specs, budget, model_name, cache_dir)[1]


def _spec_text(spec: MethodSpec) -> str:
    """The spec as parse_method reads it (a worker process rebuilds it from text)."""
    return spec.name + ("" if not spec.hp else ":" + ",".join(f"{k}={json.dumps(v)}" for k, v in spec.hp.items()))


def _next_runs(run, spec: MethodSpec, budget: Budget, model_name, cache_dir) -> list[tuple]:
    """After a first-seed run: once every rate of its sweep is cached, the other seeds at the best rate."""
    task, label, lr, seed = run
    if seed != budget.seeds[0]:
        return []
    first = [cached_run(task, spec, r, seed, budget, model_name, cache_dir) for r in spec.learning_rates(budget)]
    if any(r is None for r in first):
        return []
    best = max(first, key=_score)["lr"]
    return [(task, label, best, s) for s in budget.seeds[1:]]
