"""Tests for tinyattn_lab.train: exact resume from a checkpoint, and a toy signal learned above the majority."""

import json

import pytest
import torch
from conftest import tiny_model
from datasets import Dataset
from torch.utils.data import DataLoader

from tinyattn_lab import TinyAttnConfig, TinyAttnModel
from tinyattn_lab.data.metrics import majority_baseline
from tinyattn_lab.training.loop import TrainArgs, evaluate, fit

SIGNAL = 7  # the label says whether this token id occurs in the sentence


def toy_data(n: int, seed: int) -> Dataset:
    """Sentences of random ids 10..99 after a [CLS]-like 2; every other one has SIGNAL somewhere, and label 1."""
    g = torch.Generator().manual_seed(seed)
    ids, labels = [], []
    for i in range(n):
        length = int(torch.randint(4, 10, (1,), generator=g))
        sentence = torch.randint(10, 100, (length,), generator=g).tolist()
        label = i % 2
        if label:
            sentence[int(torch.randint(0, length, (1,), generator=g))] = SIGNAL
        ids.append([2, *sentence])
        labels.append(label)
    return Dataset.from_dict({"input_ids": ids, "labels": labels})


def collate(rows: list[dict]) -> dict:
    """Right-pad with 0 to the longest row, with the matching attention mask."""
    length = max(len(r["input_ids"]) for r in rows)
    input_ids = torch.zeros(len(rows), length, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    for i, r in enumerate(rows):
        input_ids[i, :len(r["input_ids"])] = torch.tensor(r["input_ids"])
        attention_mask[i, :len(r["input_ids"])] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask,
            "labels": torch.tensor([r["labels"] for r in rows])}


def build(seed=0, **config) -> TinyAttnModel:
    torch.manual_seed(seed)
    return TinyAttnModel(tiny_model("bert", seed=seed), TinyAttnConfig(**{"init_scale": 0.1, **config}))


def run(model, output, train, dev, args):
    return fit(model, "sst2", train, {"validation": dev}, collate, args, output, lambda d: model.save_pretrained(d))


def trainable_state(model) -> dict:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def test_resume_is_exact(tmp_path):
    """Oracle: an uninterrupted run; stopping half way and resuming on a fresh model gives the same bits."""
    train, dev = toy_data(32, seed=0), toy_data(12, seed=1)
    args = TrainArgs(epochs=2, evals_per_epoch=2, batch_size=4, lr=1e-2, progress=False, seed=0)  # 16 steps

    model_a = build()
    result_a = run(model_a, tmp_path / "a", train, dev, args)
    assert result_a["finished"] and result_a["steps"] == result_a["total_steps"] == 16
    assert [r["step"] for r in result_a["history"]] == [4, 8, 12, 16]

    model_b = build()
    first = run(model_b, tmp_path / "b", train, dev, TrainArgs(**{**vars(args), "stop_after_steps": 8}))
    assert not first["finished"] and first["steps"] == 8
    assert (tmp_path / "b" / "checkpoint" / "trainer_state.json").is_file()
    halfway = trainable_state(model_b)

    model_b = build()  # a new process would start from a fresh model
    result_b = run(model_b, tmp_path / "b", train, dev, args)
    assert result_b["finished"] and result_b["steps"] == 16

    state_a, state_b = trainable_state(model_a), trainable_state(model_b)
    assert state_a.keys() == state_b.keys() and state_a
    for name in state_a:
        assert torch.equal(state_a[name], state_b[name]), name
    assert any(not torch.equal(halfway[n], state_b[n]) for n in halfway)  # the second half did train
    assert result_b["history"] == result_a["history"]  # same steps, losses and dev metrics, bit for bit
    assert result_b["best"] == result_a["best"]


def test_best_adapter_is_saved(tmp_path):
    """Oracle: the best record's dev accuracy, recomputed from the saved adapter on a fresh backbone."""
    train, dev = toy_data(32, seed=0), toy_data(12, seed=1)
    model = build()
    result = run(model, tmp_path, train, dev, TrainArgs(epochs=1, evals_per_epoch=2, batch_size=4, lr=1e-2,
                                                        progress=False, seed=0))
    best = result["best"]
    assert best["accuracy"] == max(r["accuracy"] for r in result["history"])
    loaded = TinyAttnModel.from_pretrained(tiny_model("bert", seed=0), tmp_path / "adapter")
    metrics = evaluate(loaded, "sst2", {"validation": DataLoader(dev, 8, collate_fn=collate)})
    assert metrics["accuracy"] == pytest.approx(best["accuracy"])
    checkpoint = json.loads((tmp_path / "checkpoint" / "trainer_state.json").read_text())
    assert checkpoint["progress"]["step"] == 8


def test_learns_toy_signal_above_majority(tmp_path):
    """Oracle: the majority-class baseline on the dev set; the adapter must learn where token 7 is."""
    train, dev = toy_data(128, seed=0), toy_data(64, seed=1)
    baseline = majority_baseline("sst2", dev["labels"], train["labels"])["accuracy"]
    model = build(num_heads=2, head_dim=4, dropout=0.0)
    args = TrainArgs(epochs=6, batch_size=16, lr=3e-2, warmup_ratio=0.0, progress=False, seed=0)
    result = run(model, tmp_path, train, dev, args)
    history = result["history"]
    assert baseline == 0.5
    assert result["best"]["accuracy"] >= baseline + 0.2
    assert history[-1]["loss"] < 0.8 * history[0]["loss"]


def test_no_trainable_parameters_refused(tmp_path):
    """Oracle: a wrapper without an adapter has no trainable parameter, so fit refuses to start."""
    model = TinyAttnModel(tiny_model("bert"))  # no adapter: everything frozen
    with pytest.raises(ValueError, match="no trainable parameters"):
        run(model, tmp_path, toy_data(4, 0), toy_data(4, 1), TrainArgs(progress=False))
