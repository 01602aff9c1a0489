"""Tests for tinyattn_lab.counting against closed-form counts and models counted independently in the test."""

import re

import pytest
import torch
from conftest import tiny_model

from tinyattn_lab import TinyAttnConfig, TinyAttnModel, count_parameters, roberta_large_budget
from tinyattn_lab.counting import count_trainable, tiny_attention_formula


def closed_form(d: int, E: int) -> int:
    """LayerNorm 2d + qkv (d*3E + 3E) + out (E*d + d) = 3d + 4dE + 3E."""
    return 2 * d + (d * 3 * E + 3 * E) + (E * d + d)


def numel(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("num_heads,head_dim", [(1, 1), (4, 1), (2, 3), (8, 2)])
@pytest.mark.parametrize("model_type", ["bert", "roberta", "distilbert", "albert"])
def test_count_parameters_closed_form(model_type, num_heads, head_dim):
    """Oracle: num_layers * (3d + 4dE + 3E); the head and backbone are counted on the model before wrapping."""
    model = tiny_model(model_type)
    d = 16
    backbone = numel(model.base_model)
    head = sum(numel(getattr(model, n)) for n, m in model.named_children() if m is not model.base_model)
    layers = 1 if model_type == "albert" else 2
    wrapped = TinyAttnModel(model, TinyAttnConfig(num_heads=num_heads, head_dim=head_dim))
    count = count_parameters(wrapped)
    E = num_heads * head_dim
    assert count.adapter == layers * closed_form(d, E) == layers * (3 * d + 4 * d * E + 3 * E)
    assert tiny_attention_formula(d, E) == closed_form(d, E)
    assert count.head == head
    assert count.backbone == backbone
    assert count.trainable == count.adapter + count.head
    assert count.total == backbone + count.adapter + head
    assert count.trainable_percent == pytest.approx(100 * count.trainable / count.total)
    assert count_trainable(wrapped)[0] == count.trainable


def test_count_with_layer_subset_and_no_adapter():
    """Oracle: one adapted layer costs one closed form; no active adapter means nothing of it is counted."""
    model = tiny_model("bert")
    backbone = numel(model.base_model)
    wrapped = TinyAttnModel(model)
    bare = count_parameters(wrapped)
    assert (bare.adapter, bare.head, bare.trainable, bare.backbone) == (0, 0, 0, backbone)
    wrapped.add_adapter("one", TinyAttnConfig(num_heads=2, layers=[0]))
    wrapped.add_adapter("all", TinyAttnConfig(num_heads=2))
    wrapped.set_adapter("one")
    one = count_parameters(wrapped)
    assert one.adapter == closed_form(16, 2)
    assert one.backbone == backbone  # other adapters are not counted as backbone
    assert one.trainable == one.adapter + one.head == one.adapter + 16 * 2 + 2


def test_roberta_large_budget():
    """Oracle: 24 * (3*1024 + 4*1024 + 3) + (1024*2 + 2), and RobertaModel counted here on the meta device."""
    from transformers import RobertaConfig, RobertaModel

    count = roberta_large_budget()
    assert count.adapter == 24 * (3 * 1024 + 4 * 1024 + 3) == 24 * 7171
    assert count.head == 1024 * 2 + 2
    assert count.trainable == 24 * (3 * 1024 + 4 * 1024 + 3) + (1024 * 2 + 2)
    config = RobertaConfig(vocab_size=50265, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                           intermediate_size=4096, max_position_embeddings=514, type_vocab_size=1)
    with torch.device("meta"):
        backbone = RobertaModel(config, add_pooling_layer=False)
    assert count.backbone == numel(backbone)
    assert 354_000_000 < count.backbone < 356_000_000  # RoBERTa-large without its LM head: about 355M
    assert count.total == count.backbone + count.trainable
    assert 0.045 <= count.trainable_percent < 0.055
    assert round(count.trainable_percent, 2) == 0.05


def test_roberta_large_budget_scales_with_width():
    """Oracle: the closed form at E = heads * head_dim for every one of the 24 layers."""
    count = roberta_large_budget(num_heads=4, head_dim=2, num_labels=3)
    assert count.adapter == 24 * closed_form(1024, 8)
    assert count.head == 1024 * 3 + 3


def parse_peft_line(line: str) -> tuple[int, int, float]:
    match = re.fullmatch(r"trainable params: ([\d,]+) \|\| all params: ([\d,]+) \|\| trainable%: ([\d.]+)", line)
    assert match, line
    return int(match[1].replace(",", "")), int(match[2].replace(",", "")), float(match[3])


def test_print_trainable_parameters_peft_format(capsys):
    """Oracle: PEFT's line format, with numbers from the closed form and the model counted before wrapping."""
    model = tiny_model("roberta")
    backbone = numel(model.base_model)
    wrapped = TinyAttnModel(model, TinyAttnConfig(num_heads=4, linear_head=True))
    wrapped.print_trainable_parameters()
    lines = capsys.readouterr().out.splitlines()
    trainable, total, percent = parse_peft_line(lines[0])
    expected_trainable = 2 * closed_form(16, 4) + (16 * 2 + 2)
    assert trainable == expected_trainable
    assert total == backbone + expected_trainable
    assert percent == pytest.approx(100 * trainable / total, abs=5e-5)
    numbers = [int(n.replace(",", "")) for n in re.findall(r"[\d,]+\d", lines[1])]
    assert numbers == [2 * closed_form(16, 4), 16 * 2 + 2, backbone]
