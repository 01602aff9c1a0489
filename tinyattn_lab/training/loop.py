"""One training loop for every method: AdamW, warmup + linear/cosine decay, clipping, best-dev selection, resume.

Paper notes 3.1 (the reference recipe): AdamW on the adapter and head, gradient clipping at 1.0, warmup with linear or
cosine decay, several evaluations per epoch and the best dev score kept. Built on accelerate, so `accelerate launch`
runs it on several GPUs unchanged; bf16 autocast is used on a GPU that supports it.
Notebook: notebooks/03_train_on_glue.ipynb.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from .batching import grouped_batches, row_lengths, sorted_batches
from .checkpoint import load_checkpoint, save_checkpoint
from ..data.glue import get_task
from ..data.metrics import glue_metrics, logits_to_predictions


SCHEDULES, PRECISIONS = ("linear", "cosine", "constant"), ("auto", "no", "bf16", "fp16")


@dataclass
class TrainArgs:
    """The training recipe; the `train` command's options are derived from these fields (help, choices)."""

    epochs: int = field(default=1, metadata={"help": "passes over the training set"})
    batch_size: int = field(default=32, metadata={"help": "training batch size"})
    eval_batch_size: int = field(default=128, metadata={"help": "batch size of the dev evaluations"})
    lr: float = field(default=1e-3, metadata={"help": "AdamW learning rate"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    warmup_ratio: float = field(default=0.06, metadata={"help": "share of all steps spent warming up"})
    schedule: str = field(default="linear", metadata={"help": "learning-rate decay after warmup",
                                                      "choices": SCHEDULES})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping norm (the paper's 1.0)"})
    evals_per_epoch: int = field(default=1, metadata={"help": "dev evaluations per epoch"})
    seed: int = field(default=42, metadata={"help": "random seed (data order, init, dropout)"})
    stop_after_steps: int | None = field(default=None, metadata={
        "help": "stop early, leaving a checkpoint to resume from (time-boxed jobs)"})
    mixed_precision: str = field(default="auto", metadata={"help": "auto = bf16 on a GPU that has it, else fp32",
                                                           "choices": PRECISIONS})
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})
    group_by_length: bool = field(default=True, metadata={
        "help": "batches of similar length (shuffled), dev sets sorted by length: less padding"})
    head_bias_at_mean: bool = field(default=True, metadata={
        "help": "regression: the head's output bias starts at the training labels' mean, not 0"})

    def __post_init__(self):
        for name in ("epochs", "batch_size", "eval_batch_size", "evals_per_epoch", "stop_after_steps"):
            value = getattr(self, name)
            if value is None and name == "stop_after_steps":
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}.")
        for name in ("lr", "max_grad_norm"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}.")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay cannot be negative, got {self.weight_decay!r}.")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio is a share of the steps, in [0, 1); got {self.warmup_ratio!r}.")
        for name, choices in (("schedule", SCHEDULES), ("mixed_precision", PRECISIONS)):
            if getattr(self, name) not in choices:
                raise ValueError(f"Unknown {name} {getattr(self, name)!r}; choose one of: {', '.join(choices)}.")


def _accelerator(mixed_precision: str):
    from accelerate import Accelerator

    if mixed_precision == "auto":
        mixed_precision = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    return Accelerator(mixed_precision=mixed_precision)


