"""Few-shot training on FewGLUE: PET-style cloze scoring in a frozen masked LM, or a classification head.

Both paths put the same tiny-attention adapter in every layer of a frozen encoder and turn one example into one row of
scores, one score per label (COPA: per answer); training is cross-entropy over those scores on the 32 examples, and
the result is the last epoch's model scored once on the SuperGLUE validation set (no model selection on it: that set
is where the numbers are reported, as in PET and the tiny-attention reference code).

cloze (ClozeModel)  the example is a cloze question (fewglue.pattern) and the score of label y is the MLM head's
                    log-probability of y's verbalizer token at the mask; cross-entropy over these scores is PET's loss
                    (softmax over the verbalizer logits). COPA has several masks and an answer is scored by the sum of
                    its tokens' log-probabilities at them (PET's multi-mask scoring, all masks in one pass).
                    Trainable: the adapter only, by default. The MLM head stays frozen and shared (TinyAttnModel's
                    head_modules=[]): its decoder is tied to the input embeddings, and training a copy of it would
                    train the vocabulary (millions of parameters). `train_mlm_head=True` reproduces the reference
                    code, which also trains the head's transform (dense + LayerNorm), its output bias and ALBERT's
                    embedding projection (1.11 M parameters on ALBERT-xxlarge against 28,683 in the adapter,
                    paper notes 3.2); the tied decoder weight stays frozen either way.
head (HeadModel)    for backbones without a pretrained MLM head (the embedded MiniLM): a fresh linear classifier
                    (per seed) on the encoder's pooled first token, inputs as plain text pairs (fewglue.text_pairs);
                    COPA scores each (premise, answer) pair with one logit.

`run_fewglue` runs one task over several seeds and writes results.json: per-seed metrics, mean / std / min / max,
the majority-class baseline and, for the cloze path, the untrained (zero-shot) pattern.
Notebook: notebooks/08_fewglue.ipynb.
"""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import TinyAttnConfig
from .fewglue import (FewShotArgs, ClozeEncoder, copa_choices, get_fewglue_task, load_fewglue, missing_splits,
                      pattern, question_ids, text_pairs, verbalizer, verbalizer_token_ids)
from .fewglue_metrics import fewglue_metrics, task_score
from .heads import head_module_names
from .model import TinyAttnModel

MLM_ARCHITECTURE_SUFFIXES = ("ForMaskedLM", "ForPreTraining")


class NoMLMHeadError(ValueError):
    """The backbone's checkpoint has no pretrained masked-LM head, so cloze scoring would read a random head."""


# ---------------------------------------------------------------------------------------------------------------------
# backbones
# ---------------------------------------------------------------------------------------------------------------------

def has_mlm_head(name_or_path: str) -> bool:
    """Whether a checkpoint says it carries a pretrained MLM head (its config's `architectures`)."""
    from transformers import AutoConfig

    from .backbones import resolve_model

    archs = getattr(AutoConfig.from_pretrained(resolve_model(name_or_path)), "architectures", None) or []
    return any(a.endswith(MLM_ARCHITECTURE_SUFFIXES) for a in archs)


