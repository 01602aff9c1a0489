"""Whole jobs: train a tiny-attention adapter on a GLUE task and write everything to one folder, or score a saved one.

A run folder holds `metrics.json` (best and per-evaluation dev metrics, parameter counts, wall time, examples/s),
`adapter/` (adapter_config.json + adapter_model.safetensors of the best evaluation) and `checkpoint/` (for resuming).
The CLI (cli.py) and the notebooks call these functions.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from ..backbones import DEFAULT_MODEL, load_backbone
from ..config import TinyAttnConfig
from ..counting import count_parameters
from ..data.glue import encode, get_task, load_glue, make_collator, resolve_data_dir, subsample
from ..data.metrics import majority_baseline
from ..model import TinyAttnModel
from ..saving import read_adapter_config, write_json
from .loop import TrainArgs, evaluate, fit


def quiet_progress_bars() -> None:
    """No datasets/transformers progress bars (logs and headless notebook runs keep the one-line summaries)."""
    import datasets
    from transformers.utils import logging

    datasets.disable_progress_bars()
    logging.disable_progress_bar()


def glue_splits(task, tokenizer, data_dir=None, train_size=None, eval_size=None, max_length=128, seed=42):
    """(train, {eval split: dataset}) tokenized, optionally subsampled (smoke runs use small real subsets).
    Dev subsets are drawn with seed 0 whatever the training seed, so every run and `evaluate` score the same ones."""
    task = get_task(task)
    data = load_glue(task, data_dir, splits=["train", *task.eval_splits])
    train = encode(subsample(data["train"], train_size, seed), tokenizer, task, max_length)
    evals = {s: encode(subsample(data[s], eval_size, 0), tokenizer, task, max_length) for s in task.eval_splits}
    return train, evals


def train_adapter(task: str, output, config: TinyAttnConfig | None = None, args: TrainArgs | None = None,
                  model_name: str = DEFAULT_MODEL, data_dir=None, train_size: int | None = None,
                  eval_size: int | None = None, max_length: int = 128) -> dict:
    """Train one adapter on one GLUE task; returns (and writes to output/metrics.json) the run's metrics."""
    task, config, args, output = get_task(task), config or TinyAttnConfig(), args or TrainArgs(), Path(output)
    resolve_data_dir(data_dir)  # a wrong data folder fails here, before the backbone is loaded
    started = time.perf_counter()
    if not args.progress:
        quiet_progress_bars()
    torch.manual_seed(args.seed)  # the fresh classifier and the adapter's init; fit seeds data order and dropout
    backbone, tokenizer = load_backbone(model_name, num_labels=task.num_labels)
    model = TinyAttnModel(backbone, config)
    train, evals = glue_splits(task, tokenizer, data_dir, train_size, eval_size, max_length, args.seed)
    output.mkdir(parents=True, exist_ok=True)
    save = lambda directory: model.save_pretrained(directory, task=task.name, model_name=model_name,  # noqa: E731
                                                   max_length=max_length)
    result = fit(model, task, train, evals, make_collator(tokenizer), args, output, save)
    counts = count_parameters(model)
    metrics = {
        "task": task.name,
        "model": model_name,
        "method": "tiny_attention",
        "tinyattn": config.to_dict(),
        "train_examples": len(train),
        "eval_examples": {s: len(d) for s, d in evals.items()},
        "majority_baseline": {s: majority_baseline(task, list(d["labels"]), list(train["labels"]))
                              for s, d in evals.items()},
        "parameters": {**asdict(counts), "total": counts.total, "trainable_percent": counts.trainable_percent},
        "wall_seconds": time.perf_counter() - started,
        **result,
    }
    write_json(output / "metrics.json", metrics)
    return metrics


def evaluate_adapter(adapter_dir, data_dir=None, split: str | None = None, eval_size: int | None = None,
                     model_name: str | None = None, batch_size: int = 128) -> dict:
    """Score a saved adapter on its task's dev split(s) (or `split`), on the backbone it was saved for."""
    document = read_adapter_config(adapter_dir)
    task = get_task(document["task"])
    resolve_data_dir(data_dir)  # a wrong data folder fails here, before the backbone is loaded
    backbone, tokenizer = load_backbone(model_name or document.get("model_name", DEFAULT_MODEL), task.num_labels)
    model = TinyAttnModel.from_pretrained(backbone, adapter_dir)
    splits = [split] if split else list(task.eval_splits)
    data = load_glue(task, data_dir, splits=splits)
    max_length = document.get("max_length", 128)
    loaders = {s: DataLoader(encode(subsample(data[s], eval_size, 0), tokenizer, task, max_length), batch_size,
                             collate_fn=make_collator(tokenizer)) for s in splits}
    return {"task": task.name, "adapter": str(adapter_dir), **evaluate(model, task, loaders)}

