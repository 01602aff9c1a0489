"""Attention maps as data: one example in bertviz's format, token types and attention mass, rank-1 factors, spread.

Paper section 2: with head width 1 the scores q_i k_j are a rank-1 matrix. Notebooks 04 and 05 use these.
A *map list* is one (B, h, T, T) tensor per layer (viz/__init__.py gives the conventions).
"""

from __future__ import annotations

import unicodedata

import numpy as np
import torch

TOKEN_TYPES = ("CLS", "SEP", "punctuation", "word")


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
