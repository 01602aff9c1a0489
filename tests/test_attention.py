"""Tests for tinyattn_lab.attention: the TinyAttention module against a naive loop written here, and the mask forms."""

import math

import pytest
import torch

from tinyattn_lab.attention import TinyAttention, key_padding_mask
from tinyattn_lab.config import TinyAttnConfig

D = 8  # hidden size of the toy inputs


def make_attention(num_heads=2, head_dim=1, dropout=0.0, init_scale=0.5, seed=0) -> TinyAttention:
    """A module with every parameter random and non-zero (LayerNorm affine and biases too), in eval mode."""
    torch.manual_seed(seed)
    module = TinyAttention(D, TinyAttnConfig(num_heads=num_heads, head_dim=head_dim, dropout=dropout,
                                             init_scale=init_scale))
    with torch.no_grad():
        module.qkv.weight.normal_(0.0, 0.5)  # larger than the 0.02 init so attention is far from uniform
        module.qkv.bias.normal_(0.0, 0.1)
        module.out.bias.normal_(0.0, 0.1)
        module.norm.weight.uniform_(0.5, 1.5)
        module.norm.bias.normal_(0.0, 0.1)
    return module.eval()


def inputs(batch=3, length=5, seed=1):
    """Random hidden states and a right-padded (B, T) 0/1 mask; the last row has no padding."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, length, D, generator=g)
    lengths = torch.tensor([max(1, length - 2 * i) for i in range(batch)][::-1])
    mask = (torch.arange(length)[None, :] < lengths[:, None]).long()
    return x, mask


def naive_tiny_attention(module: TinyAttention, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Loop reference: per batch row, head and query; LayerNorm by hand; qkv weight read as (3, h, e, d)."""
    B, T, d = x.shape
    h, e = module.num_heads, module.head_dim
    x = x.double()
    W = module.qkv.weight.detach().double().view(3, h, e, d)
    b = module.qkv.bias.detach().double().view(3, h, e)
    gamma, beta, eps = module.norm.weight.detach().double(), module.norm.bias.detach().double(), module.norm.eps
    out = torch.zeros(B, T, d, dtype=torch.float64)
    for i in range(B):
        rows = []
        for t in range(T):
            mean = x[i, t].mean()
            var = ((x[i, t] - mean) ** 2).mean()  # biased variance, as LayerNorm uses
            rows.append((x[i, t] - mean) / torch.sqrt(var + eps) * gamma + beta)
        normed = torch.stack(rows)  # (T, d)
        concat = torch.zeros(T, h * e, dtype=torch.float64)
        for j in range(h):
            q = normed @ W[0, j].T + b[0, j]  # (T, e)
            k = normed @ W[1, j].T + b[1, j]
            v = normed @ W[2, j].T + b[2, j]
            for t in range(T):
                scores = [float(q[t] @ k[s]) / math.sqrt(e) for s in range(T)]
                if mask is not None:
                    scores = [sc if mask[i, s] else -math.inf for s, sc in enumerate(scores)]
                top = max(scores)
                weights = [math.exp(sc - top) for sc in scores]
                total = sum(weights)
                concat[t, j * e:(j + 1) * e] = sum(w / total * v[s] for s, w in enumerate(weights))
        out[i] = concat @ module.out.weight.detach().double().T + module.out.bias.detach().double()
    return out.float()


@pytest.mark.parametrize("num_heads,head_dim", [(1, 1), (4, 1), (2, 3), (3, 2)])
@pytest.mark.parametrize("masked", [True, False])
def test_matches_naive_loop_reference(num_heads, head_dim, masked):
    """Oracle: the hand-written loop above (LayerNorm, per-head softmax attention, concat, projection)."""
    module = make_attention(num_heads, head_dim)
    x, mask = inputs()
    mask = mask if masked else None
    with torch.no_grad():
        got, probs = module(x, mask)
    assert probs is None
    expected = naive_tiny_attention(module, x, mask)
    assert got.shape == x.shape
    assert got.abs().max() > 1e-2  # a non-trivial update, not zeros
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("num_heads,head_dim", [(1, 1), (4, 1), (2, 3)])
def test_sdpa_path_equals_explicit_path(num_heads, head_dim):
    """Oracle: the explicit softmax path (return_attention=True); its probabilities are checked by definition."""
    module = make_attention(num_heads, head_dim)
    x, mask = inputs()
    with torch.no_grad():
        fast, none = module(x, mask)
        slow, probs = module(x, mask, return_attention=True)
    assert none is None
    torch.testing.assert_close(fast, slow, atol=1e-6, rtol=0)
    B, T, _ = x.shape
    assert probs.shape == (B, num_heads, T, T)
    torch.testing.assert_close(probs.sum(-1), torch.ones(B, num_heads, T))
    padded_keys = (mask == 0)[:, None, None, :].expand_as(probs)
    assert padded_keys.any()
    assert torch.all(probs[padded_keys] == 0)
    assert torch.all(probs[~padded_keys] > 0)


