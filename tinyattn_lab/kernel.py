"""The attention computation inside a tiny-attention adapter: which keys each query sees, and the weighted sum.

Paper section 2: per head, softmax(q k^T / sqrt(e) + mask) v, with dropout on the probabilities (p = 0.1 in the
reference code). attention.py calls `attend` in every forward and `attention_probs` only when the maps are recorded
for the pictures (notebook 04). Shapes: q (B, h, Tq, e), k and v (B, h, Tk, e).

Visibility. `keep` (B, Tk) marks the real keys (False = padding). With `causal`, the Tq queries are the last Tq of the
Tk positions (Tq = Tk without a cache; Tq = 1 for one generated token with the Tk - 1 earlier keys cached), and query
i sees key j only when j <= Tk - Tq + i. A query that sees no key at all (a left-padded position in a decoder) gets a
zero output and a zero row of probabilities, never NaN, so nothing undefined flows into the residual stream.

Memory linear in T (issue 12). torch's fused SDPA is used where it never materialises the (B, h, Tq, Tk)
probabilities (a CPU without dropout; CUDA at head widths that are multiples of 8). Elsewhere (dropout on a CPU,
width-1 heads on CUDA) `BlockedAttention` computes the same thing one block of queries at a time, keeping for the
backward pass only q, k, v, the output and each row's logsumexp: the dropout mask of a block is redrawn from a seed
(taken once per call from torch's global RNG) instead of stored, each entry still dropped independently with
probability p and the kept ones scaled by 1 / (1 - p). Its speed comes from three things, each measured: scores in
base 2 (exp2), one score buffer per call instead of one per block, and contiguous heads. The benchmark is
benchmarks/length.py.
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
    if not fused_is_linear(q, dropout_p):
        work = torch.promote_types(q.dtype, torch.float32)  # half-precision inputs: softmax sums in float32
        # contiguous: the heads arrive as strided views of (B, T, h, e), which the blocks' products walk slowly
        blocked = (x.to(work).contiguous() for x in (q, k, v))
        return BlockedAttention.apply(*blocked, keep, causal, dropout_p, BLOCK_ELEMENTS).to(q.dtype)
    mask = visible_keys(keep, q.shape[-2], k.shape[-2], causal)
    # torch's SDPA returns 0 (and finite gradients) for a query whose row of the mask is all False
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)


def fused_is_linear(q: torch.Tensor, dropout_p: float) -> bool:
    """Whether torch's fused SDPA keeps memory linear in T here. On a CPU its flash kernel takes any head width and a
    boolean mask but no dropout (with dropout it materialises the (B, h, Tq, Tk) probabilities and the mask, and keeps
    them for the backward pass); on CUDA the memory-efficient kernel takes masks and dropout, but only head widths
    that are multiples of 8, so width-1 heads would fall back to the materialising kernel too."""
    if q.device.type == "cpu":
        return dropout_p == 0.0
    return q.device.type == "cuda" and q.shape[-1] % 8 == 0


def attention_probs(q: torch.Tensor, k: torch.Tensor, keep: torch.Tensor | None = None,
                    causal: bool = False) -> torch.Tensor:
    """(B, h, Tq, Tk) attention probabilities, materialised (for pictures); rows that see no key are zero."""
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # rank 1 per head when e = 1
    mask = visible_keys(keep, q.shape[-2], k.shape[-2], causal)
    if mask is None:
        return scores.softmax(dim=-1)
    probs = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)
    return probs.masked_fill(~mask.any(-1, keepdim=True), 0.0)


# The blocked path: queries in blocks against all their keys, so only one block's (B, h, rows, Tk) scores exist at a
# time (4 MB of float32 at this budget; 2^17 to 2^21 were timed at T = 512 to 8192 and 1 to 16 heads, one CPU thread,
# and this was fastest or within 6% of it), the rest of memory being linear in T.
BLOCK_ELEMENTS = 1 << 20
LOG2E = 1.0 / math.log(2.0)  # scores in base 2: exp2 is about 2.7x faster than exp on a CPU, with the same result


def dropout_seed() -> int:
    """One seed per call, drawn from torch's global RNG, so torch.manual_seed fixes every mask of a run."""
    return int(torch.randint(2**62, (), dtype=torch.int64))


