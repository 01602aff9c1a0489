"""kernel.py against a hand-written loop over queries and keys: padding, causality with a cache offset, empty rows;
the blocked path (linear memory, exact dropout) against the materialised computation it replaces."""

import math

import pytest
import torch

import torch.nn.functional as F

from tinyattn_lab.kernel import BlockedAttention, attend, attention_probs, block_rows, dropout_seed, dropped


def reference(q, k, v, keep, causal):
    """Loops: query i of Tq (the last Tq of Tk positions) reads key j if it is real and, when causal, not later."""
    B, h, Tq, e = q.shape
    Tk = k.shape[-2]
    probs = torch.zeros(B, h, Tq, Tk, dtype=torch.float64)
    for b in range(B):
        for i in range(Tq):
            seen = [j for j in range(Tk) if (keep is None or keep[b, j]) and (not causal or j <= Tk - Tq + i)]
            for head in range(h):
                if seen:
                    s = torch.stack([q[b, head, i].double() @ k[b, head, j].double() / math.sqrt(e) for j in seen])
                    probs[b, head, i, seen] = s.softmax(0)
    return probs, probs @ v.double()


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("q_len", [5, 1])
def test_attend_and_probs_match_the_loops(causal, q_len):
    g = torch.Generator().manual_seed(0)
    B, h, Tk, e = 2, 3, 5, 2
    q, k, v = (torch.randn(B, h, n, e, generator=g) for n in (q_len, Tk, Tk))
    keep = torch.tensor([[True] * 5, [False, False, True, True, True]])  # the second row is left-padded
    want_p, want_out = reference(q, k, v, keep, causal)
    torch.testing.assert_close(attention_probs(q, k, keep, causal).double(), want_p, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(attend(q, k, v, keep, causal).double(), want_out, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("dropout_p", [0.0, 0.5])  # 0.5 takes the blocked path on a CPU
def test_a_query_that_sees_no_key_gives_zeros_and_finite_gradients(dropout_p):
    q, k, v = (torch.randn(1, 1, 3, 1, requires_grad=True) for _ in range(3))
    keep = torch.tensor([[False, True, True]])  # with causality query 0 sees nothing
    out = attend(q, k, v, keep, causal=True, dropout_p=dropout_p)
    assert out[0, 0, 0].abs().sum() == 0 and attention_probs(q, k, keep, True)[0, 0, 0].abs().sum() == 0
    out.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))


def problem(q_len=6, k_len=9, head_dim=1, seed=0):
    """float64 q, k, v (B=2, h=3) requiring grad, a key mask whose second row is left-padded, and an output grad."""
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(2, 3, n, head_dim, generator=g, dtype=torch.float64).requires_grad_()
               for n in (q_len, k_len, k_len))
    keep = torch.ones(2, k_len, dtype=torch.bool)
    keep[1, :3] = False
    return q, k, v, keep, torch.randn(2, 3, q_len, head_dim, generator=g, dtype=torch.float64)


def grads(out, inputs, grad_out):
    return torch.autograd.grad(out, inputs, grad_out)


def drop_mask(seed, q, k, causal, p, block_elements):
    """The (B, h, Tq, Tk) keep mask the blocked path used: each block's drops, redrawn from the call's seed."""
    Tq, Tk = q.shape[-2], k.shape[-2]
    mask, rows = torch.zeros(*q.shape[:-1], Tk, dtype=torch.float64), block_rows(q, k, block_elements)
    for start in range(0, Tq, rows):
        stop = min(start + rows, Tq)
        L = Tk - Tq + stop if causal else Tk
        block = torch.ones(*q.shape[:-2], stop - start, L, dtype=torch.float64)
        mask[:, :, start:stop, :L] = block.view(-1).index_fill_(0, dropped(seed, start, block.numel(), p,
                                                                           q.device), 0.0).view_as(block)
    return mask


@pytest.mark.parametrize("block_elements", [1, 60, 10**6])  # one query per block, several, all at once
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("q_len,head_dim", [(9, 1), (4, 1), (1, 1), (9, 2)])
def test_blocked_path_matches_the_materialised_one_without_dropout(block_elements, causal, q_len, head_dim):
    """Oracle: softmax(q k^T / sqrt(e)) v through autograd, probabilities materialised (checked by the loops above)."""
    q, k, v, keep, grad_out = problem(q_len, head_dim=head_dim)
    want = attention_probs(q, k, keep, causal) @ v
    got = BlockedAttention.apply(q, k, v, keep, causal, 0.0, block_elements)
    torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-10)
    for a, b in zip(grads(got, (q, k, v), grad_out), grads(want, (q, k, v), grad_out)):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("block_elements", [1, 60, 10**6])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("q_len,head_dim", [(9, 1), (4, 2)])
