"""The classification-head path of few-shot FewGLUE, for backbones without a pretrained MLM head (the embedded MiniLM).

A fresh linear classifier (per seed) on the encoder's pooled first token, with the same tiny-attention adapter and the
same 32 examples as the cloze path (cloze.py). The inputs are plain text pairs, not patterns; COPA scores each
(premise, answer) pair with one logit. Paper notes 3.2; notebook: notebooks/08_fewglue.ipynb.
"""

from __future__ import annotations

from torch import nn

from .tasks import get_fewglue_task
from ..model import TinyAttnModel


def _mark(sentence: str, start: int, end: int) -> str:
    return f"{sentence[:start]}*{sentence[start:end]}*{sentence[end:]}"


def text_pairs(task, example: dict) -> list[tuple[str, str]]:
    """Inputs of the classification-head path: one (text_a, text_b) pair per example, one per answer for COPA."""
    task = get_fewglue_task(task)
    if task.name in ("rte", "cb"):
        return [(example["premise"], example["hypothesis"])]
    if task.name == "boolq":
        return [(example["question"], example["passage"])]
    if task.name == "multirc":
        return [(f"{example['question']} {example['answer']}", example["paragraph"])]
    if task.name == "wic":
        s1 = _mark(example["sentence1"], example["start1"], example["end1"])
        s2 = _mark(example["sentence2"], example["start2"], example["end2"])
        return [(f"{example['word']}: {s1}", s2)]
    if task.name == "copa":
        lead = "What was the cause?" if example["question"] == "cause" else "What happened as a result?"
        return [(f"{example['premise']} {lead}", choice) for choice in (example["choice1"], example["choice2"])]
    raise NotImplementedError(f"{task.name}: {task.note}")


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