def dropped(seed: int, start: int, numel: int, p: float, device: torch.device) -> torch.Tensor:
    """Flat indices of the dropped entries of the query block starting at row `start` (numel entries): each entry is
    dropped independently with probability p. Drawn as the gaps between drops, Geometric(p) = 1 + floor(log U /
    log(1 - p)), so only about p * numel random numbers are needed (the same Bernoulli process, read as waiting
    times). U is a float32 uniform, as torch.rand gives it (steps of 2^-24), which is twice as fast to draw as a
    float64 one, the tail beyond a probability of 2^-24 being the only thing lost. The generator is seeded by
    (seed, start), so the backward pass draws the same drops."""
    generator = torch.Generator(device=device).manual_seed(seed + start)
    expected = numel * p
    chunk = int(expected + 6 * math.sqrt(expected) + 16)  # enough gaps to pass the end, but for a rare extra round
    found, last = [], torch.zeros((), dtype=torch.int64, device=device)
    while int(last) < numel:
        uniform = 1.0 - torch.rand(chunk, generator=generator, device=device)  # float32 in (0, 1]
        gaps = uniform.log_().div_(math.log1p(-p)).floor_().add_(1).to(torch.int64)
        positions = gaps.cumsum_(0).add_(last)  # 1-based positions of the drops, increasing
        last = positions[-1]
        found.append(positions[:torch.searchsorted(positions, numel, right=True)].sub_(1))
    return torch.cat(found)


