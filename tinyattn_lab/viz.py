"""Figures and bertviz glue for looking inside tiny-attention adapters.

Paper: Zhao, Tan, Mei, "Tiny-Attention Adapter: Contexts Are More Important Than the Number of Parameters" (EMNLP 2022,
arXiv 2211.01979), section 2 (heads of width 1) and section 2.2 (the heads as experts, averaged to deploy).
Notebooks: 04_see_the_tiny_attention.ipynb (heatmaps, bertviz, rank 1, token types), 05_head_averaging.ipynb (gap
against expert spread, accuracy and latency bars), 06_play_with_head_count.ipynb (the playground figure).

Conventions. A *map list* is one (B, h, T, T) tensor per layer: what `TinyAttnModel.record_attention()` collects, or a
transformers model's `.attentions` (with attn_implementation="eager"). The *bertviz format* is one example's maps: a
tuple of (1, h, n, n) tensors cut to its n real tokens. Plotting functions return a closed Figure, so a notebook shows
it exactly once, as the cell's last expression (after `%matplotlib inline`).
"""

from __future__ import annotations

import unicodedata

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle

TOKEN_TYPES = ("CLS", "SEP", "punctuation", "word")


def _done(fig):
    plt.close(fig)  # the notebook displays the returned Figure; an open pyplot figure would show a second time
    return fig


def _heat(ax, probs, tokens, vmax=1.0, x_labels=True, y_labels=True):
    """One attention map (queries in rows, keys in columns) with optional token labels."""
    image = ax.imshow(np.asarray(probs), vmin=0, vmax=vmax, cmap="viridis")
    ax.set_xticks(range(len(tokens)), tokens if x_labels else [], rotation=90, fontsize=6)
    ax.set_yticks(range(len(tokens)), tokens if y_labels else [], fontsize=6)
    return image


# -- one example, in bertviz's format ---------------------------------------------------------------------------------
def real_positions(attention_mask, index: int = 0, length: int | None = None) -> torch.Tensor:
    """Indices of the real (unpadded) tokens of example `index`; all `length` positions when there is no mask."""
    if attention_mask is None:
        return torch.arange(length)
    return torch.nonzero(torch.as_tensor(attention_mask)[index] != 0).flatten().cpu()


def bertviz_attention(maps, index: int = 0, attention_mask=None) -> tuple[torch.Tensor, ...]:
    """Map list (one (B, h, T, T) per layer) -> bertviz's format for example `index`: one (1, h, n, n) per layer,
    cut to the n real tokens (padding removed on either side), float32 on the CPU."""
    keep = real_positions(attention_mask, index, maps[0].shape[-1])
    return tuple(m[index].detach().float().cpu()[:, keep][:, :, keep].unsqueeze(0) for m in maps)


def side_by_side(adapter_maps, backbone_maps, index: int = 0, attention_mask=None) -> tuple[torch.Tensor, ...]:
    """The adapter's heads next to the backbone's own, per layer, in bertviz's format: heads 0 .. h_a - 1 are the
    adapter's, heads h_a .. h_a + h_b - 1 the backbone's (its head j is index h_a + j)."""
    if len(adapter_maps) != len(backbone_maps):
        raise ValueError(f"{len(adapter_maps)} adapter layers but {len(backbone_maps)} backbone layers; adapt every "
                         "layer (TinyAttnConfig(layers=None)) or pass the matching backbone layers only.")
    pairs = zip(*(bertviz_attention(m, index, attention_mask) for m in (adapter_maps, backbone_maps)))
    return tuple(torch.cat([a, b], dim=1) for a, b in pairs)


def example_tokens(tokenizer, batch, index: int = 0) -> tuple[list[str], int | None]:
    """(tokens, sentence_b_start) of example `index` of a tokenized batch, real tokens only; sentence_b_start is the
    position of the first token of the second sentence (bertviz draws the pair), None for a single sentence."""
    keep = real_positions(batch.get("attention_mask"), index, batch["input_ids"].shape[-1])
    tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][index][keep].tolist())
    segments = batch.get("token_type_ids")
    starts = [] if segments is None else torch.nonzero(segments[index][keep] != 0).flatten().tolist()
    return tokens, (starts[0] if starts else None)


# -- statistics over many sentences -----------------------------------------------------------------------------------
def token_types(tokens, tokenizer) -> list[int]:
    """Index into TOKEN_TYPES for every token: the first-token marker, separators, pure punctuation, other words."""
    def kind(t):
        if t == tokenizer.cls_token:
            return 0
        if t in (tokenizer.sep_token, tokenizer.eos_token):
            return 1
        core = t.lstrip("#").replace("\u0120", "").replace("\u2581", "")  # WordPiece ##, BPE G-dot, SentencePiece
        return 2 if core and all(unicodedata.category(c)[0] in "PS" for c in core) else 3
    return [kind(t) for t in tokens]


