"""Paired statistics for a comparison: does tiny attention win, lose or tie against another method, with numbers.

Paper Figure 1 and abstract claim that tiny attention matches or beats the other methods. Two methods trained at the
same seed see the same data subset and the same data order (compare.py), so their scores are paired by seed: the
per-seed differences d_i = score(tiny attention, seed i) - score(other, seed i) have mean m and standard deviation s,
and the 95% t interval is m +- t(0.975, n - 1) * s / sqrt(n). "wins" when the interval lies above 0, "loses" when
below, "tie" when it holds 0; with one seed there is no interval ("one seed"). Scores in percent.
Notebook: notebooks/07_baselines_and_frontier.ipynb.
"""

from __future__ import annotations

import math


def paired_difference(mine: list[float], other: list[float], confidence: float = 0.95) -> dict:
    """Mean of the paired differences mine[i] - other[i], its t interval and the verdict."""
    from scipy.stats import t

    if len(mine) != len(other):
        raise ValueError(f"Paired scores need the same seeds on both sides; got {len(mine)} and {len(other)}.")
    if not mine:
        raise ValueError("No paired scores to compare.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}.")
    d = [a - b for a, b in zip(mine, other)]
    n = len(d)
    mean = sum(d) / n
    if n == 1:
        return {"mean": mean, "sd": float("nan"), "n": 1, "low": float("nan"), "high": float("nan"),
                "confidence": confidence, "verdict": "one seed"}
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    half = t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
    low, high = mean - half, mean + half
    verdict = "wins" if low > 0 else "loses" if high < 0 else "tie"
    return {"mean": mean, "sd": sd, "n": n, "low": low, "high": high, "confidence": confidence, "verdict": verdict}


def paired_by_seed(mine: dict, other: dict, confidence: float = 0.95) -> dict:
    """paired_difference over the seeds both runs have ({seed: score} each); the seeds are recorded."""
    seeds = sorted(set(mine) & set(other))
    if not seeds:
        raise ValueError(f"No seed in common: {sorted(mine)} against {sorted(other)}.")
    return {**paired_difference([mine[s] for s in seeds], [other[s] for s in seeds], confidence), "seeds": seeds}


def learns(scores: list[float], trivial: float) -> bool:
    """The `medium` budget's rule (docs/baselines.md): every seed scores above the trivial baseline and the mean beats
    it by more than the seeds' spread (max - min). Needs two seeds or more."""
    if len(scores) < 2:
        raise ValueError(f"Whether a method learns needs two seeds or more; got {len(scores)}.")
    mean = sum(scores) / len(scores)
    return min(scores) > trivial and mean - trivial > max(scores) - min(scores)


def trivial_score(task, train_labels, dev_labels) -> float:
    """The task's trivial baseline in percent: the majority class from the training labels (the mean label for STS-B,
    whose constant prediction has no correlation: 0)."""
    from ..data.glue import get_task
    from ..data.metrics import majority_baseline

    task = get_task(task)
    value = majority_baseline(task, dev_labels, train_labels)[task.main_metric]
    return 0.0 if math.isnan(value) else 100 * value
