"""The tiny-attention module: multi-head attention whose heads are tiny (width 1 by default).

Paper section 2: "a multi-head attention module and its per-head dimensionality is extremely small".
Notebook: notebooks/01_tiny_attention_from_scratch.ipynb builds the same module by hand and a test proves the two agree.

    x (B, T, d) -> LayerNorm -> Linear d -> 3*h*e -> per head: softmax(q k^T / sqrt(e) + mask) v -> Linear h*e -> d

The attention step itself (which keys each query sees, dropout, the weighted sum) is kernel.py's.

The module returns only the update; the caller adds it to the hidden stream (see layer.py for the placements).
Inside a decoder it attends causally, and during generation it keeps its own keys and values (KVCache) in step with
the model's cache: a new token costs one projection of that token, not a pass over the prefix (notebook 09).
The reference code stacks a second E x E projection inside nn.MultiheadAttention after W1 and before W2; two linear maps
in a row express nothing more than one, so they are folded here (8 fewer parameters per layer at E = 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import TinyAttnConfig
from .kernel import attend, attention_probs


def key_padding_mask(mask: torch.Tensor | None) -> torch.Tensor | None:
    """Turn any attention mask transformers uses into a (B, T) boolean "this key is a real token" mask.

    Accepted forms: None (no padding); (B, T) 0/1 or bool, as tokenizers return; (B, 1, Tq, T) boolean (SDPA, True =
    attend), integer 0/1 (DeBERTa) or additive float (eager: 0 = attend, a large negative number = masked). Encoder
    masks only hide keys, so every query row of a 4-D mask is the same; any row with a real key is taken.
    """
    if mask is None:
        return None
    if mask.dim() == 2:
        return mask != 0
    if mask.dim() != 4:
        raise ValueError(f"Expected an attention mask of shape (B, T) or (B, 1, Tq, T), got {tuple(mask.shape)}.")
    if mask.dtype == torch.bool:
        keep = mask
    elif mask.is_floating_point():
        keep = mask > torch.finfo(mask.dtype).min / 2
    else:
        keep = mask != 0
    return keep[:, 0].any(dim=-2)  # (B, T): a key is real if some query may attend to it


class KVCache:
    """The adapter's keys and values of the positions seen so far, each (B, h, T, e), for one layer and adapter."""

    def __init__(self):
        self.k = self.v = None

    @property
    def length(self) -> int:
        return 0 if self.k is None else self.k.shape[-2]

    def crop(self, length: int) -> None:
        """Forget positions from `length` on (the model's cache was cropped, e.g. by assisted generation)."""
        if self.k is not None:
            self.k, self.v = self.k[..., :length, :], self.v[..., :length, :]

    def reorder(self, beam_idx: torch.Tensor) -> None:
        """Keep, for each row of the next step, the row it continues (beam search picks them every step)."""
        if self.k is not None:
            beam_idx = beam_idx.to(self.k.device)
            self.k, self.v = self.k.index_select(0, beam_idx), self.v.index_select(0, beam_idx)

    def extend(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append the new positions' keys and values; returns all of them."""
        if self.k is not None:
            k, v = torch.cat([self.k, k], dim=-2), torch.cat([self.v, v], dim=-2)
        self.k, self.v = k, v
        return k, v


class TinyAttention(nn.Module):
    """One tiny-attention adapter for one layer: pre-LayerNorm, per-head attention of width head_dim, projection back.

    Parameters: norm (2d), qkv (d * 3E + 3E), out (E * d + d), with E = num_heads * head_dim,
    so 3d + 4dE + 3E in all (7,171 for RoBERTa-large at E = 1).
    """

    def __init__(self, hidden_size: int, config: TinyAttnConfig):
        super().__init__()
        self.num_heads, self.head_dim, self.dropout = config.num_heads, config.head_dim, config.dropout
        self.norm = nn.LayerNorm(hidden_size)
        self.qkv = nn.Linear(hidden_size, 3 * config.inner_dim)
        self.out = nn.Linear(config.inner_dim, hidden_size)
        # Reference init (paper notes 1.5): N(0, 0.02^2) weights, zero biases; the output scale is configurable.
        nn.init.normal_(self.qkv.weight, std=0.02)
        nn.init.zeros_(self.qkv.bias)
        nn.init.normal_(self.out.weight, std=config.init_scale)
        nn.init.zeros_(self.out.bias)

    def split_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, T, d) -> q, k, v, each (B, h, T, e)."""
        B, T, _ = x.shape
        qkv = self.qkv(self.norm(x)).view(B, T, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # 3 x (B, h, T, e)
        return q, k, v

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, return_attention: bool = False,
        residual: torch.Tensor | None = None, causal: bool = False, cache: KVCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: (B, T, d); mask: any form key_padding_mask accepts, over the cached and the new positions. Returns the
        update (B, T, d), or residual + update when a (B, T, d) residual is given, and, if asked, the attention
        probabilities (B, h, T, Tk) in the shape bertviz takes (one such tensor per layer). With `causal`, no position
        reads a later one; with a `cache`, x holds only the new positions and their keys and values join it."""
        B, T, _ = x.shape
        q, k, v = self.split_heads(x)
        if cache is not None:
            k, v = cache.extend(k, v)
        keep = key_padding_mask(mask)
        p_drop = self.dropout if self.training else 0.0
        probs = None
        if return_attention:
            probs = attention_probs(q, k, keep, causal)
            heads = F.dropout(probs, p_drop, self.training) @ v
        else:
            heads = attend(q, k, v, keep, causal, dropout_p=p_drop)
        heads = heads.transpose(1, 2).reshape(B, T, self.num_heads * self.head_dim)  # concat heads
        if residual is None:
            return self.out(heads), probs
        return self.add_projection(heads, residual), probs

    def add_projection(self, heads: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """residual + out(heads). Without autograd (inference) the sum is written into `residual`: the adapter's
        arithmetic is tiny, its cost is memory traffic, and two fresh (B, T, d) tensors per layer (the projection, then
        the sum) are a large share of its time on a CPU (README "Benchmarks")."""
        if torch.is_grad_enabled() or not residual.is_contiguous():
            return residual + self.out(heads)
        B, T, d = residual.shape
        residual.view(B * T, d).addmm_(heads.reshape(B * T, -1), self.out.weight.t()).add_(self.out.bias)
        return residual