def block_rows(q: torch.Tensor, k: torch.Tensor, block_elements: int) -> int:
    """Queries per block: as many as fit the budget with all keys (at least one, so memory is linear in Tk)."""
    B, h, _, _ = q.shape
    return max(1, block_elements // (B * h * k.shape[-2]))


def block_scores(q, k, keep, causal: bool, start: int, stop: int, buffer: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Scores (B, h, stop - start, L) of queries start:stop against the first L keys in base 2, log2(e) q k^T /
    sqrt(e) (so exp2, several times faster than exp on a CPU, gives the same probabilities), -inf where hidden, written
    into `buffer` (one allocation per call, not one per block). With causality the block's last query sees keys up to
    Tk - Tq + stop - 1, so the later keys are not computed at all."""
    B, h, _, e = q.shape
    L = k.shape[-2] - q.shape[-2] + stop if causal else k.shape[-2]
    out = buffer[:B * h * (stop - start) * L].view(B, h, stop - start, L)
    scores = times_kt(q[:, :, start:stop] * (LOG2E / math.sqrt(e)), k[:, :, :L], out)
    mask = visible_keys(None if keep is None else keep[:, :L], stop - start, L, causal)
    if mask is not None:
        scores.masked_fill_(~mask, float("-inf"))
    return scores, L


def times_kt(rows: torch.Tensor, keys: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """rows (..., R, e) @ keys (..., L, e) transposed, into `out`; a broadcast product when e = 1, where torch's CPU
    bmm runs the (R, 1) @ (1, L) outer product several times slower."""
    if rows.shape[-1] == 1:
        return torch.mul(rows, keys.transpose(-1, -2), out=out)
    return torch.matmul(rows, keys.transpose(-1, -2), out=out)


def times_(weights: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """weights (..., rows, L) @ values (..., L, e), overwriting `weights` when e = 1: there a multiply and a sum,
    which torch's CPU bmm (a matrix-vector product at that shape) runs several times slower."""
    if values.shape[-1] == 1:
        return weights.mul_(values.transpose(-1, -2)).sum(-1, keepdim=True)
    return weights @ values


def times_t(weights: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """weights (..., rows, L) transposed @ values (..., rows, e), as (e, rows) @ (rows, L) transposed: torch's CPU
    bmm is several times slower at (L, rows) @ (rows, e)."""
    return (values.transpose(-1, -2) @ weights).transpose(-1, -2)


class BlockedAttention(torch.autograd.Function):
    """attend() one query block at a time; saves q, k, v, the output and each row's logsumexp, and recomputes the
    probabilities (and redraws the dropout mask from its seed) block by block in the backward pass. Every (rows, L)
    step works in place on the block's one or two buffers."""

    @staticmethod
    def forward(ctx, q, k, v, keep, causal, p, block_elements):
        seed = dropout_seed() if p > 0 else 0
        if keep is not None and bool(keep.all()):
            keep = None  # no padding: skip the masking passes
        rows = block_rows(q, k, block_elements)
        buffer = q.new_empty(q.shape[0] * q.shape[1] * rows * k.shape[-2])
        out = q.new_empty(*q.shape[:-1], v.shape[-1])
        lse = q.new_empty(*q.shape[:-1], 1)
        for start in range(0, q.shape[-2], rows):
            stop = min(start + rows, q.shape[-2])
            scores, L = block_scores(q, k, keep, causal, start, stop, buffer)
            top = scores.amax(-1, keepdim=True).nan_to_num_(neginf=0.0)  # 0 on rows that see no key
            probs = scores.sub_(top).exp2_()  # unnormalised
            total = probs.sum(-1, keepdim=True)  # >= 1 on a row that sees a key (its top term is 2^0)
            # base 2; +inf on a row that sees nothing, so the backward pass's exp2(score - lse) is 0 there
            lse[:, :, start:stop] = (top + total.log2()).nan_to_num_(neginf=float("inf"))
            if p > 0:
                probs.view(-1).index_fill_(0, dropped(seed, start, probs.numel(), p, q.device), 0.0)
            out[:, :, start:stop] = times_(probs, v[:, :, :L]).div_(total.clamp_min_(1.0) * (1.0 - p))
        ctx.save_for_backward(q, k, v, out, lse, keep)
        ctx.causal, ctx.p, ctx.rows, ctx.seed = causal, p, rows, seed
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        q, k, v, out, lse, keep = ctx.saved_tensors
        p, scale = ctx.p, 1.0 / math.sqrt(q.shape[-1])
        dq, dk, dv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
        row_dot = (grad_out * out).sum(-1, keepdim=True)  # sum_j P_ij dP_ij = dO_i . O_i, (B, h, Tq, 1)
        buffers = q.new_empty(2, q.shape[0] * q.shape[1] * ctx.rows * k.shape[-2])
        for start in range(0, q.shape[-2], ctx.rows):
            stop = min(start + ctx.rows, q.shape[-2])
            scores, L = block_scores(q, k, keep, ctx.causal, start, stop, buffers[0])
            probs = scores.sub_(lse[:, :, start:stop]).exp2_()  # P
            g = grad_out[:, :, start:stop] / (1.0 - p)
            dprobs = times_kt(g, v[:, :, :L], buffers[1][:probs.numel()].view_as(probs))  # dL/dP where kept
            drops = dropped(ctx.seed, start, probs.numel(), p, q.device) if p > 0 else None
            if drops is not None:
                dprobs.view(-1).index_fill_(0, drops, 0.0)
            dscores = dprobs.sub_(row_dot[:, :, start:stop]).mul_(probs)  # softmax backward, needs the full P
            dk[:, :, :L] += times_t(dscores, q[:, :, start:stop] * scale)
            dq[:, :, start:stop] = times_(dscores, k[:, :, :L] * scale)
            if drops is not None:
                probs.view(-1).index_fill_(0, drops, 0.0)  # now the dropped P the forward pass used
            dv[:, :, :L] += times_t(probs, g)
        return dq, dk, dv, None, None, None, None
