"""A regression head starts at the training labels' mean (training/loop.start_at_label_mean): for every method's
head exactly its output bias moves, and fit applies it unless told not to. Why: docs/baselines.md (STS-B)."""

import pytest
import torch
from conftest import tiny_model
from datasets import Dataset
from test_train import collate

from tinyattn_lab import TinyAttnConfig, TinyAttnModel
from tinyattn_lab.baselines.methods import METHODS, build
from tinyattn_lab.heads import regression_output_biases
from tinyattn_lab.training.loop import TrainArgs, fit, start_at_label_mean

LABELS = [0.5, 2.0, 4.5, 5.0]  # mean 3.0


def changed_by_start(model) -> dict:
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    start_at_label_mean(model, LABELS)
    return {n: p.detach() for n, p in model.named_parameters() if not torch.equal(p, before[n])}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_only_the_heads_output_bias_moves(name):
    """Oracle: the one trainable parameter of the head with one output per class is its bias; it becomes 3.0."""
    model = build(name, tiny_model(num_labels=1)).model
    changed = changed_by_start(model)
    assert len(changed) == 1, sorted(changed)
    (name_, value), = changed.items()
    assert name_.endswith("bias") and torch.equal(value, torch.tensor([3.0]))
    assert dict(model.named_parameters())[name_].requires_grad


def test_linear_head_and_classification():
    linear = TinyAttnModel(tiny_model(num_labels=1), TinyAttnConfig(linear_head=True))
    assert list(changed_by_start(linear).values()) == [torch.tensor([3.0])]
    with pytest.raises(ValueError, match="no-head-bias-at-mean"):  # a two-class head has no one-output map
        start_at_label_mean(TinyAttnModel(tiny_model(num_labels=2), TinyAttnConfig()), LABELS)


@pytest.mark.parametrize("on,expected", [(True, 3.0), (False, 0.0)])
def test_fit_starts_at_the_mean(on, expected, tmp_path):
    """Oracle: at a learning rate of 1e-9 one step leaves the bias where fit put it before training."""
    data = Dataset.from_dict({"input_ids": [[2, 11, 12], [2, 13], [2, 14, 15, 16], [2, 17]], "labels": LABELS})
    torch.manual_seed(0)
    model = TinyAttnModel(tiny_model(num_labels=1), TinyAttnConfig())
    args = TrainArgs(epochs=1, batch_size=4, lr=1e-9, head_bias_at_mean=on, progress=False)
    fit(model, "stsb", data, {"validation": data}, collate, args, tmp_path, lambda directory: None)
    (bias,) = regression_output_biases(model)
    assert bias.item() == pytest.approx(expected, abs=1e-6)
