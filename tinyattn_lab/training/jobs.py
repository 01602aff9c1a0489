"""Whole jobs: train a tiny-attention adapter on a GLUE task or your own data (data/files.py) and write everything to
one folder, or score a saved one.

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
from ..data.files import FileTask, adapter_task, file_rows, file_splits
from ..data.glue import encode, get_task, load_glue, make_collator, subsample
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


def task_rows(task, data_dir=None, train_size=None, eval_size=None, seed=42):
    """(train rows, {eval split: rows}) of a GLUE task or a data.files.FileTask, untokenized, optionally subsampled.
    Dev subsets are drawn with seed 0 whatever the training seed, so every run and `evaluate` score the same ones."""
    task = get_task(task)
    if isinstance(task, FileTask):
        data = file_splits(task)
    else:
        data = load_glue(task, data_dir, splits=["train", *task.eval_splits])
    return subsample(data["train"], train_size, seed), {s: subsample(data[s], eval_size, 0) for s in task.eval_splits}


def glue_splits(task, tokenizer, data_dir=None, train_size=None, eval_size=None, max_length=128, seed=42):
    """(train, {eval split: dataset}) tokenized (see task_rows; smoke runs use small real subsets)."""
    train, evals = task_rows(task, data_dir, train_size, eval_size, seed)
    return encode_rows(task, train, evals, tokenizer, max_length)


def encode_rows(task, train, evals: dict, tokenizer, max_length=128):
    return encode(train, tokenizer, task, max_length), {s: encode(d, tokenizer, task, max_length)
                                                        for s, d in evals.items()}


def train_adapter(task, output, config: TinyAttnConfig | None = None, args: TrainArgs | None = None,
                  model_name: str = DEFAULT_MODEL, data_dir=None, train_size: int | None = None,
                  eval_size: int | None = None, max_length: int = 128) -> dict:
    """Train one adapter on a GLUE task (a name) or your own data (a data.files.FileTask); returns (and writes to
    output/metrics.json) the run's metrics. Nothing is written until the data and options have been checked."""
    task, config, args, output = get_task(task), config or TinyAttnConfig(), args or TrainArgs(), Path(output)
    started = time.perf_counter()
    if not args.progress:
        quiet_progress_bars()
    rows = task_rows(task, data_dir, train_size, eval_size, args.seed)  # bad data fails before the backbone loads
    torch.manual_seed(args.seed)  # the fresh classifier and the adapter's init; fit seeds data order and dropout
    backbone, tokenizer = load_backbone(model_name, num_labels=task.num_labels)
    model = TinyAttnModel(backbone, config)
    train, evals = encode_rows(task, *rows, tokenizer, max_length)
    where = {"data": task.record()} if isinstance(task, FileTask) else {}
    output.mkdir(parents=True, exist_ok=True)
    save = lambda directory: model.save_pretrained(directory, task=task.name, model_name=model_name,  # noqa: E731
                                                   max_length=max_length, **where)
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
        **where,
        **result,
    }
    write_json(output / "metrics.json", metrics)
    return metrics


def evaluate_adapter(adapter_dir, data_dir=None, split: str | None = None, eval_size: int | None = None,
                     model_name: str | None = None, batch_size: int = 128, file=None) -> dict:
    """Score a saved adapter on its task's dev split(s) (or `split`), on the backbone it was saved for. An adapter
    trained on your own data is scored on its recorded validation rows, or on all rows of `file`."""
    document = read_adapter_config(adapter_dir)
    task = adapter_task(document)
    if file is not None and not isinstance(task, FileTask):
        raise ValueError(f"{adapter_dir} was trained on GLUE {task.name}: score it on its dev set (no file), "
                         f"--file is for adapters trained on your own data.")
    if file is not None:
        data = {"file": file_rows(task, file)}
    elif isinstance(task, FileTask):
        if split not in (None, *task.eval_splits, "train"):
            raise ValueError(f"{task.name} has the splits train and validation, not {split!r}.")
        data = file_splits(task)
    else:
        data = load_glue(task, data_dir, splits=[split] if split else list(task.eval_splits))
    splits = ["file"] if file is not None else [split] if split else list(task.eval_splits)
    backbone, tokenizer = load_backbone(model_name or document.get("model_name", DEFAULT_MODEL), task.num_labels)
    model = TinyAttnModel.from_pretrained(backbone, adapter_dir)
    max_length = document.get("max_length", 128)
    loaders = {s: DataLoader(encode(subsample(data[s], eval_size, 0), tokenizer, task, max_length), batch_size,
                             collate_fn=make_collator(tokenizer)) for s in splits}
    return {"task": task.name, "adapter": str(adapter_dir), **({"file": str(file)} if file else {}),
            **evaluate(model, task, loaders)}
