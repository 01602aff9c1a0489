"""Loading FewGLUE: the 32 training examples, the unlabeled sets and the SuperGLUE validation sets, and fixed subsets.

Data comes from a local Parquet mirror laid out like the Hugging Face `super_glue` dataset
(fewglue/<task>/{train,unlabeled,val}.parquet, see shared/data/README.md) found through `data_dir` or $TINYATTN_DATA,
or, with neither, from the hub. Some files are absent from the mirror (the unlabeled sets of BoolQ, CB, RTE and
ReCoRD, and ReCoRD's validation set): loading says so and carries on with what is there.
Notebook: notebooks/08_fewglue.ipynb.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..data.glue import DATA_ENV, resolve_data_dir
from .tasks import FEWGLUE_TASKS, FewGlueTask, get_fewglue_task

HUB_SUPERGLUE = "aps/super_glue"  # SuperGLUE validation sets in the layout the mirror copies
HUB_FEWGLUE = "juny116/few_glue"  # the 32-example training sets; the reference code's source (not exercised offline)
SPLIT_FILES = {"train": "train.parquet", "unlabeled": "unlabeled.parquet", "validation": "val.parquet"}


class MissingSplitWarning(UserWarning):
    """A FewGLUE split that was asked for is not in the mirror; loading went on without it."""


def resolve_fewglue_dir(data_dir=None) -> Path | None:
    """The mirror root (the folder that contains fewglue/), or None for the hub: data.resolve_data_dir's rules."""
    return resolve_data_dir(data_dir, "fewglue")


def task_folder(root: Path, task) -> Path:
    """Where the mirror keeps a task's split files: <root>/fewglue/<task>/."""
    return root / "fewglue" / get_fewglue_task(task).name


def split_path(root: Path, task, split: str) -> Path:
    if split not in SPLIT_FILES:
        raise ValueError(f"unknown FewGLUE split {split!r}; splits: {', '.join(SPLIT_FILES)}")
    return task_folder(root, task) / SPLIT_FILES[split]


def inventory(data_dir=None) -> list[dict]:
    """What the mirror holds: one row per task and split with its status ("ok" / "missing") and row count."""
    from pyarrow.parquet import ParquetFile

    root = resolve_fewglue_dir(data_dir)
    if root is None:
        raise ValueError(f"no local mirror configured (data_dir / ${DATA_ENV}); the inventory lists a mirror's files")
    rows = []
    for name in FEWGLUE_TASKS:
        for split in SPLIT_FILES:
            path = split_path(root, name, split)
            ok = path.is_file()
            rows.append({"task": name, "split": split, "status": "ok" if ok else "missing",
                         "rows": ParquetFile(path).metadata.num_rows if ok else None,
                         "file": str(path.relative_to(root))})
    return rows


def missing_splits(task, data_dir=None, splits=tuple(SPLIT_FILES)) -> list[str]:
    """The splits of `task` the configured mirror lacks ([] when the hub is used)."""
    root = resolve_fewglue_dir(data_dir)
    return [] if root is None else [s for s in splits if not split_path(root, task, s).is_file()]


def load_fewglue(task, data_dir=None, splits=("train", "validation"), strict: bool = False):
    """The FewGLUE splits of a task as a DatasetDict: "train" (the 32 examples; MultiRC: their 154 answer rows),
    "unlabeled", "validation" (= the SuperGLUE validation set, where results are reported).

    A split the mirror lacks is left out with a MissingSplitWarning (or a FileNotFoundError if strict), so a task
    whose unlabeled set is missing still loads; ask `missing_splits` or `inventory` what is there."""
    from datasets import DatasetDict, load_dataset

    task = get_fewglue_task(task)
    splits = (splits,) if isinstance(splits, str) else tuple(splits)
    for s in splits:
        if s not in SPLIT_FILES:
            raise ValueError(f"unknown FewGLUE split {s!r}; splits: {', '.join(SPLIT_FILES)}")
    root = resolve_fewglue_dir(data_dir)
    if root is None:
        return _load_from_hub(task, splits, strict)
    present = [s for s in splits if split_path(root, task, s).is_file()]
    missing = [s for s in splits if s not in present]
    if missing:
        found = ", ".join(sorted(p.stem for p in task_folder(root, task).glob("*.parquet"))) or "nothing"
        message = (f"FewGLUE {task.name}: split(s) {', '.join(missing)} not in the mirror at {root} "
                   f"(fewglue/{task.name}/ has: {found}); "
                   f"see shared/data/MANIFEST.md for why.")
        if strict:
            raise FileNotFoundError(message)
        warnings.warn(message + " Continuing without it.", MissingSplitWarning, stacklevel=2)
    return DatasetDict({s: load_dataset("parquet", data_files={s: str(split_path(root, task, s))}, split=s)
                        for s in present})


def _load_from_hub(task: FewGlueTask, splits, strict: bool):
    from datasets import DatasetDict, load_dataset

    out, missing = {}, []
    for s in splits:
        try:
            if s == "validation":
                out[s] = load_dataset(HUB_SUPERGLUE, task.name, split="validation")
            elif s == "train":
                out[s] = load_dataset(HUB_FEWGLUE, task.name, split="train")
            else:
                missing.append(s)
        except Exception as err:  # offline, renamed, gated: say which split and why, keep going
            if strict:
                raise
            missing.append(f"{s} ({type(err).__name__}: {err})")
    if missing:
        message = f"FewGLUE {task.name}: could not get {', '.join(missing)} from the hub."
        if strict:
            raise FileNotFoundError(message)
        warnings.warn(message, MissingSplitWarning, stacklevel=3)
    return DatasetDict(out)


def question_ids(task, dataset) -> list | None:
    """MultiRC's grouping for EM: one (paragraph, question) id per answer row; None for other tasks."""
    if get_fewglue_task(task).name != "multirc":
        return None
    return [(i["paragraph"], i["question"]) for i in dataset["idx"]]


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
