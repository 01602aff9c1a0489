"""
Official GLUE metrics for tinyattn_lab.

cola: Matthews correlation; mrpc/qqp: accuracy and F1 of class 1; stsb: Pearson and
Spearman correlation of raw (unclipped) predictions; the rest: accuracy. Tasks from your own files
(data/files.py) add macro-F1.
Which metrics a task reports is read from data.GLUE_TASKS, so the two never disagree.
MNLI's two eval splits are scored by separate calls; the caller prefixes the keys.
"""

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from .glue import get_task


def _to_numpy(x):
    # accept torch tensors (also ones on GPU or with grad) without importing torch here
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x)


def _correlation(fn, a, b):
    # a constant vector has no correlation; scipy would warn and give nan, we give nan quietly
    if np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(fn(a, b)[0])


def glue_metrics(task, predictions, labels):
    """
    Metrics of `predictions` against `labels` for a GLUE task, as a dict of plain floats.
    predictions: class ids for classification, floats for stsb (see logits_to_predictions).
    A correlation that is undefined (constant predictions) is reported as nan.
    """
    task = get_task(task)
    preds, labels = _to_numpy(predictions), _to_numpy(labels)
    if preds.ndim == 2 and preds.shape[1] == 1:
        preds = preds[:, 0]
    if preds.ndim != 1:
        raise ValueError(
            f"{task.name}: predictions must be 1-D (one per example), got shape {preds.shape}; "
            f"turn logits into predictions with logits_to_predictions({task.name!r}, logits)")
    labels = labels.reshape(-1)
    if len(preds) != len(labels):
        raise ValueError(f"{task.name}: {len(preds)} predictions but {len(labels)} labels; "
                         f"they must be for the same examples, in the same order")
    if len(preds) == 0:
        raise ValueError(f"{task.name}: no examples to score (empty predictions and labels)")
    if task.unlabeled is not None and np.any(labels == task.unlabeled):
        # GLUE test rows carry label -1; scoring them would silently give nonsense
        raise ValueError(f"{task.name}: labels contain {task.unlabeled} (unlabeled test rows); "
                         f"score only labelled splits, or encode with drop_unlabeled=True")

    if task.is_regression:
        preds, labels = preds.astype(np.float64), labels.astype(np.float64)
    else:
        preds, labels = preds.astype(np.int64), labels.astype(np.int64)

    out = {}
    for name in task.metrics:
        if name == "accuracy":
            out[name] = float(accuracy_score(labels, preds))
        elif name == "f1":
            # GLUE's F1 is that of the positive class (1 = paraphrase / duplicate)
            out[name] = float(f1_score(labels, preds, pos_label=1, average="binary", zero_division=0.0))
        elif name == "macro_f1":  # the mean of every class's F1 (own-data tasks, data/files.py)
            out[name] = float(f1_score(labels, preds, average="macro", zero_division=0.0))
        elif name == "matthews":
            out[name] = float(matthews_corrcoef(labels, preds))
        elif name == "pearson":
            out[name] = _correlation(pearsonr, preds, labels)
        elif name == "spearman":
            out[name] = _correlation(spearmanr, preds, labels)
        else:
            raise ValueError(f"{task.name}: no implementation for metric {name!r}")
    return out


def logits_to_predictions(task, logits):
    """Model outputs -> predictions: argmax over classes, or the single regression output."""
    task = get_task(task)
    if isinstance(logits, (tuple, list)) and len(logits) > 0 and np.ndim(_to_numpy(logits[0])) == 2:
        logits = logits[0]  # HF Trainer may hand over (logits, hidden_states, ...)
    logits = _to_numpy(logits)
    if task.is_regression:
        if logits.ndim == 2 and logits.shape[1] == 1:
            return logits[:, 0]
        if logits.ndim == 1:
            return logits
        raise ValueError(f"{task.name} is regression: expected logits of shape (n,) or (n, 1), "
                         f"got {logits.shape}; is the model head built with num_labels=1?")
    if logits.ndim != 2:
        raise ValueError(f"{task.name}: expected logits of shape (n, {task.num_labels}), got {logits.shape}")
    if logits.shape[1] != task.num_labels:
        raise ValueError(f"{task.name}: logits have {logits.shape[1]} columns but the task has "
                         f"{task.num_labels} labels; build the model head with num_labels={task.num_labels}")
    return logits.argmax(axis=-1)


def majority_baseline(task, labels, train_labels=None):
    """
    Metrics of always predicting the most frequent label, scored against `labels`.
    The majority is taken from train_labels when given (the fair baseline), else from labels.
    Ties go to the smaller class id. For stsb the constant is the mean label, whose
    correlations are undefined, so pearson/spearman come out nan.
    """
    task = get_task(task)
    labels = _to_numpy(labels).reshape(-1)
    source = labels if train_labels is None else _to_numpy(train_labels).reshape(-1)
    if task.unlabeled is not None:
        source = source[source != task.unlabeled]
    if len(source) == 0 or len(labels) == 0:
        raise ValueError(f"{task.name}: majority_baseline needs labelled examples, got none")
    if task.is_regression:
        constant = float(source.mean())
    else:
        constant = int(np.bincount(source.astype(np.int64)).argmax())
    return glue_metrics(task, np.full(len(labels), constant), labels)
