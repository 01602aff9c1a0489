"""Tests for tinyattn_lab.averaging.select_heads: keeping some heads of a trained adapter as a sub-mixture of experts."""

import pytest
import torch
from conftest import adapter_logits, padded_batch, sharp_adapter_model

from tinyattn_lab import average_heads, count_parameters, expand_heads
from tinyattn_lab.averaging import select_heads
from tinyattn_lab.counting import tiny_attention_formula

BATCHES = [padded_batch(3, 7, seed=0), padded_batch(4, 6, seed=1)]


@pytest.mark.parametrize("order", [[0, 1, 2, 3], [3, 1, 0, 2]])
def test_keeping_every_head_reproduces_the_adapter(order):
    """Oracle: the adapter itself. All heads kept (scale h/h = 1), in any order: the sum over heads is unchanged."""
    model = sharp_adapter_model(num_heads=4)
    kept = select_heads(model, "default", order)
    for b in BATCHES:
        torch.testing.assert_close(adapter_logits(model, b, kept), adapter_logits(model, b, "default"), atol=1e-6, rtol=0)


@pytest.mark.parametrize("heads", [[2], [0, 3], [1, 2, 3]])
def test_identical_experts_any_subset_is_the_same_function(heads):
    """Oracle: the single head the experts were cloned from; the h/k scaling keeps the update's size."""
    model = sharp_adapter_model(num_heads=1, head_dim=2)
    multi = expand_heads(model, "default", num_heads=4, noise_std=0.0)
    kept = select_heads(model, multi, heads, "kept")
    assert kept == "kept" and model.peft_config[kept].num_heads == len(heads)
    for b in BATCHES:
        torch.testing.assert_close(adapter_logits(model, b, kept), adapter_logits(model, b, "default"), atol=1e-6, rtol=0)


def test_weights_are_the_kept_slices_scaled_by_h_over_k():
    """Oracle: slices cut by hand from the source adapter's weights (head_dim 2, so rows come in pairs)."""
    h, e = 4, 2
    model = sharp_adapter_model(num_heads=h, head_dim=e)
    kept = select_heads(model, "default", [3, 1])
    for layer in model.tiny_layers:
        src, dst = layer["default"], layer[kept]
        d = src.qkv.in_features
        rows = [part * h * e + j * e + i for part in range(3) for j in (3, 1) for i in range(e)]
        torch.testing.assert_close(dst.qkv.weight, src.qkv.weight[rows])
        torch.testing.assert_close(dst.qkv.bias, src.qkv.bias[rows])
        cols = [j * e + i for j in (3, 1) for i in range(e)]
        torch.testing.assert_close(dst.out.weight, src.out.weight[:, cols] * (h / 2))
        torch.testing.assert_close(dst.out.bias, src.out.bias)
        torch.testing.assert_close(dst.norm.weight, src.norm.weight)
        assert dst.out.weight.shape == (d, 2 * e)


def test_average_of_kept_heads_is_the_average_of_those_experts():
    """select_heads then average_heads: mean q/k/v rows of the kept heads, output h * mean of their columns."""
    h = 4
    model = sharp_adapter_model(num_heads=h)
    averaged = average_heads(model, select_heads(model, "default", [0, 2]))
    for layer in model.tiny_layers:
        src, dst = layer["default"], layer[averaged]
        w = src.qkv.weight.view(3, h, -1)
        torch.testing.assert_close(dst.qkv.weight, w[:, [0, 2]].mean(1))
        torch.testing.assert_close(dst.out.weight, h * src.out.weight[:, [0, 2]].mean(1, keepdim=True))


def test_selected_adapter_counts_like_the_closed_form():
    model = sharp_adapter_model(num_heads=4, head_dim=2)
    model.set_adapter(select_heads(model, "default", [0, 1, 2]))
    count = count_parameters(model)
    assert count.adapter == len(model.tiny_layers) * tiny_attention_formula(model.hidden_size, 3 * 2)


@pytest.mark.parametrize("heads", [[], [0, 0], [4], [-1]])
def test_bad_head_lists_are_refused(heads):
    model = sharp_adapter_model(num_heads=4)
    with pytest.raises(ValueError, match="distinct indices"):
        select_heads(model, "default", heads)
    assert list(model.peft_config) == ["default"]  # nothing half-added
