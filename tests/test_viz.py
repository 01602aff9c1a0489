"""Tests for tinyattn_lab.viz: bertviz format oracles (shapes, trimming, head order), the statistics, and the figures
(how many axes, closed so a notebook shows them once). Tiny random models only: fast."""

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from conftest import padded_batch, tiny_model

from tinyattn_lab import TinyAttnConfig, TinyAttnModel, expand_heads
from tinyattn_lab import viz

TOKENS = [f"t{i}" for i in range(7)]


def recorded(num_heads=3, head_dim=1, batch=None, seed=0):
    """(model, batch, adapter maps, backbone maps) of a tiny eager bert with a sharp random adapter."""
    torch.manual_seed(seed)
    base = tiny_model("bert", seed=seed)
    base.set_attn_implementation("eager")
    model = TinyAttnModel(base, TinyAttnConfig(num_heads=num_heads, head_dim=head_dim, init_scale=0.1)).eval()
    with torch.no_grad():
        for layer in model.tiny_layers:
            layer["default"].qkv.weight.normal_(0.0, 1.0)
    batch = batch or padded_batch(3, 7)
    with torch.no_grad(), model.record_attention() as maps:
        out = model(**batch, output_attentions=True)
    return model, batch, maps, out.attentions


def left_padded(batch):
    """The same rows with the padding moved to the left."""
    n = batch["attention_mask"].sum(1)
    ids, mask = torch.zeros_like(batch["input_ids"]), torch.zeros_like(batch["attention_mask"])
    T = ids.shape[1]
    for b in range(len(n)):
        ids[b, T - n[b]:] = batch["input_ids"][b, : n[b]]
        mask[b, T - n[b]:] = 1
    return {"input_ids": ids, "attention_mask": mask}


@pytest.mark.parametrize("pad", ["right", "left"])
def test_bertviz_format_trims_to_real_tokens(pad):
    batch = padded_batch(3, 7) if pad == "right" else left_padded(padded_batch(3, 7))
    _, batch, maps, _ = recorded(batch=batch)
    lengths = batch["attention_mask"].sum(1).tolist()
    assert lengths[0] < 7  # the first row is padded
    for index, n in enumerate(lengths):
        attention = viz.bertviz_attention(maps, index, batch["attention_mask"])
        assert isinstance(attention, tuple) and len(attention) == 2  # one per layer
        keep = torch.nonzero(batch["attention_mask"][index]).flatten()
        for layer, a in enumerate(attention):
            assert a.shape == (1, 3, n, n) and a.dtype == torch.float32
            torch.testing.assert_close(a[0], maps[layer][index][:, keep][:, :, keep])
            torch.testing.assert_close(a.sum(-1), torch.ones(1, 3, n))  # padded keys had no mass: rows still sum to 1


def test_no_mask_keeps_everything():
    _, _, maps, _ = recorded()
    assert viz.bertviz_attention(maps, 2)[0].shape == (1, 3, 7, 7)


def test_side_by_side_puts_adapter_heads_first():
    _, batch, maps, backbone = recorded(num_heads=3)
    both = viz.side_by_side(maps, backbone, 0, batch["attention_mask"])
    a = viz.bertviz_attention(maps, 0, batch["attention_mask"])
    b = viz.bertviz_attention(backbone, 0, batch["attention_mask"])
    n = int(batch["attention_mask"][0].sum())
    for layer in range(2):
        assert both[layer].shape == (1, 3 + 2, n, n)  # 3 adapter heads + the tiny bert's 2 heads
        torch.testing.assert_close(both[layer][:, :3], a[layer])
        torch.testing.assert_close(both[layer][:, 3:], b[layer])
    with pytest.raises(ValueError, match="adapter layers"):
        viz.side_by_side(maps[:1], backbone)


def test_bertviz_accepts_the_format():
    from bertviz import head_view, model_view

    _, batch, maps, backbone = recorded()
    both = viz.side_by_side(maps, backbone, 0, batch["attention_mask"])
    tokens = TOKENS[: both[0].shape[-1]]
    for view in (head_view, model_view):
        html = view(both, tokens, html_action="return")
        assert "<script" in html.data and len(html.data) > 1000


def fake_tokenizer(vocab):
    return SimpleNamespace(cls_token="[CLS]", sep_token="[SEP]", eos_token=None,
                           convert_ids_to_tokens=lambda ids: [vocab[i] for i in ids])


def test_example_tokens_and_sentence_b_start():
    vocab = ["[PAD]", "[CLS]", "[SEP]", "a", "b", "c"]
    batch = {"input_ids": torch.tensor([[1, 3, 2, 4, 5, 2, 0]]), "attention_mask": torch.tensor([[1] * 6 + [0]]),
             "token_type_ids": torch.tensor([[0, 0, 0, 1, 1, 1, 0]])}
    tokens, start = viz.example_tokens(fake_tokenizer(vocab), batch)
    assert tokens == ["[CLS]", "a", "[SEP]", "b", "c", "[SEP]"] and start == 3
    del batch["token_type_ids"]
    assert viz.example_tokens(fake_tokenizer(vocab), batch)[1] is None