def mask_forms(mask: torch.Tensor) -> dict:
    """The same key-padding mask in every form transformers hands to its layers."""
    B, T = mask.shape
    keep4 = mask.bool()[:, None, None, :].expand(B, 1, T, T)
    additive = torch.zeros(B, 1, T, T).masked_fill(~keep4, torch.finfo(torch.float32).min)
    return {
        "2d long": mask.long(),
        "2d bool": mask.bool(),
        "4d bool": keep4.clone(),
        "4d additive float": additive,
        "4d int (deberta)": keep4.to(torch.int32),
        "4d additive half": additive.half().masked_fill(~keep4, torch.finfo(torch.float16).min),
    }


def test_key_padding_mask_all_forms_agree():
    """Oracle: the (B, T) 0/1 mask itself, as a boolean."""
    _, mask = inputs()
    expected = mask.bool()
    for name, form in mask_forms(mask).items():
        got = key_padding_mask(form)
        assert got.dtype == torch.bool, name
        assert got.shape == expected.shape, name
        assert torch.equal(got, expected), name
    assert key_padding_mask(None) is None


def test_key_padding_mask_rejects_3d():
    """Oracle: only (B, T) and (B, 1, Tq, T) are mask shapes; anything else is refused, naming the shape."""
    with pytest.raises(ValueError, match="shape"):
        key_padding_mask(torch.ones(2, 3, 3))


def test_module_output_identical_for_every_mask_form():
    """Oracle: the output under the plain 2-D mask; an all-ones mask gives the unmasked (None) output."""
    module = make_attention(4, 1)
    x, mask = inputs()
    with torch.no_grad():
        reference, _ = module(x, mask)
        for name, form in mask_forms(mask).items():
            assert torch.equal(module(x, form)[0], reference), name
        ones = torch.ones_like(mask)
        torch.testing.assert_close(module(x, ones)[0], module(x, None)[0], atol=1e-6, rtol=0)


def test_dropout_only_in_train_mode():
    """Oracle: in eval mode a dropout-0.5 module computes what the same weights with dropout 0 compute."""
    module = make_attention(4, 1, dropout=0.5)
    no_dropout = make_attention(4, 1, dropout=0.0)
    no_dropout.load_state_dict(module.state_dict())
    x, mask = inputs()
    with torch.no_grad():
        first, _ = module(x, mask)
        assert torch.equal(module(x, mask)[0], first)
        assert torch.equal(no_dropout(x, mask)[0], first)
        assert torch.equal(module(x, mask, return_attention=True)[0], module(x, mask, return_attention=True)[0])
        module.train()
        torch.manual_seed(0)
        a, _ = module(x, mask)
        b, _ = module(x, mask)
        assert not torch.allclose(a, b)
        c, _ = module(x, mask, return_attention=True)
        d, _ = module(x, mask, return_attention=True)
        assert not torch.allclose(c, d)


def test_zero_init_scale_is_exact_identity_update():
    """Oracle: with init_scale 0 the output projection is all zeros, so the update is exactly 0."""
    torch.manual_seed(0)
    module = TinyAttention(D, TinyAttnConfig(num_heads=3, head_dim=2, init_scale=0.0)).eval()
    x, mask = inputs()
    for return_attention in (False, True):
        out, _ = module(x, mask, return_attention=return_attention)
        assert torch.equal(out, torch.zeros_like(x))


def test_parameter_shapes():
    """Oracle: LayerNorm(d), Linear(d, 3E), Linear(E, d) with E = heads * head_dim."""
    module = TinyAttention(D, TinyAttnConfig(num_heads=3, head_dim=2))
    assert module.norm.weight.shape == (D,)
    assert module.qkv.weight.shape == (3 * 6, D)
    assert module.out.weight.shape == (D, 6)
    assert torch.equal(module.qkv.bias, torch.zeros(18)) and torch.equal(module.out.bias, torch.zeros(D))


@pytest.mark.parametrize("num_heads,head_dim", [(1, 1), (4, 2)])
def test_residual_sum_is_the_update_added_in_either_mode(num_heads, head_dim):
    """Oracle: residual + forward(x). Without autograd the sum is written into the residual (the deployment path)."""
    torch.manual_seed(0)
    module = TinyAttention(16, TinyAttnConfig(num_heads=num_heads, head_dim=head_dim, init_scale=0.3)).eval()
    with torch.no_grad():
        module.out.bias.normal_()
    x, residual = torch.randn(2, 5, 16), torch.randn(2, 5, 16)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    expected = residual + module(x, mask)[0].detach()
    with_grad = module(x, mask, residual=residual.clone())[0]
    torch.testing.assert_close(with_grad.detach(), expected)
    target = residual.clone()
    with torch.no_grad():
        fused = module(x, mask, residual=target)[0]
    torch.testing.assert_close(fused, expected)
    assert fused.data_ptr() == target.data_ptr()  # written in place: no new (B, T, d) tensor