def attention_mass(maps, input_ids, attention_mask, tokenizer) -> tuple[np.ndarray, np.ndarray]:
    """How much attention each token type receives: (mass (B, L, h, 4), share (B, 4)).

    mass[b, l, j, c]: attention of head j in layer l to tokens of type c, averaged over the real queries of example b
    (each query's row sums to 1, so mass sums to 1 over c). share[b, c]: the fraction of b's tokens of type c, which is
    what uniform attention would give; mass / share > 1 means the type is favoured."""
    B, T = input_ids.shape
    real = (attention_mask != 0).float().cpu() if attention_mask is not None else torch.ones(B, T)
    onehot = torch.zeros(B, T, len(TOKEN_TYPES))
    for b in range(B):
        types = torch.tensor(token_types(tokenizer.convert_ids_to_tokens(input_ids[b].tolist()), tokenizer))
        onehot[b, torch.arange(T), types] = real[b]
    n = real.sum(-1)  # (B,)
    mass = torch.stack([torch.einsum("bhqk,bkc,bq->bhc", m.detach().float().cpu(), onehot, real) for m in maps], 1)
    return (mass / n[:, None, None, None]).numpy(), (onehot.sum(1) / n[:, None]).numpy()


def rank1_factors(probs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(q, k, singular values) of one head's (n, n) attention map, read back from the map alone.

    For a width-1 head, log p_ij = q_i k_j - log Z_i, so the log-map with each row centred is q_i (k_j - mean k):
    exactly rank 1. Its SVD returns k (unit norm, sign chosen so the most attended key is positive) and q (carrying the
    scale) up to that common scale. A head of width e gives rank <= e; the spread of singular values shows it."""
    logp = torch.as_tensor(probs).double().clamp_min(1e-30).log()
    centred = logp - logp.mean(-1, keepdim=True)
    u, s, vh = torch.linalg.svd(centred)
    q, k = u[:, 0] * s[0], vh[0]
    if k[torch.as_tensor(probs).double().mean(0).argmax()] < 0:
        q, k = -q, -k
    return q.numpy(), k.numpy(), s.numpy()


@torch.no_grad()
def expert_spread(model, adapter_name: str) -> float:
    """How far an adapter's heads (experts) are from their mean, the x axis of gap_vs_spread: per layer,
    sqrt(mean_j |theta_j - mean theta|^2) / |mean theta|, averaged over layers. theta_j is expert j's parameters:
    its query/key/value rows and biases and its output columns times h (its weight as a 1/h-weighted expert)."""
    config, spreads = model.peft_config[adapter_name], []
    h, e = config.num_heads, config.head_dim
    for layer in (layer[adapter_name] for layer in model.tiny_layers if adapter_name in layer):
        d = layer.qkv.in_features
        theta = torch.cat([layer.qkv.weight.view(3, h, e, d).transpose(0, 1).reshape(h, -1),
                           layer.qkv.bias.view(3, h, e).transpose(0, 1).reshape(h, -1),
                           h * layer.out.weight.view(d, h, e).transpose(0, 1).reshape(h, -1)], dim=1).double()
        mean = theta.mean(0)
        spreads.append(((theta - mean).pow(2).sum(1).mean().sqrt() / mean.norm()).item())
    return float(np.mean(spreads))


# -- figures ----------------------------------------------------------------------------------------------------------
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
            image = _heat(ax, attention[layer][head], tokens, vmax, r == len(layers) - 1, c == 0)
            if r == 0:
                ax.set_title(head_labels[head] if head_labels else f"head {head}", fontsize=9)
            if c == 0:
                ax.set_ylabel(f"layer {layer}\nquery", fontsize=9)
    fig.colorbar(image, ax=axes, shrink=0.6, label="attention probability")
    fig.suptitle(title or "attention per layer (rows) and head (columns); keys on the x axis")
    return _done(fig)


def rank1_figure(probs, tokens, backbone_probs=None, title=None):
    """Why one width-1 head looks the way it does: its map, the key scores k_j and query scales q_i read back from it
    (rank1_factors), and the singular values of the centred log-map, next to a backbone head's if given."""
    q, k, s = rank1_factors(probs)
    fig, ax = plt.subplots(1, 4, figsize=(17, 4.2), gridspec_kw={"width_ratios": [1.1, 1.4, 1.4, 1]},
                           constrained_layout=True)
    x = np.arange(len(tokens))
    _heat(ax[0], probs, tokens, vmax=float(np.max(np.asarray(probs))))
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
    return _done(fig)


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
    return _done(fig)


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
    return _done(fig)


def logit_scatter(multi, averaged, title=None):
    """Each dev example's output under the mixture of heads (x) and under the averaged head (y); on the diagonal
    means averaging changed nothing for it."""
    multi, averaged = np.asarray(multi, float), np.asarray(averaged, float)
    fig, ax = plt.subplots(figsize=(4.5, 4.5), constrained_layout=True)
    ax.scatter(multi, averaged, s=8, alpha=0.6)
    lo, hi = min(multi.min(), averaged.min()), max(multi.max(), averaged.max())
    ax.plot([lo, hi], [lo, hi], "k:", lw=1)
    ax.set(xlabel="mixture of heads: logit margin", ylabel="averaged head: logit margin", title=title)
    return _done(fig)


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
    return _done(fig)


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
        _heat(ax, m, maps["tokens"], vmax, x_labels=False, y_labels=i == 0)
        ax.set_title(label, fontsize=7)
    fig.suptitle(f"bottom: layer {layer}'s attention on one dev sentence (rows: queries, columns: keys; one colour "
                 "scale)")
    return _done(fig)