def test_token_types_and_mass():
    vocab = ["[PAD]", "[CLS]", "[SEP]", "film", "##s", ".", "--", "n't"]
    tok = fake_tokenizer(vocab)
    assert viz.token_types(vocab[1:], tok) == [0, 1, 3, 3, 2, 2, 3]
    ids = torch.tensor([[1, 3, 4, 5, 2, 0], [1, 6, 7, 3, 5, 2]])
    mask = (ids != 0).long()
    uniform = mask[:, None, None, :].float().expand(2, 2, 6, 6) / mask.sum(1)[:, None, None, None]
    mass, share = viz.attention_mass([uniform, uniform], ids, mask, tok)
    assert mass.shape == (2, 2, 2, 4) and share.shape == (2, 4)
    np.testing.assert_allclose(mass.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(mass, np.broadcast_to(share[:, None, None], mass.shape), atol=1e-6)  # uniform = share
    np.testing.assert_allclose(share[0], [1 / 5, 1 / 5, 1 / 5, 2 / 5])
    on_cls = torch.zeros(2, 1, 6, 6)
    on_cls[..., 0] = 1.0
    mass, _ = viz.attention_mass([on_cls], ids, mask, tok)
    np.testing.assert_allclose(mass[..., 0], 1.0)


def test_rank1_factors_read_q_and_k_back():
    """Oracle: a map built from known width-1 queries and keys; a wider head is not rank 1."""
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(9, generator=g).double(), torch.randn(9, generator=g).double()
    q_hat, k_hat, s = viz.rank1_factors(torch.outer(q, k).softmax(-1))
    assert s[1] / s[0] < 1e-8
    truth = torch.outer(q, k - k.mean()).numpy()
    np.testing.assert_allclose(np.outer(q_hat, k_hat), truth, atol=1e-8)
    _, _, maps, _ = recorded(num_heads=2, head_dim=1)
    assert viz.rank1_factors(viz.bertviz_attention(maps, 2)[1][0, 0])[2][1] < 1e-5
    _, _, maps, _ = recorded(num_heads=1, head_dim=4)
    s = viz.rank1_factors(viz.bertviz_attention(maps, 2)[1][0, 0])[2]
    assert s[1] / s[0] > 1e-3


def test_expert_spread_grows_with_noise():
    torch.manual_seed(0)
    model = TinyAttnModel(tiny_model("bert"), TinyAttnConfig(init_scale=0.1))
    spreads = [viz.expert_spread(model, expand_heads(model, "default", 4, noise_std=s, new_adapter_name=f"n{i}"))
               for i, s in enumerate((0.0, 0.01, 0.1))]
    assert spreads[0] == 0.0 and 0 < spreads[1] < spreads[2]
    assert viz.expert_spread(model, "default") == 0.0  # one head is its own mean


def axes_of(fig):
    assert not plt.fignum_exists(fig.number)  # closed: a notebook shows the returned figure once
    return len(fig.axes)


def test_attention_heatmaps_grid():
    _, batch, maps, backbone = recorded(num_heads=3)
    attention = viz.side_by_side(maps, backbone, 0, batch["attention_mask"])
    tokens = TOKENS[: attention[0].shape[-1]]
    assert axes_of(viz.attention_heatmaps(attention, tokens)) == 2 * 5 + 1  # layers x heads + colour bar
    assert axes_of(viz.attention_heatmaps([a[0] for a in attention], tokens, layers=[1], heads=[0, 4])) == 2 + 1


def test_small_figures():
    _, _, maps, backbone = recorded()
    one = viz.bertviz_attention(maps, 2)[0][0, 0]
    assert axes_of(viz.rank1_figure(one, TOKENS, viz.bertviz_attention(backbone, 2)[0][0, 0])) == 4
    assert axes_of(viz.rank1_figure(one, TOKENS)) == 4
    assert axes_of(viz.gap_vs_spread([0, 0.01, 0.1], [0, 1e-4, 1e-2], {"recipe": (0.02, 3e-4)})) == 1
    assert axes_of(viz.bar_chart({"a": 0.8, "b": [1.0, 2.0, 3.0]}, "accuracy", baseline=0.5)) == 1
    assert axes_of(viz.bar_chart({"a": {"x": 0.1, "y": 0.9}, "b": {"x": 0.5, "y": 0.5}}, "mass")) == 1
    series = {"keep": [(4000, 0.7, "k=1"), (9000, 0.75, "k=2")], "grid": [(4000, 0.6, "e=1")]}
    assert axes_of(viz.metric_vs_params(series, "accuracy", baseline=0.5)) == 1
    assert axes_of(viz.logit_scatter(np.arange(5.0), np.arange(5.0) + 0.1)) == 1


def test_playground_figure():
    n, layers = 5, 2
    rand = lambda h: [torch.rand(h, n, n).softmax(-1) for _ in range(layers)]  # noqa: E731
    grid = [{"head_dim": e, "placement": p, "metric": 0.7, "adapter_params": 100 * e}
            for e in (1, 4) for p in ("after_attention", "parallel_ffn")]
    results = {"metric": "accuracy", "majority": 0.5, "grid": grid,
               "head_count": {"k": [1, 2, 3], "keep": [0.6, 0.7, 0.8], "average": [0.6, 0.55, 0.5]}}
    maps = {"tokens": TOKENS[:n], "keep": {k: rand(k) for k in (1, 2, 3)}, "average": {k: rand(1) for k in (1, 2, 3)},
            "grid": {(g["head_dim"], g["placement"]): rand(2) for g in grid}}
    assert axes_of(viz.playground(results, maps, 3, 4, "parallel_ffn", 1)) == 2 + 3 + 1 + 2
    assert axes_of(viz.playground(results, maps, 1, 1, "after_attention", 0)) == 2 + 1 + 1 + 2
    with pytest.raises(ValueError, match="No grid run"):
        viz.playground(results, maps, 1, 2, "after_attention", 0)
