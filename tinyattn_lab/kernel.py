"""The attention computation inside a tiny-attention adapter: which keys each query sees, and the weighted sum.

Paper section 2: per head, softmax(q k^T / sqrt(e) + mask) v, with dropout on the probabilities (p = 0.1 in the
reference code). attention.py calls `attend` in every forward and `attention_probs` only when the maps are recorded
for the pictures (notebook 04). Shapes: q (B, h, Tq, e), k and v (B, h, Tk, e).

Visibility. `keep` (B, Tk) marks the real keys (False = padding). With `causal`, the Tq queries are the last Tq of the
Tk positions (Tq = Tk without a cache; Tq = 1 for one generated token with the Tk - 1 earlier keys cached), and query
i sees key j only when j <= Tk - Tq + i. A query that sees no key at all (a left-padded position in a decoder) gets a
zero output and a zero row of probabilities, never NaN, so nothing undefined flows into the residual stream.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def visible_keys(keep: torch.Tensor | None, q_len: int, k_len: int, causal: bool) -> torch.Tensor | None:
    """Boolean (B or 1, 1, Tq or 1, Tk) mask, True where a query may read a key; None when every key is visible."""
    mask = None if keep is None else keep[:, None, None, :]  # broadcast over heads and queries
    if causal:
        device = keep.device if keep is not None else None
        offset = k_len - q_len
        rows = torch.arange(q_len, device=device)[:, None] + offset
        future = torch.arange(k_len, device=device)[None, :] > rows  # (Tq, Tk)
        mask = ~future[None, None] if mask is None else mask & ~future
    return mask


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, keep: torch.Tensor | None = None,
           causal: bool = False, dropout_p: float = 0.0) -> torch.Tensor:
    """(B, h, Tq, e): each query's dropout-masked, softmax-weighted sum of the values it may see."""
    mask = visible_keys(keep, q.shape[-2], k.shape[-2], causal)
    # torch's SDPA returns 0 (and finite gradients) for a query whose row of the mask is all False
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)


def attention_probs(q: torch.Tensor, k: torch.Tensor, keep: torch.Tensor | None = None,
                    causal: bool = False) -> torch.Tensor:
    """(B, h, Tq, Tk) attention probabilities, materialised (for pictures); rows that see no key are zero."""
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # rank 1 per head when e = 1
    mask = visible_keys(keep, q.shape[-2], k.shape[-2], causal)
    if mask is None:
        return scores.softmax(dim=-1)
    probs = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)
    return probs.masked_fill(~mask.any(-1, keepdim=True), 0.0)
