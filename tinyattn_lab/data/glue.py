"""
GLUE data for tinyattn_lab: task table, loading, tokenization, padding.

Data comes either from a local Parquet mirror laid out like the Hugging Face
`nyu-mll/glue` dataset (glue/<task>/<split>.parquet, see shared/data/README.md)
or, when no mirror is configured, from the hub. The mirror is found through the
`data_dir` argument or the TINYATTN_DATA environment variable.

Tokenization does no padding: DataCollatorWithPadding pads each batch to its
own longest row, which is much cheaper than padding everything to max_length.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from datasets import DatasetDict, Value, load_dataset

DATA_ENV = "TINYATTN_DATA"
HUB_NAME = "nyu-mll/glue"
UNLABELED = -1  # label of GLUE test rows (STS-B test: -1.0)
_HUB_HINT = f"or pass no data_dir and leave ${DATA_ENV} unset to download from the hub"


@dataclass(frozen=True)
class GlueTask:
    name: str
    text_keys: tuple          # one column (single sentence) or two (sentence pair)
    num_labels: int           # 1 means regression (stsb)
    metrics: tuple            # names of the metrics metrics.glue_metrics reports
    main_metric: str          # used for best-dev selection and the GLUE table
    eval_splits: tuple = ("validation",)
    label_names: tuple | None = None  # what each class id means (the hub's ClassLabel names); None for stsb
    unlabeled = UNLABELED     # the label of test rows, dropped by encode and refused by the metrics

    @property
    def is_regression(self):
        return self.num_labels == 1


def _task(name, text_keys, label_names=None, metrics=("accuracy",), main_metric="accuracy",
          eval_splits=("validation",)):
    num_labels = 1 if label_names is None else len(label_names)
    return GlueTask(name, tuple(text_keys), num_labels, tuple(metrics), main_metric, tuple(eval_splits),
                    None if label_names is None else tuple(label_names))


_ENTAILMENT = ["entailment", "not_entailment"]


GLUE_TASKS = {t.name: t for t in [
    _task("cola", ["sentence"], ["unacceptable", "acceptable"], metrics=["matthews"], main_metric="matthews"),
    _task("sst2", ["sentence"], ["negative", "positive"]),
    _task("mrpc", ["sentence1", "sentence2"], ["not_equivalent", "equivalent"], metrics=["accuracy", "f1"],
          main_metric="f1"),
    _task("qqp", ["question1", "question2"], ["not_duplicate", "duplicate"], metrics=["accuracy", "f1"],
          main_metric="f1"),
    _task("stsb", ["sentence1", "sentence2"], None, metrics=["pearson", "spearman"], main_metric="pearson"),
    _task("mnli", ["premise", "hypothesis"], ["entailment", "neutral", "contradiction"],
          eval_splits=["validation_matched", "validation_mismatched"]),
    _task("qnli", ["question", "sentence"], _ENTAILMENT),
    _task("rte", ["sentence1", "sentence2"], _ENTAILMENT),
    _task("wnli", ["sentence1", "sentence2"], ["not_entailment", "entailment"]),
]}


def lookup_task(name, table: dict, kind: str):
    """The task called `name` in `table` ('SST-2', 'sst2' and 'STS-B' style spellings all work), or a ValueError that
    lists the known ones. A task object (a value of the table, or a task built from files, data.files.FileTask)
    passes through."""
    if name in table.values() or hasattr(name, "label_column"):
        return name
    key = str(name).lower().replace("-", "").replace("_", "")
    if key not in table:
        raise ValueError(f"unknown {kind} task {name!r}; known tasks: {', '.join(table)}")
    return table[key]


def get_task(name) -> GlueTask:
    return lookup_task(name, GLUE_TASKS, "GLUE")


def data_dir_setting(data_dir=None) -> tuple[str | None, str]:
    """(the data dir asked for, where it came from): an explicit data_dir wins over $TINYATTN_DATA; an empty value
    counts as unset; None means the hub."""
    if data_dir is not None and str(data_dir) != "":
        return str(data_dir), "data_dir argument"
    return os.environ.get(DATA_ENV) or None, f"${DATA_ENV}"


def resolve_data_dir(data_dir=None, collection: str = "glue"):
    """
    Return the mirror root (the folder that contains `collection`/: glue/ or fewglue/), or None to use the hub.
    An explicit data_dir wins over $TINYATTN_DATA (an empty value counts as unset); pointing at the collection's own
    folder is accepted too.
    """
    data_dir, source = data_dir_setting(data_dir)
    if data_dir is None:
        return None
    path = Path(data_dir).expanduser().resolve()
    layout = f"{collection}/<task>/<split>.parquet"
    if not path.is_dir():
        raise FileNotFoundError(
            f"{collection} data dir {path} (from the {source}) does not exist. Set {DATA_ENV} or pass data_dir= "
            f"to the folder that contains {layout} (e.g. shared/data), "
            f"or leave both unset to download from the Hugging Face hub.")
    if (path / collection).is_dir():
        return path
    if path.name == collection:
        return path.parent
    raise FileNotFoundError(
        f"{collection} data dir {path} (from the {source}) has no {collection}/ subfolder. Point {DATA_ENV} or "
        f"data_dir= at the folder that contains {layout}.")


def _listing(folder, suffix=""):
    # names found in the mirror, for error messages that say what IS there
    if suffix:
        names = sorted(p.name[:-len(suffix)] for p in folder.glob(f"*{suffix}") if p.is_file())
    else:
        names = sorted(p.name for p in folder.iterdir() if p.is_dir())
    return ", ".join(names) if names else "(nothing)"


def load_glue(task, data_dir=None, splits=None):
    """
    Load the splits of a GLUE task as a DatasetDict keyed by split name.
    Default splits: "train" plus the task's eval_splits. Uses the mirror when one is configured.
    """
    task = get_task(task)
    if splits is None:
        splits = ("train",) + task.eval_splits
    elif isinstance(splits, str):
        splits = (splits,)
    root = resolve_data_dir(data_dir)

    if root is None:
        return DatasetDict({s: load_dataset(HUB_NAME, task.name, split=s) for s in splits})

    task_dir = root / "glue" / task.name
    if not task_dir.is_dir():
        raise FileNotFoundError(
            f"task {task.name} is not in the GLUE mirror at {root}: no folder glue/{task.name}. "
            f"glue/ has: {_listing(root / 'glue')}. Use one of those, {_HUB_HINT}.")
    # check every requested split before loading any, so the error comes at once and lists them all
    missing = [s for s in splits if not (task_dir / f"{s}.parquet").is_file()]
    if missing:
        raise FileNotFoundError(
            f"split(s) {', '.join(missing)} of {task.name} missing from the GLUE mirror at {root}; "
            f"glue/{task.name} has: {_listing(task_dir, '.parquet')}. "
            f"Pass splits= with the ones present, {_HUB_HINT}.")
    # naming the data_files entry after the split keeps the split name in the returned Dataset
    return DatasetDict({
        s: load_dataset("parquet", data_files={s: str(task_dir / f"{s}.parquet")}, split=s)
        for s in splits
    })


def encode(dataset, tokenizer, task, max_length=128, drop_unlabeled=True):
    """
    Tokenize a GLUE Dataset (or DatasetDict) for a sequence classifier.
    Output columns: the tokenizer's (input_ids, attention_mask, ...) and `labels`
    (float for stsb, int otherwise). Text columns and idx are dropped. No padding.
    With drop_unlabeled, rows labelled -1 (GLUE test rows) are removed first.
    """
    task = get_task(task)
    check_max_length(max_length, tokenizer, len(task.text_keys))
    if isinstance(dataset, DatasetDict):
        return DatasetDict({k: encode(v, tokenizer, task, max_length, drop_unlabeled)
                            for k, v in dataset.items()})

    needed = list(task.text_keys) + ["label"]
    absent = [c for c in needed if c not in dataset.column_names]
    if absent:
        raise ValueError(
            f"dataset lacks column(s) {absent} needed for {task.name}; it has {dataset.column_names}. "
            f"Load it with load_glue({task.name!r}) or rename the columns to {needed}.")

    if drop_unlabeled and task.unlabeled is not None:
        # filter before tokenizing so no time is spent on rows that are thrown away
        dataset = dataset.filter(lambda labels: [y != task.unlabeled for y in labels],
                                 input_columns="label", batched=True)

    def tokenize(batch):
        texts = [batch[k] for k in task.text_keys]
        return tokenizer(*texts, truncation=True, max_length=max_length)

    drop = [c for c in dataset.column_names if c != "label"]
    dataset = dataset.map(tokenize, batched=True, remove_columns=drop)
    dataset = dataset.rename_column("label", "labels")  # the name HF models take the targets under
    if task.is_regression and dataset.features["labels"] != Value("float32"):
        # MSE loss needs float targets; the file already stores float32, this guards other sources
        dataset = dataset.cast_column("labels", Value("float32"))
    return dataset


def check_max_length(max_length, tokenizer, num_texts: int = 1) -> None:
    """max_length must leave room for the special tokens and a token of each text, and fit the model's positions."""
    need = tokenizer.num_special_tokens_to_add(pair=num_texts == 2) + num_texts
    if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < need:
        raise ValueError(f"max_length must be a whole number of tokens >= {need} (the special tokens and one token "
                         f"per text), got {max_length!r}; 128 is the usual choice.")
    if max_length > tokenizer.model_max_length:
        raise ValueError(f"max_length {max_length} is longer than this model takes ({tokenizer.model_max_length} "
                         f"tokens); pass at most that.")


def make_collator(tokenizer, pad_to_multiple_of=None):
    """Collator that pads each batch to its longest row (dynamic padding)."""
    # imported here so that `import tinyattn_lab.data` does not pull in all of transformers
    from transformers import DataCollatorWithPadding
    return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_to_multiple_of)


def subsample(dataset, n, seed=0):
    """A seeded random subset of n rows, for smoke runs; the whole dataset if n is None or >= len."""
    if n is None or n >= len(dataset):
        return dataset
    if n < 1:
        raise ValueError(f"subsample needs n >= 1 (or None for all rows), got {n}")
    return dataset.shuffle(seed=seed).select(range(n))
