"""Matplotlib figures of attention maps and results; each returns a closed Figure (shown once as a cell's value).

Notebooks 04 (heatmaps, rank 1), 05 (gap against spread, bars, logit scatter) and 07 (metric against parameters).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from .maps import rank1_factors


def shown_once(fig):
    plt.close(fig)  # the notebook displays the returned Figure; an open pyplot figure would show a second time
    return fig


def draw_map(ax, probs, tokens, vmax=1.0, x_labels=True, y_labels=True):
    """One attention map (queries in rows, keys in columns) with optional token labels."""
    image = ax.imshow(np.asarray(probs), vmin=0, vmax=vmax, cmap="viridis")
    ax.set_xticks(range(len(tokens)), tokens if x_labels else [], rotation=90, fontsize=6)
    ax.set_yticks(range(len(tokens)), tokens if y_labels else [], fontsize=6)
    return image


def attention_heatmaps(attention, tokens, layers=None, heads=None, head_labels=None, title=None):
    """Grid of attention maps, one row per layer and one column per head, for one example in bertviz's format
    (or a list of (h, n, n)). Rows are queries, columns keys; token labels on the outer axes; one colour scale, from 0
    to the largest probability shown, for all maps."""
    attention = [torch.as_tensor(a).reshape(-1, *a.shape[-2:]) for a in attention]
    layers = list(range(len(attention))) if layers is None else list(layers)
    heads = list(range(attention[0].shape[0])) if heads is None else list(heads)
    size = min(3.2, max(1.7, 0.11 * len(tokens)))
    vmax = max(float(attention[layer][head].max()) for layer in layers for head in heads)  # one shared colour scale
    fig, axes = plt.subplots(len(layers), len(heads), figsize=(size * len(heads) + 1.5, size * len(layers) + 0.6),
                             squeeze=False, constrained_layout=True)
    for r, layer in enumerate(layers):
        for c, head in enumerate(heads):
            ax = axes[r, c]
            image = draw_map(ax, attention[layer][head], tokens, vmax, r == len(layers) - 1, c == 0)
            if r == 0:
                ax.set_title(head_labels[head] if head_labels else f"head {head}", fontsize=9)
            if c == 0:
                ax.set_ylabel(f"layer {layer}\nquery", fontsize=9)
    fig.colorbar(image, ax=axes, shrink=0.6, label="attention probability")
    fig.suptitle(title or "attention per layer (rows) and head (columns); keys on the x axis")
    return shown_once(fig)


def rank1_figure(probs, tokens, backbone_probs=None, title=None):
    """Why one width-1 head looks the way it does: its map, the key scores k_j and query scales q_i read back from it
    (rank1_factors), and the singular values of the centred log-map, next to a backbone head's if given."""
    q, k, s = rank1_factors(probs)
    fig, ax = plt.subplots(1, 4, figsize=(17, 4.2), gridspec_kw={"width_ratios": [1.1, 1.4, 1.4, 1]},
                           constrained_layout=True)
    x = np.arange(len(tokens))
    draw_map(ax[0], probs, tokens, vmax=float(np.max(np.asarray(probs))))
    ax[0].set_title("attention map (query rows)")
    for a, values, name in ((ax[1], k, "key score $k_j$ (same ranking for every query)"),
                            (ax[2], q, "query scale $q_i$ (sign: direction, size: sharpness)")):
        a.bar(x, values, color=np.where(values >= 0, "tab:blue", "tab:red"))
        a.set_xticks(x, tokens, rotation=90, fontsize=6)
        a.set_title(name, fontsize=10)
        a.axhline(0, color="black", lw=0.5)
    heads = {"tiny-attention head": s} | ({} if backbone_probs is None else
                                          {"backbone head": rank1_factors(backbone_probs)[2]})
    for i, (label, values) in enumerate(heads.items()):
        ax[3].semilogy(np.arange(1, min(8, len(values)) + 1), values[:8] / values[0], "os"[i] + "-", label=label)
    ax[3].set(title="singular values of centred log-map", xlabel="index", ylabel="relative to the largest")
    ax[3].legend(fontsize=8)
    fig.suptitle(title or "a width-1 head ranks the keys once, for every query")
    return shown_once(fig)