def load_masked_lm(name_or_path: str):
    """(AutoModelForMaskedLM, tokenizer); NoMLMHeadError if the head's weights are not in the checkpoint."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer
    from transformers.utils import logging

    from .backbones import resolve_model

    path = resolve_model(name_or_path)
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        model, info = AutoModelForMaskedLM.from_pretrained(path, output_loading_info=True)
        tokenizer = AutoTokenizer.from_pretrained(path)
    finally:
        logging.set_verbosity(verbosity)
    base = model.base_model_prefix + "."
    head_missing = [k for k in info.get("missing_keys", []) if not k.startswith(base)]
    if head_missing:
        raise NoMLMHeadError(f"{name_or_path!r} has no pretrained MLM head (missing from its checkpoint: "
                             f"{', '.join(sorted(head_missing)[:4])}...): cloze scores would come from a random head. "
                             f"Use the classification-head path (--path head) for this backbone.")
    return model.eval(), tokenizer


# ---------------------------------------------------------------------------------------------------------------------
# the two scorers
# ---------------------------------------------------------------------------------------------------------------------

class ClozeModel(nn.Module):
    """A frozen masked LM with tiny-attention adapters whose output is one score per candidate answer.

    forward(input_ids, attention_mask, [token_type_ids], mask_positions (B, M), candidates (B, C, M) token ids,
    -1 = padding) -> (B, C) scores: for each candidate the summed log-probability of its tokens at the masks."""

    def __init__(self, mlm: nn.Module, train_mlm_head: bool = False):
        super().__init__()
        heads = head_module_names(mlm)
        if len(heads) != 1:
            raise ValueError(f"expected one MLM head module outside the base model, found {heads}")
        self.tiny = TinyAttnModel(mlm, head_modules=[])  # the MLM head is not copied per adapter: frozen, shared
        self.mlm_head = getattr(mlm, heads[0])
        self.train_mlm_head = train_mlm_head

    def extra_parameters(self) -> dict[str, nn.Parameter]:
        """What the reference code trains besides the adapter: the MLM head without the decoder weight tied to the
        input embeddings, and ALBERT's embedding -> hidden projection."""
        tied = {id(self.tiny.model.get_input_embeddings().weight)}
        extra = {f"mlm_head.{n}": p for n, p in self.mlm_head.named_parameters() if id(p) not in tied}
        projection = getattr(getattr(self.tiny.model.base_model, "encoder", None), "embedding_hidden_mapping_in", None)
        if projection is not None:
            extra.update({f"embedding_hidden_mapping_in.{n}": p for n, p in projection.named_parameters()})
        return extra

    def activate(self, adapter_name: str) -> None:
        """Make `adapter_name` active and trainable (plus the reference's extra parameters if asked for)."""
        self.tiny.set_adapter(adapter_name)
        for p in self.extra_parameters().values():
            p.requires_grad_(self.train_mlm_head)

    def forward(self, input_ids, attention_mask, mask_positions, candidates, token_type_ids=None, **_):
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        hidden = self.tiny.model.base_model(input_ids=input_ids, attention_mask=attention_mask, **kwargs)[0]
        at_masks = hidden.gather(1, mask_positions[..., None].expand(-1, -1, hidden.shape[-1]))  # (B, M, d)
        log_probs = self.mlm_head(at_masks).float().log_softmax(-1)  # (B, M, V)
        valid = candidates >= 0  # (B, C, M)
        picked = log_probs[:, None].expand(-1, candidates.shape[1], -1, -1).gather(
            -1, candidates.clamp(min=0)[..., None])[..., 0]  # (B, C, M)
        return (picked * valid).sum(-1)


class HeadModel(nn.Module):
    """A sequence classifier with tiny-attention adapters; forward -> (B, C) logits (COPA: one logit per answer)."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.tiny = TinyAttnModel(classifier)

    def activate(self, adapter_name: str) -> None:
        self.tiny.set_adapter(adapter_name)

    def forward(self, input_ids, attention_mask, token_type_ids=None, num_choices: int = 1, **_):
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        logits = self.tiny(input_ids=input_ids, attention_mask=attention_mask, **kwargs).logits.float()
        return logits.view(-1, num_choices) if num_choices > 1 else logits


# ---------------------------------------------------------------------------------------------------------------------
# features and batches
# ---------------------------------------------------------------------------------------------------------------------

def cloze_features(task, dataset, encoder: ClozeEncoder, pattern_id: int | None = None) -> list[dict]:
    """One feature per example: the encoded cloze question, its mask positions and the candidates' token ids."""
    task = get_fewglue_task(task)
    if task.kind == "labels":
        words = [[i] for i in verbalizer_token_ids(encoder, task, pattern_id)]
    features = []
    for example in dataset:
        if task.kind == "choices":
            words = [encoder.encode_text(c) for c in copa_choices(example)]
            enc = encoder.encode(*pattern(task, example, pattern_id, num_masks=max(map(len, words))))
        else:
            enc = encoder.encode(*pattern(task, example, pattern_id))
        features.append({"seqs": [enc["input_ids"]], "types": [enc.get("token_type_ids")],
                         "mask_positions": enc["mask_positions"], "candidates": words,
                         "label": int(example.get("label", -1))})
    return features


