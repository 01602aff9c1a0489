"""Tests for tinyattn_lab.averaging: heads as experts, expanded from one head and averaged back into one."""

import pytest
import torch
from conftest import adapter_logits, padded_batch, sharp_adapter_model, tiny_model

from tinyattn_lab import TinyAttnConfig, TinyAttnModel, average_heads, averaging_gap, expand_heads


BATCHES = [padded_batch(3, 7, seed=0), padded_batch(4, 6, seed=1)]


@pytest.mark.parametrize("head_dim", [1, 2])
def test_identical_experts_average_exactly(head_dim):
    """Oracle: the single head's logits; 4 identical experts and their average compute the same function."""
    model = sharp_adapter_model(head_dim=head_dim)
    single = [adapter_logits(model, b, "default") for b in BATCHES]
    multi = expand_heads(model, "default", num_heads=4, noise_std=0.0)
    assert model.peft_config[multi].num_heads == 4 and model.peft_config[multi].head_dim == head_dim
    for b, expected in zip(BATCHES, single):
        torch.testing.assert_close(adapter_logits(model, b, multi), expected, atol=1e-6, rtol=0)
    averaged = average_heads(model, multi)
    assert model.peft_config[averaged].num_heads == 1
    for b, expected in zip(BATCHES, single):
        torch.testing.assert_close(adapter_logits(model, b, averaged), expected, atol=1e-6, rtol=0)
    for src, dst in ((model.tiny_layers[i]["default"], model.tiny_layers[i][averaged]) for i in range(2)):
        for (name, a), (_, c) in zip(src.state_dict().items(), dst.state_dict().items()):
            torch.testing.assert_close(a, c, atol=1e-7, rtol=0, msg=name)
    gap = averaging_gap(model, BATCHES, multi, averaged)
    assert gap["relative_logit_gap"] < 1e-5
    assert gap["prediction_agreement"] == 1.0
    assert model.active_adapter == averaged  # averaging_gap restores the active adapter


def test_averaged_adapter_equals_hand_built_single_head():
    """Oracle: a 1-head adapter filled here from the multi-head weights (mean q/k/v rows, summed output columns)."""
    torch.manual_seed(0)
    model = TinyAttnModel(tiny_model("bert"), TinyAttnConfig(num_heads=3, head_dim=2, init_scale=0.5)).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.adapter_parameters("default"):
            p.add_(torch.randn(p.shape, generator=g) * 0.3)
    h, e = 3, 2
    averaged = average_heads(model, "default", "avg")
    assert averaged == "avg"

    model.add_adapter("by_hand", model.peft_config["default"].replace(num_heads=1))
    with torch.no_grad():
        for layer in model.tiny_layers:
            src, dst = layer["default"], layer["by_hand"]
            for part in range(3):  # query, key, value
                rows = [src.qkv.weight[(part * h + j) * e:(part * h + j + 1) * e] for j in range(h)]
                biases = [src.qkv.bias[(part * h + j) * e:(part * h + j + 1) * e] for j in range(h)]
                dst.qkv.weight[part * e:(part + 1) * e] = sum(rows) / h
                dst.qkv.bias[part * e:(part + 1) * e] = sum(biases) / h
            dst.out.weight.copy_(sum(src.out.weight[:, j * e:(j + 1) * e] for j in range(h)))
            dst.out.bias.copy_(src.out.bias)
            dst.norm.load_state_dict(src.norm.state_dict())
        model.model.classifier.copies["by_hand"].load_state_dict(model.model.classifier.copies["default"].state_dict())

    for layer in model.tiny_layers:
        for name, value in layer["by_hand"].state_dict().items():
            torch.testing.assert_close(layer["avg"].state_dict()[name], value, atol=1e-7, rtol=0, msg=name)
    for b in BATCHES:
        torch.testing.assert_close(adapter_logits(model, b, "avg"), adapter_logits(model, b, "by_hand"), atol=1e-6, rtol=0)
    # the heads really differ, so the average is not the multi-head function
    assert not torch.allclose(adapter_logits(model, BATCHES[0], "avg"), adapter_logits(model, BATCHES[0], "default"), atol=1e-6)


def test_gap_grows_with_expert_spread():
    """Oracle: the gap is second order in the spread of the experts (module docstring), so it grows with the noise."""
    model = sharp_adapter_model()
    gaps = []
    for i, noise in enumerate((1e-3, 1e-2, 1e-1)):
        multi = expand_heads(model, "default", num_heads=4, noise_std=noise, new_adapter_name=f"x4_{i}")
        averaged = average_heads(model, multi)
        gaps.append(averaging_gap(model, BATCHES, multi, averaged)["relative_logit_gap"])
    assert gaps[0] < 1e-3
    assert gaps[0] < gaps[1] < gaps[2]
    # O(spread^2): each 10x more noise gives about 100x the gap (more than 20x; a linear gap would give 10x)
    assert gaps[1] > 20 * gaps[0] and gaps[2] > 20 * gaps[1]


def test_expand_heads_noise_is_seeded():
    """Oracle: the same seed gives the same experts, another seed other experts."""
    model = sharp_adapter_model()
    a = expand_heads(model, "default", 4, noise_std=0.1, new_adapter_name="a", seed=0)
    b = expand_heads(model, "default", 4, noise_std=0.1, new_adapter_name="b", seed=0)
    c = expand_heads(model, "default", 4, noise_std=0.1, new_adapter_name="c", seed=1)
    layer = model.tiny_layers[0]
    assert torch.equal(layer[a].qkv.weight, layer[b].qkv.weight)
    assert not torch.equal(layer[a].qkv.weight, layer[c].qkv.weight)


def test_expand_heads_refuses_multi_head():
    """Oracle: the recipe starts from one head; a multi-head source or zero heads is refused, adding nothing."""
    model = TinyAttnModel(tiny_model("bert"), TinyAttnConfig(num_heads=2))
    with pytest.raises(ValueError, match="single-head"):
        expand_heads(model, "default", num_heads=4)
    single = TinyAttnModel(tiny_model("bert"), TinyAttnConfig())
    with pytest.raises(ValueError, match="num_heads"):
        expand_heads(single, "default", num_heads=0)
    assert set(single.peft_config) == {"default"}
