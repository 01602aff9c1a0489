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
    a = bertviz_attention(adapter_maps, index, attention_mask)
    b = bertviz_attention(backbone_maps, index, attention_mask)
    return tuple(torch.cat([x, y], dim=1) for x, y in zip(a, b))


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
    (or a list of (h, n, n)). Rows are queries, columns keys; token labels on the outer axes; one shared colour bar."""
    attention = [torch.as_tensor(a).reshape(-1, *a.shape[-2:]) for a in attention]
    layers = list(range(len(attention))) if layers is None else list(layers)
    heads = list(range(attention[0].shape[0])) if heads is None else list(heads)
    n, size = len(tokens), max(1.7, 0.11 * len(tokens))
    fig, axes = plt.subplots(len(layers), len(heads), figsize=(size * len(heads) + 1.5, size * len(layers) + 0.6),
                             squeeze=False, constrained_layout=True)
    for r, layer in enumerate(layers):
        for c, head in enumerate(heads):
            ax = axes[r, c]
            image = ax.imshow(attention[layer][head].numpy(), vmin=0, vmax=1, cmap="viridis")
            ax.set_xticks(range(n), tokens if r == len(layers) - 1 else [], rotation=90, fontsize=6)
            ax.set_yticks(range(n), tokens if c == 0 else [], fontsize=6)
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
    ax[0].imshow(np.asarray(probs), vmin=0, vmax=1, cmap="viridis")
    ax[0].set(title="attention map (query rows)", xticks=x, yticks=x)
    ax[0].set_xticklabels(tokens, rotation=90, fontsize=6)
    ax[0].set_yticklabels(tokens, fontsize=6)
    for a, values, name in ((ax[1], k, "key score $k_j$ (same ranking for every query)"),
                            (ax[2], q, "query scale $q_i$ (sign: direction, size: sharpness)")):
        a.bar(x, values, color=np.where(values >= 0, "tab:blue", "tab:red"))
        a.set_xticks(x, tokens, rotation=90, fontsize=6)
        a.set_title(name, fontsize=10)
        a.axhline(0, color="black", lw=0.5)
    shown = min(8, len(s))
    ax[3].semilogy(np.arange(1, shown + 1), s[:shown] / s[0], "o-", label="tiny-attention head")
    if backbone_probs is not None:
        sb = rank1_factors(backbone_probs)[2]
        ax[3].semilogy(np.arange(1, shown + 1), sb[:shown] / sb[0], "s--", label="backbone head")
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
    """One bar per entry; an entry may be a list of repetitions (bar = median, dots = each repetition)."""
    names = list(values)
    reps = [np.atleast_1d(np.asarray(values[n], float)) for n in names]
    medians = [float(np.median(r)) for r in reps]
    fig, ax = plt.subplots(figsize=(max(4.5, 1.4 * len(names)), 4), constrained_layout=True)
    bars = ax.bar(names, medians, color=[f"C{i}" for i in range(len(names))], alpha=0.8)
    for i, r in enumerate(reps):
        if len(r) > 1:
            ax.plot(np.full(len(r), i) + np.linspace(-0.2, 0.2, len(r)), r, "k.", ms=4)
    ax.bar_label(bars, [fmt.format(m) for m in medians], fontsize=8)
    if baseline is not None:
        ax.axhline(baseline, color="gray", ls="--", label=baseline_label)
        ax.legend(fontsize=8)
    ax.set(ylabel=ylabel, title=title)
    ax.tick_params(axis="x", labelrotation=20)
    return _done(fig)


def grouped_bars(groups: dict, ylabel: str, title=None):
    """{series: {category: value}} as side-by-side bars, one group per category (e.g. token types)."""
    series, cats = list(groups), list(next(iter(groups.values())))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.8 * len(cats) * len(series)), 4), constrained_layout=True)
    for i, name in enumerate(series):
        x = np.arange(len(cats)) + (i - (len(series) - 1) / 2) * width
        ax.bar_label(ax.bar(x, [groups[name][c] for c in cats], width, label=name), fmt="%.2f", fontsize=7)
    ax.set_xticks(range(len(cats)), cats)
    ax.set(ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
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
    fig = plt.figure(figsize=(max(12, 1.6 * len(shown)), 8), constrained_layout=True)
    rows = fig.add_gridspec(2, 1, height_ratios=[1.25, 1])
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
    a1.set(xticks=range(len(places)), yticks=range(len(dims)), ylabel="per-head width e",
           title=f"trained grid: dev {results['metric']} and adapter parameters")
    a1.set_xticklabels(places, fontsize=8)
    a1.set_yticklabels(dims)
    strip = rows[1].subgridspec(1, len(shown))
    for i, (label, m) in enumerate(shown):
        ax = fig.add_subplot(strip[i])
        ax.imshow(np.asarray(m), vmin=0, vmax=1, cmap="viridis")
        ax.set_title(label, fontsize=7)
        ax.set_xticks([])
        ax.set_yticks(range(len(maps["tokens"])) if i == 0 else [], maps["tokens"] if i == 0 else [], fontsize=5)
    fig.suptitle(f"layer {layer}: attention of one dev sentence (rows: queries, columns: keys)")
    return _done(fig)
