"""kernel.py against a hand-written loop over queries and keys: padding, causality with a cache offset, empty rows."""

import math

import pytest
import torch

from tinyattn_lab.kernel import attend, attention_probs


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


def test_a_query_that_sees_no_key_gives_zeros_and_finite_gradients():
    q, k, v = (torch.randn(1, 1, 3, 1, requires_grad=True) for _ in range(3))
    keep = torch.tensor([[False, True, True]])  # with causality query 0 sees nothing
    out = attend(q, k, v, keep, causal=True)
    assert out[0, 0, 0].abs().sum() == 0 and attention_probs(q, k, keep, True)[0, 0, 0].abs().sum() == 0
    out.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))
