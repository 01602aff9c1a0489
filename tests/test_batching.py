"""Tests for training/batching.py and its use in fit: length-grouped training batches, length-sorted evaluation."""

import math

import pytest
import torch
from conftest import tiny_model
from datasets import Dataset
from test_train import build, collate, run, toy_data, trainable_state
from torch.utils.data import DataLoader

from tinyattn_lab.training.batching import grouped_batches, row_lengths, sorted_batches
from tinyattn_lab.training.loop import TrainArgs, evaluate


def random_lengths(n: int, seed: int = 0) -> list[int]:
    return torch.randint(3, 120, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def spread(batches, lengths) -> float:
    """Mean over batches of (longest - shortest): the padding a batch carries."""
    return sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)


@pytest.mark.parametrize("n, batch_size, megabatch", [(1000, 16, 50), (37, 4, 3), (5, 8, 50), (64, 8, 2)])
def test_every_row_once_per_epoch(n, batch_size, megabatch):
    """Oracle: range(n) itself; ceil(n / batch_size) batches, every one full but at most one."""
    batches = grouped_batches(random_lengths(n), batch_size, torch.Generator().manual_seed(0), megabatch)
    assert sorted(i for b in batches for i in b) == list(range(n))
    assert len(batches) == math.ceil(n / batch_size)
    assert sum(len(b) != batch_size for b in batches) == (n % batch_size != 0)


def test_spread_smaller_than_random():
    """Oracle: the same rows batched in a plain random order carry several times more length spread."""
    lengths, batch_size = random_lengths(2000), 16
    grouped = grouped_batches(lengths, batch_size, torch.Generator().manual_seed(0))
    order = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(0)).tolist()
    plain = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    assert spread(grouped, lengths) < 0.2 * spread(plain, lengths)


def test_same_seed_same_order_and_shuffled():
    """Oracle: the batches of one seed, twice; another seed differs, and batch order is not sorted by length."""
    lengths = random_lengths(800)
    first = grouped_batches(lengths, 8, torch.Generator().manual_seed(3))
    assert first == grouped_batches(lengths, 8, torch.Generator().manual_seed(3))
    assert first != grouped_batches(lengths, 8, torch.Generator().manual_seed(4))
    longest = [max(lengths[i] for i in b) for b in first]
    assert longest != sorted(longest) and longest != sorted(longest, reverse=True)


def test_sorted_batches_cover_and_sort():
    """Oracle: Python's sorted on the lengths."""
    lengths = random_lengths(50)
    batches = sorted_batches(lengths, 8)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(50)) and [lengths[i] for i in flat] == sorted(lengths, reverse=True)


def test_lengths_need_input_ids():
    with pytest.raises(ValueError, match="input_ids"):
        row_lengths(Dataset.from_dict({"text": ["a"], "labels": [0]}))


@pytest.mark.parametrize("group_by_length", [True, False])
def test_resume_mid_epoch_is_exact(tmp_path, group_by_length):
    """Oracle: an uninterrupted run; stopping 3 batches into epoch 2 and resuming gives the same bits."""
    train, dev = toy_data(40, seed=0), toy_data(12, seed=1)
    args = TrainArgs(epochs=2, evals_per_epoch=2, batch_size=4, lr=1e-2, progress=False, seed=0,
                     group_by_length=group_by_length)  # 10 steps per epoch
    model_a = build()
    result_a = run(model_a, tmp_path / "a", train, dev, args)
    model_b = build()
    run(model_b, tmp_path / "b", train, dev, TrainArgs(**{**vars(args), "stop_after_steps": 13}))
    model_b = build()
    result_b = run(model_b, tmp_path / "b", train, dev, args)
    assert result_b["finished"] and result_b["history"] == result_a["history"]
    state_a, state_b = trainable_state(model_a), trainable_state(model_b)
    assert all(torch.equal(state_a[n], state_b[n]) for n in state_a)


def test_fit_pads_less_when_grouped(tmp_path):
    """Oracle: the padded tokens the collator builds, counted in the same run without grouping."""
    train, dev = toy_data(200, seed=0), toy_data(20, seed=1)
    padded = {}
    for group in (True, False):
        seen = []

        def counting(rows, seen=seen):
            batch = collate(rows)
            seen.append(batch["input_ids"].numel())
            return batch

        model = build()
        args = TrainArgs(epochs=1, batch_size=8, lr=1e-2, progress=False, seed=0, group_by_length=group)
        from tinyattn_lab.training.loop import fit

        fit(model, "sst2", train, {"validation": dev}, counting, args, tmp_path / str(group), lambda d: None)
        padded[group] = sum(seen)
    assert padded[True] < 0.9 * padded[False]


@pytest.mark.parametrize("task, num_labels", [("sst2", 2), ("stsb", 1)])
def test_sorted_evaluation_same_metrics(task, num_labels):
    """Oracle: evaluation in dataset order; sorting by length changes only the order (and padding) of the rows."""
    dev = toy_data(45, seed=2)
    if num_labels == 1:
        dev = dev.map(lambda row, i: {"labels": float(i % 5)}, with_indices=True)
    model = tiny_model("bert", num_labels=num_labels)
    plain = evaluate(model, task, {"validation": DataLoader(dev, 8, collate_fn=collate)})
    ordered = evaluate(model, task, {"validation": DataLoader(
        dev, batch_sampler=sorted_batches(row_lengths(dev), 8), collate_fn=collate)})
    assert plain.keys() == ordered.keys()
    for key in plain:  # padding changes the float sums a little; a random model's near-zero correlation shows it
        assert ordered[key] == pytest.approx(plain[key], abs=1e-5), key
    if num_labels == 2:
        assert ordered == plain  # counts of the same predictions: exactly equal
