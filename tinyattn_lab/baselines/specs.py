"""What a comparison is made of, and the names of its cached runs: budgets, method specs and run keys.

A `Budget` is what every method gets (data, steps, seeds, learning-rate points); the presets are in `BUDGETS`. A
`MethodSpec` is a method and its hyperparameters, written "lora", "lora:r=16" or "tiny_attention:num_heads=4" on the
command line (`parse_method`). `run_key` names one run of the comparison (compare.py) in its cache.

Cache: one JSON per run under cache_dir/runs, named by a hash of (task, method, hyperparameters, lr, seed, budget,
data sizes, model); probes (probes.py) under cache_dir/probes. Rerunning or extending a comparison trains only what is
new.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
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
    group_by_length: bool = True  # training.batching: shuffled batches of similar length, sorted dev sets

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
                  seeds=(0, 1), lr_points=2, sweep="first-seed", group_by_length=False),  # as it was measured
    # a GPU: whole training sets, three seeds, the full grid
    "full": Budget(train_size=None, eval_size=None, epochs=3, batch_size=32, max_length=128, evals_per_epoch=2,
                   seeds=(0, 1, 2), lr_points=3),
    # one H200-class GPU in about 10 minutes (benchmarks/compare_gpu.py): whole training sets, 2 epochs, the three
    # rates of each grid on seed 0, then seeds 1 and 2 at the best
    "gpu-full": Budget(train_size=None, eval_size=None, epochs=2, batch_size=32, max_length=128, evals_per_epoch=2,
                       seeds=(0, 1, 2), lr_points=3, sweep="first-seed"),
}

# Budgets whose data size and epochs depend on the task. "medium": per task the smallest training set x epochs at
# which full fine-tuning and a parameter-efficient method beat the trivial baseline by more than their seed spread on
# the embedded MiniLM, fixed by pilot runs (benchmarks/compare_medium.py --pilot; the evidence in docs/baselines.md).
_MEDIUM = Budget(train_size=None, eval_size=None, epochs=3, batch_size=16, max_length=128, evals_per_epoch=1,
                 seeds=(0, 1, 2), lr_points=2, sweep="first-seed")
TASK_BUDGETS = {"medium": {
    "sst2": replace(_MEDIUM, train_size=1000, epochs=2, max_length=64),
    # all 8,551 sentences (2,000 x 2 learned nothing), all three rates: the upper two stall tiny attention at MCC 0
    "cola": replace(_MEDIUM, train_size=8551, epochs=3, max_length=64, lr_points=3),
    "stsb": replace(_MEDIUM, train_size=1000, epochs=3),
    "mrpc": replace(_MEDIUM, train_size=2000, epochs=3),
    # all 2,490 examples, all three rates: as on CoLA, the upper two leave tiny attention at the majority class
    "rte": replace(_MEDIUM, epochs=3, lr_points=3),
}}


def get_budget(budget: "str | Budget | dict", task: str | None = None, **changes) -> Budget:
    """A Budget from a preset name (of BUDGETS, or of TASK_BUDGETS with its task), a dict or a Budget."""
    if isinstance(budget, Budget):
        base = budget
    elif isinstance(budget, dict):
        base = Budget(**budget)
    elif budget in BUDGETS:
        base = BUDGETS[budget]
    elif budget in TASK_BUDGETS:
        if task not in TASK_BUDGETS[budget]:
            raise ValueError(f"Budget {budget!r} is set per task, for {', '.join(TASK_BUDGETS[budget])}; "
                             f"got task {task!r}.")
        base = TASK_BUDGETS[budget][task]
    else:
        raise ValueError(f"Unknown budget {budget!r}; presets: {', '.join([*BUDGETS, *TASK_BUDGETS])} "
                         "(or pass a Budget).")
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


# -- cache keys --------------------------------------------------------------------------------------------------------

def cache_hash(document: dict) -> str:
    """The cache file name of a JSON-able document: a short SHA-256 of it, keys sorted."""
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()[:20]


def run_key(task: str, spec: MethodSpec, lr: float, seed: int, budget: Budget, model_name: str) -> str:
    from ..data.glue import get_task

    b = asdict(budget)
    for name in ("seeds", "lr_points", "sweep"):  # a run does not depend on the other seeds or rates of its sweep
        b.pop(name)
    if not b["group_by_length"]:  # the keys of runs made before the option existed stay what they were
        b.pop("group_by_length")
    key = {"v": CACHE_VERSION, "task": task, "method": spec.name, "hp": spec.resolved_hp(), "lr": lr, "seed": seed,
           "budget": b, "model": model_name}
    if spec.method().version != 1:  # so that the keys of methods at version 1 stay what they were
        key["method_version"] = spec.method().version
    if get_task(task).is_regression:  # runs from before the head's bias started at the label mean are not reused
        key["head_bias"] = "label mean"
    return cache_hash(key)
