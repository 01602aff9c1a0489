"""Official SuperGLUE metrics for the FewGLUE tasks (the GLUE ones live in data/metrics.py).

    boolq, copa, rte, wic, wsc   accuracy
    cb                           accuracy and macro-F1 over the three classes (unweighted mean of per-class F1)
    multirc                      F1a (binary F1 of "true" over all answer options) and EM (share of questions whose
                                 answer options are all labelled correctly)
    record                       token F1 and exact match of the predicted entity against the best gold answer,
                                 after SQuAD normalisation (lower case, no punctuation, no articles, single spaces)

These follow the SuperGLUE paper (Wang et al. 2019, Table 1) and its reference scorer; the task score used in the
SuperGLUE average is the mean of the task's metrics (CB: acc and F1; MultiRC: F1a and EM; ReCoRD: F1 and EM), which is
what `task_score` returns. Every value is a plain float in [0, 1].
Notebook: notebooks/08_fewglue.ipynb.
"""

from __future__ import annotations

import re
import string
from collections import Counter, defaultdict

import numpy as np
from sklearn.metrics import f1_score

METRICS = {
    "boolq": ("accuracy",),
    "cb": ("accuracy", "f1_macro"),
    "copa": ("accuracy",),
    "multirc": ("f1a", "em"),
    "record": ("f1", "em"),
    "rte": ("accuracy",),
    "wic": ("accuracy",),
    "wsc": ("accuracy",),
}


def _array(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x).reshape(-1)


def _check(task: str, preds: np.ndarray, labels: np.ndarray) -> None:
    if len(preds) != len(labels):
        raise ValueError(f"{task}: {len(preds)} predictions but {len(labels)} labels; they must match row for row")
    if len(labels) == 0:
        raise ValueError(f"{task}: nothing to score (no labelled examples)")
    if np.any(labels < 0):
        raise ValueError(f"{task}: labels contain -1 (unlabeled rows); score only the labelled validation split")


def accuracy(preds, labels) -> float:
    preds, labels = _array(preds), _array(labels)
    return float(np.mean(preds == labels))


def macro_f1(preds, labels, num_labels: int) -> float:
    """Unweighted mean of the per-class F1 over all `num_labels` classes (a class never predicted scores 0)."""
    return float(f1_score(_array(labels), _array(preds), labels=list(range(num_labels)), average="macro",
                          zero_division=0.0))


def multirc_metrics(preds, labels, questions) -> dict[str, float]:
    """preds/labels: one 0/1 per answer option; questions: a hashable question id per option (same order).

    F1a is the F1 of class 1 over all options; EM counts a question as right only if all its options are."""
    preds, labels = _array(preds).astype(int), _array(labels).astype(int)
    _check("multirc", preds, labels)
    if len(questions) != len(labels):
        raise ValueError(f"multirc: {len(questions)} question ids for {len(labels)} answer options")
    right = defaultdict(lambda: True)
    for q, p, y in zip(questions, preds, labels):
        right[q] = right[q] and bool(p == y)
    return {
        "f1a": float(f1_score(labels, preds, pos_label=1, average="binary", zero_division=0.0)),
        "em": float(np.mean(list(right.values()))),
    }


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, drop punctuation and the articles a/an/the, collapse white space."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def token_f1(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def record_metrics(predictions: list[str], answers: list[list[str]]) -> dict[str, float]:
    """One predicted entity string per query against that query's gold answers (best match counts)."""
    if len(predictions) != len(answers):
        raise ValueError(f"record: {len(predictions)} predictions for {len(answers)} queries")
    if not answers:
        raise ValueError("record: nothing to score")
    f1 = [max(token_f1(p, g) for g in gold) if gold else 0.0 for p, gold in zip(predictions, answers)]
    em = [max(float(normalize_answer(p) == normalize_answer(g)) for g in gold) if gold else 0.0
          for p, gold in zip(predictions, answers)]
    return {"f1": float(np.mean(f1)), "em": float(np.mean(em))}


def fewglue_metrics(task: str, preds, labels, questions=None) -> dict[str, float]:
    """The official metrics of a FewGLUE task. preds/labels are label ids (COPA: 0 = choice1, 1 = choice2);
    MultiRC also needs `questions` (one id per answer option). ReCoRD is scored with record_metrics."""
    if task == "record":
        raise ValueError("record is scored on entity strings: call record_metrics(predictions, answers)")
    if task not in METRICS:
        raise ValueError(f"unknown FewGLUE task {task!r}; known: {', '.join(METRICS)}")
    if task == "multirc":
        if questions is None:
            raise ValueError("multirc needs the question id of every answer option (questions=...)")
        return multirc_metrics(preds, labels, questions)
    preds, labels = _array(preds).astype(int), _array(labels).astype(int)
    _check(task, preds, labels)
    out = {"accuracy": accuracy(preds, labels)}
    if task == "cb":
        out["f1_macro"] = macro_f1(preds, labels, 3)
    return out


def task_score(task: str, metrics: dict[str, float]) -> float:
    """The number SuperGLUE averages for a task: the mean of its official metrics."""
    return float(np.mean([metrics[name] for name in METRICS[task]]))