def test_blocked_dropout_is_the_masked_computation_with_its_mask(block_elements, causal, q_len, head_dim):
    """Oracle: redraw the call's mask from the same seed, then (P * mask / (1 - p)) @ v through autograd: the same
    output and the same gradients (the backward pass redraws the mask rather than storing it)."""
    q, k, v, keep, grad_out = problem(q_len, head_dim=head_dim)
    p = 0.3
    torch.manual_seed(5)
    got = BlockedAttention.apply(q, k, v, keep, causal, p, block_elements)
    got_grads = grads(got, (q, k, v), grad_out)
    torch.manual_seed(5)
    mask = drop_mask(dropout_seed(), q, k, causal, p, block_elements)
    assert 0 < (mask == 0).sum() < mask.numel()
    want = (attention_probs(q, k, keep, causal) * mask / (1 - p)) @ v
    torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-10)
    for a, b in zip(got_grads, grads(want, (q, k, v), grad_out)):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_each_entry_is_dropped_independently_with_probability_p(p):
    """Oracle: Bernoulli(p) per entry: the dropped fraction is p, and a pair of neighbours (the gaps' boundaries)
    or a pair far apart are both dropped with probability p^2, all within 5 standard errors."""
    n = 400_000
    mask = torch.zeros(n, dtype=torch.bool)
    mask[dropped(123, 0, n, p, torch.device("cpu"))] = True
    for fraction, target, count in ((mask.double().mean(), p, n),
                                    ((mask[1:] & mask[:-1]).double().mean(), p * p, n - 1),
                                    ((mask[1000:] & mask[:-1000]).double().mean(), p * p, n - 1000)):
        assert abs(fraction - target) < 5 * math.sqrt(target * (1 - target) / count)
    assert not torch.equal(dropped(123, 0, n, p, torch.device("cpu")), dropped(123, 1, n, p, torch.device("cpu")))


def test_dropout_keeps_the_expected_output():
    """Oracle: E[dropout(P) / (1 - p) @ v] = P @ v, within 5 standard errors of the mean over 3,000 calls."""
    q, k, v, keep, _ = problem(5, 7)
    want = attend(q, k, v, keep).detach()
    torch.manual_seed(0)
    with torch.no_grad():
        samples = torch.stack([attend(q, k, v, keep, dropout_p=0.2) for _ in range(3000)])
    error = (samples.mean(0) - want).abs()
    assert (error <= 5 * samples.std(0) / math.sqrt(len(samples)) + 1e-12).all()


def test_dropout_is_fixed_by_torch_manual_seed():
    q, k, v, keep, grad_out = problem()
    runs = []
    for seed in (7, 7, 8):
        torch.manual_seed(seed)
        out = attend(q, k, v, keep, dropout_p=0.1)
        runs.append((out, *grads(out, (q, k, v), grad_out)))
    assert all(torch.equal(a, b) for a, b in zip(runs[0], runs[1]))
    assert not torch.equal(runs[0][0], runs[2][0])


@pytest.mark.parametrize("dropout_p", [0.0, 0.1])
def test_training_saves_nothing_quadratic(dropout_p):
    """Structural memory check: nothing kept for the backward pass grows as Tq x Tk (the fused kernel without dropout,
    the blocked path with it); with dropout the saved tensors are q, k, v, the output, the logsumexp, the key mask."""
    T = 256
    q, k, v = (torch.randn(1, 4, T, 1, requires_grad=True) for _ in range(3))
    keep = torch.arange(T)[None] >= 3  # padded, so the key mask is kept too
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
        attend(q, k, v, keep, dropout_p=dropout_p)
    assert saved and max(saved) <= 4 * T
    if dropout_p:
        assert sum(saved) == 4 * T * 5 + T


def test_cpu_paths_fused_without_dropout():
    """Without dropout a CPU takes torch's fused kernel (already linear in memory): bit for bit SDPA's output."""
    q, k, v, keep, _ = problem()
    assert torch.equal(attend(q, k, v, keep), F.scaled_dot_product_attention(q, k, v, attn_mask=keep[:, None, None]))


def test_half_precision_inputs_are_computed_in_float32():
    """Oracle: the float32 computation with the same mask (same seed), rounded to bfloat16 once."""
    q, k, v, keep, _ = problem()
    q, k, v = (t.detach().to(torch.bfloat16) for t in (q, k, v))
    torch.manual_seed(2)
    got = attend(q, k, v, keep, dropout_p=0.1)
    torch.manual_seed(2)
    want = attend(q.float(), k.float(), v.float(), keep, dropout_p=0.1)
    assert got.dtype == torch.bfloat16 and torch.equal(got, want.to(torch.bfloat16))