def task_loss(task, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if task.is_regression:
        return F.mse_loss(logits.squeeze(-1).float(), labels.float())
    return F.cross_entropy(logits.float(), labels)


@torch.no_grad()
def evaluate(model, task, loaders: dict[str, DataLoader], accelerator=None) -> dict[str, float]:
    """Official GLUE metrics on each eval split; MNLI's keys are prefixed by split ("validation_matched/accuracy")."""
    task = get_task(task)
    was_training = model.training
    model.eval()
    results = {}
    for split, loader in loaders.items():
        logits, labels = [], []
        for batch in loader:
            out = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
            if accelerator is not None:
                out, gold = accelerator.gather_for_metrics((out, batch["labels"]))
            else:
                gold = batch["labels"]
            logits.append(out.float().cpu())
            labels.append(gold.cpu())
        metrics = glue_metrics(task, logits_to_predictions(task, torch.cat(logits)), torch.cat(labels).numpy())
        prefix = f"{split}/" if len(loaders) > 1 else ""
        results.update({prefix + k: v for k, v in metrics.items()})
    model.train(was_training)
    return results


def main_metric(task, metrics: dict[str, float]) -> float:
    task = get_task(task)
    key = task.main_metric if len(task.eval_splits) == 1 else f"{task.eval_splits[0]}/{task.main_metric}"
    value = metrics[key]
    return -math.inf if math.isnan(value) else value


@torch.no_grad()
def start_at_label_mean(model, labels) -> None:
    """A regression head's output bias set to the mean training label. From 0 (STS-B's labels average 2.7), the
    first steps' gradient is mostly "shift every prediction up"; adapters whose update starts at zero (tiny attention,
    LoRA) spend it on that shift and on STS-B often never recover (docs/baselines.md: Pearson 16 against 79 for one
    seed). A resumed run then loads its own bias from the checkpoint."""
    from ..heads import regression_output_biases

    biases = regression_output_biases(model)
    if not biases:
        raise ValueError("head_bias_at_mean: found no one-output linear map in the model's task head; pass "
                         "--no-head-bias-at-mean for this model.")
    mean = float(torch.as_tensor(list(labels), dtype=torch.float64).mean())
    for bias in biases:
        bias.fill_(mean)


def _eval_loader(dataset, args: TrainArgs, collator) -> DataLoader:
    if not args.group_by_length:
        return DataLoader(dataset, args.eval_batch_size, collate_fn=collator)
    return DataLoader(dataset, batch_sampler=sorted_batches(row_lengths(dataset), args.eval_batch_size),
                      collate_fn=collator)


def fit(model, task, train_data, eval_data: dict, collator, args: TrainArgs, output_dir, save_best) -> dict:
    """Train `model` (its trainable parameters) on `train_data`, evaluate on `eval_data`, keep the best.

    save_best(directory) writes the best model so far (for tiny attention: the adapter, kilobytes). A checkpoint in
    output_dir/checkpoint is written at every evaluation; if one is there when fit starts, training resumes from it.
    Returns the metrics dictionary that is also written to output_dir/metrics.json by the caller.
    """
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm
    from transformers import get_scheduler

    task, output_dir = get_task(task), Path(output_dir)
    accelerator = _accelerator(args.mixed_precision)
    set_seed(args.seed)
    steps_per_epoch = math.ceil(len(train_data) / args.batch_size)
    total_steps = steps_per_epoch * args.epochs
    # evaluation points spread evenly through each epoch, the last one at the epoch's end
    per_epoch = sorted({max(1, round((i + 1) * steps_per_epoch / args.evals_per_epoch))
                        for i in range(args.evals_per_epoch)})
    eval_steps = {e * steps_per_epoch + s for e in range(args.epochs) for s in per_epoch}
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("The model has no trainable parameters: nothing to train.")
    if task.is_regression and args.head_bias_at_mean:
        start_at_label_mean(model, train_data["labels"])
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    scheduler = get_scheduler(args.schedule, optimizer, int(args.warmup_ratio * total_steps), total_steps)
    eval_loaders = {s: _eval_loader(d, args, collator) for s, d in eval_data.items()}
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    eval_loaders = {s: accelerator.prepare(loader) for s, loader in eval_loaders.items()}

    progress = {"step": 0, "best": None, "history": [], "train_seconds": 0.0, "examples": 0, "loss_sum": 0.0,
                "loss_count": 0}
    checkpoint_dir = output_dir / "checkpoint"
    if (checkpoint_dir / "trainer_state.json").exists():
        progress = load_checkpoint(checkpoint_dir, accelerator.unwrap_model(model), optimizer, scheduler)
        accelerator.print(f"resuming from {checkpoint_dir} at step {progress['step']}")

    lengths = row_lengths(train_data) if args.group_by_length else None
    model.train()
    bar = tqdm(total=total_steps, initial=progress["step"], disable=not args.progress, desc=f"train {task.name}")
    while progress["step"] < total_steps:
        epoch, done_in_epoch = divmod(progress["step"], steps_per_epoch)
        order = torch.Generator().manual_seed(args.seed + epoch)  # the same order after a resume
        if lengths is not None:  # the epoch's batches are a function of (seed, epoch): resume skips the done ones
            batches = grouped_batches(lengths, args.batch_size, order)[done_in_epoch:]
            # generator= also for the loader's own base seed, which would otherwise draw from the global RNG
            loader = accelerator.prepare(DataLoader(train_data, batch_sampler=batches, collate_fn=collator,
                                                    generator=order))
        else:
            loader = accelerator.skip_first_batches(accelerator.prepare(
                DataLoader(train_data, args.batch_size, shuffle=True, generator=order, collate_fn=collator)),
                done_in_epoch)
        for batch in loader:
            start = time.perf_counter()
            labels = batch.pop("labels")
            loss = task_loss(task, model(**batch).logits, labels)
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(params, args.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            progress["train_seconds"] += time.perf_counter() - start
            progress["examples"] += len(labels) * accelerator.num_processes
            progress["step"] += 1
            loss_value = loss.item()  # one device sync per step
            progress["loss_sum"] += loss_value
            progress["loss_count"] += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.4f}")
            step = progress["step"]
            if step in eval_steps:
                metrics = evaluate(model, task, eval_loaders, accelerator)
                mean_loss = progress["loss_sum"] / progress["loss_count"]  # training loss since the last evaluation
                progress["loss_sum"], progress["loss_count"] = 0.0, 0
                record = {"step": step, "epoch": step / steps_per_epoch, "loss": mean_loss, **metrics}
                progress["history"].append(record)
                is_best = progress["best"] is None or main_metric(task, metrics) > main_metric(task, progress["best"])
                if is_best:
                    progress["best"] = record
                    if accelerator.is_main_process:
                        save_best(output_dir / "adapter")
                summary = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
                accelerator.print(f"step {step}/{total_steps} loss {mean_loss:.4f} | {summary}"
                                  f"{' (best)' if is_best else ''}")
            if accelerator.is_main_process and (step in eval_steps or step == args.stop_after_steps):
                save_checkpoint(checkpoint_dir, accelerator.unwrap_model(model), optimizer, scheduler, progress)
            if step == total_steps or step == args.stop_after_steps:
                break
        if progress["step"] == args.stop_after_steps:
            break
    bar.close()
    seconds = progress["train_seconds"]
    return {
        "finished": progress["step"] >= total_steps,
        "steps": progress["step"],
        "total_steps": total_steps,
        "best": progress["best"],
        "history": progress["history"],
        "train_seconds": seconds,
        "train_examples_per_second": progress["examples"] / seconds if seconds else None,
        "device": str(accelerator.device),
        "mixed_precision": accelerator.mixed_precision,
        "train_args": asdict(args),
    }