def head_features(task, dataset, tokenizer, max_length: int = 256) -> list[dict]:
    """One feature per example: its text pair(s) tokenized for a sequence classifier (COPA: one per answer)."""
    task = get_fewglue_task(task)
    features = []
    for example in dataset:
        pairs = text_pairs(task, example)
        enc = tokenizer([a for a, _ in pairs], [b for _, b in pairs], truncation=True, max_length=max_length,
                        return_token_type_ids=True)
        features.append({"seqs": enc["input_ids"], "types": enc.get("token_type_ids") or [None] * len(pairs),
                         "label": int(example.get("label", -1))})
    return features


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


# ---------------------------------------------------------------------------------------------------------------------
# training and scoring
# ---------------------------------------------------------------------------------------------------------------------

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


def majority_baseline(task, train, validation, questions=None) -> dict:
    """Always predict the most frequent training label (ties: the smaller id), scored like a model."""
    task = get_fewglue_task(task)
    majority = int(np.bincount(np.asarray(train["label"]), minlength=task.num_labels).argmax())
    labels = np.asarray(validation["label"])
    metrics = fewglue_metrics(task.name, np.full(len(labels), majority), labels, questions)
    return {**metrics, "score": task_score(task.name, metrics), "label": task.label_names[majority]}


def eval_subset(task, dataset, size: int | None, seed: int = 0):
    """A fixed random subset of a validation set (MultiRC: of whole questions, so EM stays defined)."""
    if size is None or size >= len(dataset):
        return dataset
    if get_fewglue_task(task).name == "multirc":
        ids = question_ids(task, dataset)
        unique = sorted(set(ids))
        keep = set(map(tuple, np.random.default_rng(seed).permutation(unique)[:size].tolist()))
        return dataset.select([i for i, q in enumerate(ids) if q in keep])
    return dataset.shuffle(seed=seed).select(range(size))


def _stats(values: list[float]) -> dict:
    a = np.asarray(values, dtype=float)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
            "min": float(a.min()), "max": float(a.max()), "values": [float(v) for v in a]}


def _versions() -> dict:
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__}


def _machine() -> dict:
    import os

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), None) if Path("/proc/cpuinfo").exists() else None
    return {"platform": platform.platform(), "processor": cpu or platform.processor() or platform.machine(),
            "cpus_visible": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "device": "cuda" if torch.cuda.is_available() else "cpu"}


