"""What a campaign reports: per task the trivial baseline, per method mean +- sd over seeds and the paired difference
to tiny attention with its 95% interval (stats.py), all in percent; JSON, CSV, Markdown and the frontier figure.

Paper Figure 1 and abstract (does tiny attention win?). A campaign may be partial: the document lists the runs still
missing and marks the methods whose seeds are incomplete, so a table from a stopped campaign says what it is.
Notebook: 07_baselines_and_frontier.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .stats import learns, paired_by_seed, trivial_score

CSV_COLUMNS = ["task", "method", "family", "metric", "mean", "sd", "seeds", "complete", "best_lr", "trainable",
               "trainable_percent", "vs_reference_mean", "vs_reference_low", "vs_reference_high", "verdict"]


def trivial_baselines(tasks, budget, model_name: str = "minilm", data_dir=None) -> dict[str, float]:
    """Per task the trivial baseline (percent) on the dev subset the campaign scores; majority from its train subset."""
    from .compare import _task_data
    from .specs import get_budget

    found = {}
    for task in tasks:
        train, evals, _ = _task_data(task, model_name, data_dir, get_budget(budget, task))
        found[task] = trivial_score(task, train["labels"], next(iter(evals.values()))["labels"])
    return found


def method_rows(task: str, records: list[dict], labels: list[str], seeds: tuple, reference: str) -> list[dict]:
    """One row per method with runs: the rate chosen on the first seed, scores per seed at it, the paired comparison."""
    from .campaign import _score
    from .compare import _mean_std

    rows = []
    for label in labels:
        mine = [r for r in records if r["task"] == task and r["label"] == label]
        first = [r for r in mine if r["seed"] == seeds[0]]
        if not first:
            continue
        best = max(first, key=_score)
        at_best = {r["seed"]: 100 * r["best_main"] for r in mine if r["lr"] == best["lr"]}
        mean, sd = _mean_std(list(at_best.values()))
        sd = sd if len(at_best) > 1 else float("nan")  # one seed: no spread, not a spread of 0
        p = best["parameters"]
        rows.append({"task": task, "method": label, "family": best["family"], "metric": best["main_metric"],
                     "mean": mean, "sd": sd, "scores": at_best, "seeds": len(at_best),
                     "complete": sorted(at_best) == sorted(seeds), "best_lr": best["lr"],
                     "lr_sweep": {f"{r['lr']:g}": 100 * r["best_main"] for r in sorted(first, key=lambda r: r["lr"])},
                     "trainable": p["trainable"], "total": p["total"], "trainable_percent": p["trainable_percent"],
                     "train_examples": best["train_examples"], "steps": best["steps"],
                     "wall_seconds": sum(r["wall_seconds"] for r in mine)})
    ref = next((r for r in rows if r["method"] == reference), None)
    for row in rows:
        if ref is not None and row is not ref:
            row["vs_reference"] = paired_by_seed(ref["scores"], row["scores"])
    return rows


def campaign_document(records, missing, tasks, labels, budget, trivial: dict, reference: str = "tiny_attention",
                      model_name: str = "minilm") -> dict:
    """The campaign's JSON: per task its trivial baseline and method rows; what is missing; `rows` for the figure."""
    from dataclasses import asdict

    from ..data.glue import get_task
    from .specs import get_budget

    budgets = {t: get_budget(budget, t) for t in tasks}
    per_task, rows = {}, []
    for task in tasks:
        mine = method_rows(task, records, labels, budgets[task].seeds, reference)
        for row in mine:  # the budget's rule, on the scores at the chosen rate
            row["learns"] = learns(list(row["scores"].values()), trivial[task]) if row["seeds"] > 1 else None
        rows += mine
        best = max((r["mean"] for r in mine), default=float("nan"))
        full = [r["learns"] for r in mine if r["family"] == "full"]
        per_task[task] = {"metric": get_task(task).main_metric, "trivial": trivial[task], "best": best,
                          "best_minus_trivial": best - trivial[task],
                          "budget_learns": bool(full and full[0]) and any(r["learns"] for r in mine
                                                                           if r["family"] != "full"),
                          "budget": asdict(budgets[task]), "methods": {r["method"]: r for r in mine}}
    figure_rows = [{**r, "mean": r["mean"] / 100, "std": r["sd"] / 100} for r in rows]  # plot_frontier's units
    return {"model": model_name, "budget_name": budget if isinstance(budget, str) else None,
            "budget": {t: asdict(b) for t, b in budgets.items()}, "reference": reference,
            "units": "percent (accuracy, F1, Matthews and Pearson correlation x 100)",
            "paired_statistic": "per-seed paired difference reference - method, mean and 95% t interval "
                                "(t(0.975, n-1) * sd / sqrt(n)); wins / loses: the interval excludes 0",
            "complete": not missing, "missing_runs": [list(m) for m in missing], "tasks": tasks, "methods": labels,
            "per_task": per_task, "rows": figure_rows, "average": []}


