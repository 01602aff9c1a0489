"""What a comparison reports: its files, table and figure, the GLUE table of one method, and the published numbers.

`write_outputs` writes a comparison (compare.compare) to PREFIX.json, .csv and .png; `format_table` is its Markdown
table and `plot_frontier` its figure (the paper's Figure 1: dev score against trainable parameters). `glue_table` and
`format_glue_table` turn one method's rows into the GLUE table and average, which `write_glue_outputs` writes for
compare.glue_sweep. `REFERENCE_ROWS` are published GLUE numbers to read beside them (not comparable: other backbones
and budgets).
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

# -- a comparison's files, table and figure ----------------------------------------------------------------------------

CSV_COLUMNS = ["task", "method", "family", "metric", "mean", "std", "seeds", "best_lr", "lr_at_grid_edge", "trainable",
               "trainable_percent", "train_examples_per_second", "probe_train_examples_per_second", "peak_memory_mb",
               "latency_ms", "train_examples", "steps"]


def write_outputs(result: dict, output) -> list[Path]:
    from ..saving import write_json

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


def plot_frontier(result: dict, title: str | None = None, trivial: dict | None = None):
    """Dev metric against trainable parameters (log scale), one panel per task plus the average: the paper's Figure 1
    on this backbone. `trivial` ({task: score x100}) draws each task's trivial baseline as a dashed line."""
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
        if trivial and name in trivial:  # what a method that learned nothing scores: the floor to read against
            ax.axhline(trivial[name], color="gray", ls="--", lw=1, label="trivial baseline")
            ax.legend(fontsize=7, loc="lower right")
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


# -- the GLUE table of one method --------------------------------------------------------------------------------------

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


def write_glue_outputs(document: dict, output) -> None:
    """A GLUE sweep (compare.glue_sweep) to PREFIX.json, .md (the table) and .csv (one row per task metric)."""
    from ..saving import write_json

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_json(output.with_suffix(".json"), document)
    skipped = document["skipped_tasks"]
    note = (f"\nNot run: {', '.join(skipped)} (no training or dev split in the data).\n" if skipped else "")
    output.with_suffix(".md").write_text(document["table_markdown"] + "\n" + note)
    with open(output.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["task", "metric", "value", "task_score", "best_lr", "seeds"])
        for r in document["rows"]:
            for k, v in r["metrics"].items():
                writer.writerow([r["task"], k, f"{v:.6g}", f"{r['score']:.6g}", r["best_lr"], r["seeds"]])
        writer.writerow(["average", "", "", f"{document['average']:.6g}", "", ""])