def gap_vs_spread(spreads, gaps, marked=None, title=None):
    """Relative logit gap between an adapter's mixture of heads and its averaged head, against how far the experts
    are apart (log-log, zero spread left out), with a slope-2 guide; `marked` = {label: (spread, gap)} as stars."""
    spreads, gaps = np.asarray(spreads, float), np.asarray(gaps, float)
    ok = (spreads > 0) & (gaps > 0)
    fig, ax = plt.subplots(figsize=(6.5, 4.5), constrained_layout=True)
    ax.loglog(spreads[ok], gaps[ok], "o-", label="expand_heads + noise, then average_heads")
    if ok.any():
        mid = np.flatnonzero(ok)[ok.sum() // 2]
        guide = np.geomspace(spreads[ok].min(), spreads[ok].max(), 20)
        ax.loglog(guide, gaps[mid] * (guide / spreads[mid]) ** 2, "k:", label=r"$\propto$ spread$^2$")
    for i, (label, (x, y)) in enumerate((marked or {}).items()):
        ax.loglog([max(x, 1e-12)], [max(y, 1e-12)], "*", ms=14, color=f"C{i + 1}", label=label)
    ax.set(xlabel="expert spread (relative distance of the heads from their mean)",
           ylabel="relative logit gap", title=title or "averaging is exact only for identical experts")
    ax.legend(fontsize=8)
    return shown_once(fig)


def bar_chart(values: dict, ylabel: str, title=None, baseline=None, baseline_label="majority class", fmt="{:.3f}"):
    """Bars with their values on top. values: {name: number, or a list of repetitions (bar = median, dots = each
    repetition)}, or {series: {category: number}} for side-by-side bars, one group per category."""
    grouped = isinstance(next(iter(values.values())), dict)
    series = values if grouped else {None: values}
    cats, width = list(next(iter(series.values()))), 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(4.5, 1.3 * len(cats) * len(series) ** 0.5), 4), constrained_layout=True)
    for i, (name, row) in enumerate(series.items()):
        reps = [np.atleast_1d(np.asarray(row[c], float)) for c in cats]
        x = np.arange(len(cats)) + (i - (len(series) - 1) / 2) * width
        colors = f"C{i}" if grouped else [f"C{j}" for j in range(len(cats))]
        bars = ax.bar(x, [np.median(r) for r in reps], width, label=name, color=colors, alpha=0.85)
        ax.bar_label(bars, [fmt.format(np.median(r)) for r in reps], fontsize=7)
        for xi, r in zip(x, reps):
            if len(r) > 1:
                ax.plot(xi + np.linspace(-0.25, 0.25, len(r)) * width, r, "k.", ms=4)
    if baseline is not None:
        ax.axhline(baseline, color="gray", ls="--", label=baseline_label)
    if grouped or baseline is not None:
        ax.legend(fontsize=8)
    ax.set_xticks(range(len(cats)), cats, rotation=0 if grouped else 20)
    ax.set(ylabel=ylabel, title=title)
    return shown_once(fig)


def logit_scatter(multi, averaged, title=None):
    """Each dev example's output under the mixture of heads (x) and under the averaged head (y); on the diagonal
    means averaging changed nothing for it."""
    multi, averaged = np.asarray(multi, float), np.asarray(averaged, float)
    fig, ax = plt.subplots(figsize=(4.5, 4.5), constrained_layout=True)
    ax.scatter(multi, averaged, s=8, alpha=0.6)
    lo, hi = min(multi.min(), averaged.min()), max(multi.max(), averaged.max())
    ax.plot([lo, hi], [lo, hi], "k:", lw=1)
    ax.set(xlabel="mixture of heads: logit margin", ylabel="averaged head: logit margin", title=title)
    return shown_once(fig)


def metric_vs_params(series: dict, ylabel: str, baseline=None, title=None):
    """{series: [(adapter parameters, metric, point label), ...]} as a scatter with a log x axis (the paper's Fig. 1
    view: what each extra parameter buys); one colour and marker per series, each point labelled."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5), constrained_layout=True)
    for i, (name, points) in enumerate(series.items()):
        x, y, labels = zip(*points)
        ax.plot(x, y, "osD^v"[i % 5], color=f"C{i}", ls="none", label=name, alpha=0.8)
        for xi, yi, label in zip(x, y, labels):
            ax.annotate(label, (xi, yi), fontsize=7, xytext=(4, 4 - 9 * i), textcoords="offset points")
    if baseline is not None:
        ax.axhline(baseline, color="gray", ls="--", label="majority class")
    ax.set(xscale="log", xlabel="trainable adapter parameters", ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    return shown_once(fig)