def format_campaign(document: dict) -> str:
    """Markdown: one table per task, each method's mean +- sd, seeds, parameters, and reference - method [interval]."""
    ref = document["reference"]
    lines = []
    for task, block in document["per_task"].items():
        learned = ("full fine-tuning and a parameter-efficient method learn" if block["budget_learns"] else
                   "not yet shown that full fine-tuning and a parameter-efficient method learn")
        lines += [f"### {task} ({block['metric']}; trivial baseline {block['trivial']:.1f}; {learned})", "",
                  f"| method | trainable | score | seeds | lr | learns | {ref} - method [95% CI] | verdict |",
                  "|---|---|---|---|---|---|---|---|"]
        for label, r in block["methods"].items():
            pair = r.get("vs_reference")
            diff = "reference" if label == ref else "-" if pair is None else f"{pair['mean']:+.1f}" + (
                f" [{pair['low']:+.1f}, {pair['high']:+.1f}]" if pair["n"] > 1 else "")  # one seed: no interval
            score = f"{r['mean']:.1f}" + (f" ± {r['sd']:.1f}" if r["seeds"] > 1 else "")
            learned = {True: "yes", False: "no", None: "-"}[r["learns"]]
            lines.append(f"| {label} | {r['trainable']:,} | {score} | {r['seeds']}"
                         f"{'' if r['complete'] else ' (partial)'} | {r['best_lr']:g} | {learned} | {diff} | "
                         f"{'' if pair is None else pair['verdict']} |")
        lines.append("")
    if document["missing_runs"]:
        lines.append(f"Partial: {len(document['missing_runs'])} runs of the protocol are not done yet.")
    return "\n".join(lines) + "\n"


def write_campaign(document: dict, output) -> list[Path]:
    """output.json, .csv, .md and (with matplotlib) .png, the frontier figure."""
    from ..saving import write_json
    from .report import plot_frontier

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    paths = [output.with_suffix(s) for s in (".json", ".csv", ".md", ".png")]
    write_json(paths[0], document)
    with open(paths[1], "w", newline="") as f:
        writer = csv.DictWriter(f, CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for block in document["per_task"].values():
            for r in block["methods"].values():
                pair = r.get("vs_reference") or {}
                writer.writerow({**r, "vs_reference_mean": pair.get("mean"), "vs_reference_low": pair.get("low"),
                                 "vs_reference_high": pair.get("high"), "verdict": pair.get("verdict")})
    paths[2].write_text(format_campaign(document))
    if not document["rows"]:
        return paths[:3]
    try:
        fig = plot_frontier(document, title=f"{document['model']}: budget {document['budget_name'] or '(custom)'}, "
                                           "dev score x100, mean ± sd over seeds",
                            trivial={task: block["trivial"] for task, block in document["per_task"].items()})
    except ImportError:
        return paths[:3]
    fig.savefig(paths[3], dpi=120, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return paths