def run_fewglue(task, path: str = "auto", model_name: str = "minilm", data_dir=None,
                config: TinyAttnConfig | None = None, args: FewShotArgs | None = None, pattern_id: int | None = None,
                train_mlm_head: bool = False, eval_size: int | None = None, output_dir=None, progress: bool = True,
                backbone=None) -> dict:
    """Train one adapter per seed on the 32 FewGLUE examples of `task`; score each on the SuperGLUE validation set.

    path: "cloze" (PET-style, needs a pretrained MLM head), "head" (classification head) or "auto" (cloze when the
    checkpoint has an MLM head). `backbone=(model, tokenizer)` skips loading (tests pass a tiny random MLM; it must
    match `path`). Returns the results dict, also written to output_dir/results.json when output_dir is given."""
    task, config, args = get_fewglue_task(task), config or TinyAttnConfig(), args or FewShotArgs()
    if not task.trainable:
        raise NotImplementedError(f"{task.name}: {task.note}")
    if path not in ("auto", "cloze", "head"):
        raise ValueError(f"path must be auto, cloze or head, got {path!r}")
    log = print if progress else None
    started = time.perf_counter()
    gaps = missing_splits(task, data_dir)
    if "validation" in gaps:
        raise FileNotFoundError(f"FewGLUE {task.name}: the mirror has no validation set to score on (missing: "
                                f"{', '.join(gaps)}); see shared/data/MANIFEST.md, or use the hub (no data_dir).")
    data = load_fewglue(task, data_dir, splits=("train", "validation"), strict=True)
    train, validation = data["train"], eval_subset(task, data["validation"], eval_size)
    questions = question_ids(task, validation)

    if path == "auto":
        if backbone is not None:
            path = "cloze" if type(backbone[0]).__name__.endswith("ForMaskedLM") else "head"
        else:
            path = "cloze" if has_mlm_head(model_name) else "head"
    if backbone is not None:
        model_obj, tokenizer = backbone
    elif path == "cloze":
        model_obj, tokenizer = load_masked_lm(model_name)
    else:
        from .backbones import load_backbone

        model_obj, tokenizer = load_backbone(model_name, num_labels=1 if task.kind == "choices" else task.num_labels)

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    if path == "cloze":
        scorer = ClozeModel(model_obj, train_mlm_head=train_mlm_head)
        encoder = ClozeEncoder(tokenizer, args.max_length)
        train_features = cloze_features(task, train, encoder, pattern_id)
        eval_features = cloze_features(task, validation, encoder, pattern_id)
        with scorer.tiny.disable_adapter():
            zero_shot = score(task, eval_features, predict_scores(scorer, eval_features, pad_id, args.eval_batch_size),
                              questions)
        extra = scorer.extra_parameters()
        snapshot = {n: p.detach().clone() for n, p in extra.items()}
    else:
        scorer = HeadModel(model_obj)
        train_features = head_features(task, train, tokenizer, args.max_length)
        eval_features = head_features(task, validation, tokenizer, args.max_length)
        zero_shot, extra, snapshot = None, {}, {}
    head_config = config if path == "cloze" else config.replace(linear_head=True)  # a fresh classifier per seed

    runs, parameters = [], None
    for seed in args.seeds:
        torch.manual_seed(seed)
        name = f"seed{seed}"
        scorer.tiny.add_adapter(name, head_config)
        scorer.activate(name)
        if parameters is None:
            trainable = sum(p.numel() for p in scorer.parameters() if p.requires_grad)
            total = sum(p.numel() for p in scorer.parameters())
            adapter = sum(p.numel() for n, m in scorer.tiny.adapter_modules(name).items() if n.endswith(".tinyattn")
                          for p in m.parameters())
            parameters = {"trainable": trainable, "total": total, "adapter": adapter,
                          "head": trainable - adapter - sum(p.numel() for p in extra.values() if p.requires_grad),
                          "mlm_head_and_projection": sum(p.numel() for p in extra.values() if p.requires_grad),
                          "trainable_percent": 100.0 * trainable / total}
        history = train_few_shot(scorer, train_features, args, seed, pad_id, log)
        t0 = time.perf_counter()
        metrics = score(task, eval_features, predict_scores(scorer, eval_features, pad_id, args.eval_batch_size),
                        questions)
        runs.append({"seed": seed, "metrics": metrics, "epoch_loss": history["epoch_loss"],
                     "train_seconds": history["train_seconds"], "eval_seconds": time.perf_counter() - t0,
                     "steps": history["steps"]})
        if log:
            log(f"seed {seed}: " + ", ".join(f"{k} {100 * v:.1f}" for k, v in metrics.items()))
        scorer.tiny.delete_adapter(name)
        with torch.no_grad():  # the reference mode trains the shared MLM head: every seed starts from the checkpoint
            for n, p in extra.items():
                p.copy_(snapshot[n])

    keys = list(runs[0]["metrics"])
    result = {
        "task": task.name,
        "path": path,
        "model": model_name,
        "backbone": {"model_type": scorer.tiny.model.config.model_type, "class": type(scorer.tiny.model).__name__},
        "pattern_id": (task.default_pattern if pattern_id is None else pattern_id) if path == "cloze" else None,
        "verbalizer": list(verbalizer(task, pattern_id)) if path == "cloze" and task.kind == "labels" else None,
        "train_mlm_head": train_mlm_head if path == "cloze" else None,
        "tinyattn": head_config.to_dict(),
        "train_args": asdict(args),
        "train_examples": len(train),
        "eval_split": "validation (SuperGLUE dev)",
        "eval_examples": len(validation),
        "eval_subset": None if eval_size is None or len(validation) == len(data["validation"])
        else {"size": eval_size, "of": len(data["validation"]), "seed": 0,
              "unit": "questions" if task.name == "multirc" else "rows"},
        "selection": "none: last epoch, scored once per seed",
        "majority_baseline": majority_baseline(task, train, validation, questions),
        "zero_shot": zero_shot,
        "parameters": parameters,
        "runs": runs,
        "summary": {k: _stats([r["metrics"][k] for r in runs]) for k in keys},
        "missing_splits": gaps,
        "wall_seconds": time.perf_counter() - started,
        "machine": _machine(),
        "versions": _versions(),
    }
    if output_dir is not None:
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        tmp = output_dir / ".results.json.tmp"
        tmp.write_text(json.dumps(result, indent=2))
        tmp.replace(output_dir / "results.json")
    return result
