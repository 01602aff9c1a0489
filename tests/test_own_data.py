"""Tests for data/files.py: tasks from your own CSV/TSV/JSON/JSONL/Parquet files, their labels, splits and records."""

import json

import numpy as np
import pandas as pd
import pytest

from tinyattn_lab.data.files import FileTask, adapter_task, file_rows, file_splits, file_task, texts_from_file
from tinyattn_lab.data.glue import get_task
from tinyattn_lab.data.metrics import glue_metrics

ROWS = pd.DataFrame({"review": [f"text number {i}" for i in range(20)],
                     "sentiment": ["positive", "negative", "neutral", "positive"] * 5,
                     "score": [0.5 + i / 10 for i in range(20)], "stars": [1, 5, 3, 5] * 5})


def write(frame, path):
    """Write a table in the format its suffix names."""
    suffix = path.suffix
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif suffix == ".json":
        path.write_text(json.dumps(frame.to_dict(orient="records")))
    else:
        frame.to_parquet(path)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl", ".parquet"])
def test_every_format_reads_the_same_rows(tmp_path, suffix):
    """Oracle: the pandas frame written; each format gives its texts and sorted-label ids back exactly."""
    task = file_task(write(ROWS, tmp_path / f"data{suffix}"), text_column="review", label_column="sentiment",
                     holdout=4)
    assert task.label_names == ("negative", "neutral", "positive")
    rows = file_rows(task, task.source["train_file"])
    assert rows.column_names == ["review", "label"]
    assert list(rows["review"]) == list(ROWS["review"])
    assert list(rows["label"]) == [task.label_names.index(s) for s in ROWS["sentiment"]]


def test_holdout_is_a_seeded_partition(tmp_path):
    """Oracle: the held-out rows and the training rows are disjoint, together all rows, and the same on a rebuild."""
    task = file_task(write(ROWS, tmp_path / "d.csv"), text_column="review", label_column="sentiment", holdout=0.25)
    splits = file_splits(task)
    train, dev = list(splits["train"]["review"]), list(splits["validation"]["review"])
    assert len(dev) == 5 and len(train) == 15 and sorted(train + dev) == sorted(ROWS["review"])
    assert list(file_splits(FileTask.from_record(json.loads(json.dumps(task.record()))))["validation"]["review"]) == dev
    assert "5 of the 20 rows" in task.describe() and "15 train" in task.describe()


def test_label_kinds(tmp_path):
    """Oracle: integers are classes (sorted), floats with fractions regression (inferred), --regression on integers."""
    path = write(ROWS, tmp_path / "d.csv")
    stars = file_task(path, text_column="review", label_column="stars")
    assert stars.label_names == (1, 3, 5) and stars.metrics == ("accuracy", "macro_f1")
    assert list(file_rows(stars, path)["label"]) == [[1, 3, 5].index(s) for s in ROWS["stars"]]
    score = file_task(path, text_column="review", label_column="score")
    assert score.is_regression and score.num_labels == 1 and "inferred" in score.describe()
    assert list(file_rows(score, path)["label"]) == pytest.approx(list(ROWS["score"]))
    assert file_task(path, text_column="review", label_column="stars", regression=True).is_regression
    two = write(ROWS[ROWS.sentiment != "neutral"], tmp_path / "two.csv")
    assert file_task(two, text_column="review", label_column="sentiment").metrics == ("accuracy", "macro_f1",
                                                                                      "matthews")


def test_pairs_and_validation_file(tmp_path):
    """Oracle: two text columns become the task's text_keys; a validation file's rows are its own, labels by name."""
    frame = ROWS.assign(other=ROWS["review"].str.upper())
    train, dev = write(frame, tmp_path / "t.jsonl"), write(frame[:6], tmp_path / "v.csv")
    task = file_task(train, dev, text_column="review", text_pair_column="other", label_column="sentiment")
    splits = file_splits(task)
    assert task.text_keys == ("review", "other") and len(splits["train"]) == 20
    assert list(splits["validation"]["other"]) == list(frame["other"][:6])
    assert texts_from_file(dev, task.text_keys)[0] == ("text number 0", "TEXT NUMBER 0")


def test_record_round_trip_and_adapter_task(tmp_path):
    """Oracle: exact equality of a task rebuilt from its JSON record; a GLUE adapter's task is found by name."""
    task = file_task(write(ROWS, tmp_path / "d.csv"), text_column="review", label_column="stars")
    document = json.loads(json.dumps({"task": task.name, "data": task.record()}))
    assert adapter_task(document) == task
    assert adapter_task({"task": "sst2"}) is get_task("sst2")
    assert get_task(task) is task  # a task object passes through, like a GlueTask


def test_texts_from_a_text_file(tmp_path):
    """Oracle: the non-empty lines, stripped."""
    (tmp_path / "in.txt").write_text("first one\n\n  second one  \n")
    assert texts_from_file(tmp_path / "in.txt", ("text",)) == ["first one", "second one"]


def test_macro_f1_and_matthews_by_hand(tmp_path):
    """Oracle: per-class F1 by hand: labels 0 0 1 1 2, predictions 0 1 1 1 2 -> F1 2/3, 4/5, 1; mean 0.8222."""
    task = file_task(write(ROWS, tmp_path / "d.csv"), text_column="review", label_column="stars")
    got = glue_metrics(task, np.array([0, 1, 1, 1, 2]), np.array([0, 0, 1, 1, 2]))
    assert got == {"accuracy": pytest.approx(0.8), "macro_f1": pytest.approx((2 / 3 + 4 / 5 + 1) / 3)}


def test_regression_labels_of_minus_one_are_scored(tmp_path):
    """Oracle: a file's -1.0 is a label like any other (only GLUE's test rows use -1 for 'unlabelled')."""
    frame = ROWS.assign(score=[-1.0 + i / 7 for i in range(20)])
    task = file_task(write(frame, tmp_path / "d.csv"), text_column="review", label_column="score")
    labels = np.array([-1.0, 0.5, 1.5])
    assert glue_metrics(task, labels * 2, labels)["pearson"] == pytest.approx(1.0)
