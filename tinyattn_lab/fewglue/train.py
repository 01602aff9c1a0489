"""Training on FewGLUE's 32 examples and scoring on the validation set, for either path (cloze.py, head.py).

Both scorers turn one example into one row of scores, one score per label (COPA: per answer); training is
cross-entropy over those scores, and a model is scored by the official metrics of its argmax predictions
(metrics.py). FewShotArgs holds the tiny-attention reference few-shot recipe (paper notes 3.2).
Notebook: notebooks/08_fewglue.ipynb.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .metrics import fewglue_metrics, task_score
from .tasks import get_fewglue_task


@dataclass
class FewShotArgs:
    """Training settings for the 32-example runs. Defaults follow the tiny-attention reference few-shot recipe
    (paper notes 3.2: batch size 1, lr 1e-3, weight decay 0.02, constant schedule, 20 epochs, clip 1.0), with the
    data order reshuffled every epoch (the reference's shuffle was a no-op)."""

    epochs: int = 20
    batch_size: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.02
    schedule: str = "constant"  # constant | linear | cosine
    warmup_steps: int = 0
    max_grad_norm: float = 1.0
    max_length: int = 256
    eval_batch_size: int = 64
    loss: str = "labels"  # cloze only: "labels" = PET's CE over the verbalizer tokens; "vocab" = reference's full-vocab CE
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5])


def collate(features: list[dict], pad_id: int) -> dict:
    seqs = [s for f in features for s in f["seqs"]]
    types = [t for f in features for t in f["types"]]
    width = max(map(len, seqs))
    batch = {
        "input_ids": torch.tensor([s + [pad_id] * (width - len(s)) for s in seqs]),
        "attention_mask": torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs]),
        "labels": torch.tensor([f["label"] for f in features]),
        "num_choices": len(features[0]["seqs"]),
    }
    if all(t is not None for t in types):
        batch["token_type_ids"] = torch.tensor([t + [0] * (width - len(t)) for t in types])
    if "mask_positions" in features[0]:
        m = max(len(f["mask_positions"]) for f in features)
        batch["mask_positions"] = torch.tensor([f["mask_positions"] + [0] * (m - len(f["mask_positions"]))
                                                for f in features])
        batch["candidates"] = torch.tensor([[c + [-1] * (m - len(c)) for c in f["candidates"]] for f in features])
    return batch


def few_shot_loss(scores: torch.Tensor, labels: torch.Tensor, loss: str = "labels") -> torch.Tensor:
    """"labels": cross-entropy over the candidates (PET); "vocab": negative log-likelihood of the gold candidate under
    the full-vocabulary distribution (the tiny-attention reference code's MLM loss; cloze scores only)."""
    if loss == "labels":
        return F.cross_entropy(scores, labels)
    if loss == "vocab":
        return -scores.gather(1, labels[:, None]).mean()
    raise ValueError(f"unknown loss {loss!r}; use 'labels' or 'vocab'")


def train_few_shot(model: nn.Module, features: list[dict], args: FewShotArgs, seed: int, pad_id: int,
                   log=None) -> dict:
    """Train the model's trainable parameters on `features`; returns the per-step and per-epoch losses."""
    from transformers import get_scheduler

    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("nothing to train: no parameter requires a gradient (is an adapter active?)")
    steps_per_epoch = math.ceil(len(features) / args.batch_size)
    total = steps_per_epoch * args.epochs
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    scheduler = get_scheduler(args.schedule, optimizer, num_warmup_steps=args.warmup_steps,
                              num_training_steps=total)
    order = torch.Generator().manual_seed(seed)
    model.train()
    step_losses, epoch_losses = [], []
    started = time.perf_counter()
    for epoch in range(args.epochs):
        permutation = torch.randperm(len(features), generator=order).tolist()  # a new order every epoch
        losses = []
        for start in range(0, len(features), args.batch_size):
            batch = collate([features[i] for i in permutation[start:start + args.batch_size]], pad_id)
            loss = few_shot_loss(model(**batch), batch["labels"], args.loss)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, args.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
        step_losses += losses
        epoch_losses.append(float(np.mean(losses)))
        if log:
            log(f"seed {seed} epoch {epoch + 1}/{args.epochs} loss {epoch_losses[-1]:.4f}")
    model.eval()
    return {"epoch_loss": epoch_losses, "step_loss": step_losses, "train_seconds": time.perf_counter() - started,
            "steps": total}


@torch.no_grad()
def predict_scores(model: nn.Module, features: list[dict], pad_id: int, batch_size: int = 64) -> np.ndarray:
    """(N, C) scores, batched by length (the rows come back in the features' order)."""
    was_training = model.training
    model.eval()
    order = sorted(range(len(features)), key=lambda i: max(map(len, features[i]["seqs"])))
    out = np.zeros((len(features), 0), dtype=np.float32)
    chunks = []
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        chunks.append((idx, model(**collate([features[i] for i in idx], pad_id)).float().cpu().numpy()))
    if chunks:
        out = np.zeros((len(features), chunks[0][1].shape[1]), dtype=np.float32)
        for idx, scores in chunks:
            out[idx] = scores
    model.train(was_training)
    return out


def score(task, features: list[dict], scores: np.ndarray, questions=None) -> dict:
    """Official metrics of argmax predictions, plus the SuperGLUE task score under "score"."""
    task = get_fewglue_task(task)
    labels = np.array([f["label"] for f in features])
    metrics = fewglue_metrics(task.name, scores.argmax(1), labels, questions)
    return {**metrics, "score": task_score(task.name, metrics)}
