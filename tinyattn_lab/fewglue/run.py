"""One FewGLUE task over several seeds: `run_fewglue` and the results.json it writes.

Each seed puts a fresh tiny-attention adapter in every layer of the frozen encoder (cloze path, cloze.py, or
classification-head path, fewglue_head.py), trains it on the 32 examples and scores the last epoch's model once on the
SuperGLUE validation set (no model selection on it: that set is where the numbers are reported, as in PET and the
tiny-attention reference code). results.json holds the per-seed metrics, their mean / std / min / max, the
majority-class baseline and, for the cloze path, the untrained (zero-shot) pattern, with the machine and versions.
Paper notes 4.3; notebook: notebooks/08_fewglue.ipynb.
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from .cloze import ClozeModel, cloze_features, has_mlm_head, load_masked_lm
from .cloze_encoder import ClozeEncoder
from ..config import TinyAttnConfig
from ..counting import count_parameters
from .data import eval_subset, load_fewglue, missing_splits, question_ids
from .head import HeadModel, head_features
from .metrics import fewglue_metrics, task_score
from .tasks import get_fewglue_task
from .train import FewShotArgs, predict_scores, score, train_few_shot
from ..saving import write_json
from .patterns import verbalizer


def majority_baseline(task, train, validation, questions=None) -> dict:
    """Always predict the most frequent training label (ties: the smaller id), scored like a model."""
    task = get_fewglue_task(task)
    majority = int(np.bincount(np.asarray(train["label"]), minlength=task.num_labels).argmax())
    labels = np.asarray(validation["label"])
    metrics = fewglue_metrics(task.name, np.full(len(labels), majority), labels, questions)
    return {**metrics, "score": task_score(task.name, metrics), "label": task.label_names[majority]}


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
        from ..backbones import load_backbone

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
            counts = count_parameters(scorer.tiny)  # scorer.tiny holds every parameter of the scorer
            total = sum(p.numel() for p in scorer.parameters())  # the MLM head too, which counts.total leaves out
            mlm = sum(p.numel() for p in extra.values() if p.requires_grad)
            parameters = {"trainable": counts.trainable, "total": total, "adapter": counts.adapter,
                          "head": counts.trainable - counts.adapter - mlm, "mlm_head_and_projection": mlm,
                          "trainable_percent": 100.0 * counts.trainable / total}
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
        write_json(output_dir / "results.json", result)
    return result
