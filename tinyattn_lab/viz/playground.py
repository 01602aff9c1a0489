"""Notebook 06's figure: the head-count sliders over precomputed results (paper section 2.2, heads as experts).

Tuning the head count post hoc (select_heads, average_heads) means no retraining inside a widget callback.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from .figures import shown_once, draw_map


def playground(results: dict, maps: dict, num_heads: int, head_dim: int, placement: str, layer: int):
    """Notebook 06's figure. Top: dev metric against the number of heads kept (select_heads, and the kept heads
    averaged), and the width x placement grid with the chosen cell boxed. Bottom: the example sentence's attention in
    `layer` for the `num_heads` kept heads, their average and the chosen grid adapter's heads.

    results: {"metric", "majority", "head_count": {"k", "keep", "average"}, "grid": [{"head_dim", "placement",
    "metric", "adapter_params"}, ...]}; maps: {"tokens", "keep": {k: map list}, "average": {k: map list},
    "grid": {(head_dim, placement): map list}} with map lists of (h, n, n) per layer."""
    hc, grid = results["head_count"], results["grid"]
    dims = sorted({g["head_dim"] for g in grid})
    places = list(dict.fromkeys(g["placement"] for g in grid))
    if (head_dim, placement) not in maps["grid"]:
        raise ValueError(f"No grid run with head_dim={head_dim}, placement={placement!r}; have {list(maps['grid'])}.")
    shown = [(f"kept head {j}", maps["keep"][num_heads][layer][j]) for j in range(num_heads)]
    shown.append((f"average of {num_heads}", maps["average"][num_heads][layer][0]))
    chosen = maps["grid"][(head_dim, placement)][layer]
    shown += [(f"e={head_dim} {placement}\nhead {j}", chosen[j]) for j in range(len(chosen))]
    fig = plt.figure(figsize=(max(12, 1.6 * len(shown)), 7), constrained_layout=True)
    rows = fig.add_gridspec(2, 1, height_ratios=[1.4, 1])
    a0, a1 = (fig.add_subplot(s) for s in rows[0].subgridspec(1, 2))
    a0.plot(hc["k"], hc["keep"], "o-", label="keep the first k heads (select_heads)")
    a0.plot(hc["k"], hc["average"], "s--", label="... then average them (average_heads)")
    a0.axvline(num_heads, color="gray", lw=6, alpha=0.25)
    a0.axhline(results["majority"], color="gray", ls=":", label="majority class")
    a0.set(xlabel="heads k", ylabel=f"dev {results['metric']}", title="post hoc head count (no retraining)")
    a0.legend(fontsize=8)
    table = np.full((len(dims), len(places)), np.nan)
    for g in grid:
        r, c = dims.index(g["head_dim"]), places.index(g["placement"])
        table[r, c] = g["metric"]
        a1.text(c, r, f"{g['metric']:.3f}\n{g['adapter_params']:,} p", ha="center", va="center", fontsize=8)
    a1.imshow(table, cmap="Greens", aspect="auto")
    a1.add_patch(Rectangle((places.index(placement) - 0.5, dims.index(head_dim) - 0.5), 1, 1, fill=False, lw=3,
                           ec="red"))
    a1.set_xticks(range(len(places)), places, fontsize=8)
    a1.set_yticks(range(len(dims)), dims)
    a1.set(ylabel="per-head width e", title=f"trained grid: dev {results['metric']} and adapter parameters")
    strip, vmax = rows[1].subgridspec(1, len(shown)), max(float(np.max(np.asarray(m))) for _, m in shown)
    for i, (label, m) in enumerate(shown):
        ax = fig.add_subplot(strip[i])
        draw_map(ax, m, maps["tokens"], vmax, x_labels=False, y_labels=i == 0)
        ax.set_title(label, fontsize=7)
    fig.suptitle(f"bottom: layer {layer}'s attention on one dev sentence (rows: queries, columns: keys; one colour "
                 "scale)")
    return shown_once(fig)
