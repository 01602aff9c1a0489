"""Train on your own file from the CLI, score it again with `evaluate`, label sentences with `predict` (MiniLM)."""

import json

import pandas as pd
import pytest
import torch

from tinyattn_lab.cli import main
from tinyattn_lab.data.files import FileTask, file_splits
from tinyattn_lab.training.predict import predict

POSITIVE = ["a wonderful film", "great acting", "I loved it", "superb and moving", "a delight", "brilliant work"]
NEGATIVE = ["a dreadful film", "awful acting", "I hated it", "dull and tedious", "a mess", "terrible work"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, minilm_path):
    """A few steps on 24 labelled rows, 6 held out; enough to have an adapter, not to be good."""
    folder = tmp_path_factory.mktemp("own")
    frame = pd.DataFrame({"words": POSITIVE + NEGATIVE, "mood": ["happy"] * 6 + ["sad"] * 6})
    pd.concat([frame, frame]).to_csv(folder / "moods.csv", index=False)
    argv = ["train", "--train-file", str(folder / "moods.csv"), "--text-column", "words", "--label-column", "mood",
            "--holdout", "6", "--output", str(folder / "run"), "--epochs", "1", "--batch-size", "6",
            "--max-length", "16", "--no-progress", "--init-scale", "0.1", "--linear-head"]
    assert main(argv) == 0
    return folder


def test_train_records_where_its_data_came_from(trained, capsys):
    """Oracle: the arguments given; the adapter's config is enough to rebuild the task and its held-out rows."""
    document = json.loads((trained / "run" / "adapter" / "adapter_config.json").read_text())
    data = document["data"]
    assert data["label_names"] == ["happy", "sad"] and data["text_keys"] == ["words"]
    assert data["label_column"] == "mood" and data["source"]["train_file"] == str(trained / "moods.csv")
    assert data["source"]["holdout"] == 6 and data["source"]["validation_file"] is None
    metrics = json.loads((trained / "run" / "metrics.json").read_text())
    assert metrics["train_examples"] == 18 and metrics["eval_examples"] == {"validation": 6}
    assert set(metrics["best"]) >= {"accuracy", "macro_f1", "matthews"}


def test_evaluate_and_predict_agree(trained, capsys):
    """Oracle: evaluate reproduces the best dev accuracy of training; the held-out rows written to a file score the
    same; predict's labels on them give that accuracy again; its probabilities sum to 1 and peak at the label."""
    adapter = str(trained / "run" / "adapter")
    best = json.loads((trained / "run" / "metrics.json").read_text())["best"]
    capsys.readouterr()
    assert main(["evaluate", adapter]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["accuracy"] == pytest.approx(best["accuracy"], abs=1e-9)

    task = FileTask.from_record(json.loads((trained / "run" / "adapter" / "adapter_config.json").read_text())["data"])
    held = file_splits(task)["validation"]
    names = [task.label_names[i] for i in held["label"]]
    pd.DataFrame({"words": list(held["words"]), "mood": names}).to_csv(trained / "held.csv", index=False)
    assert main(["evaluate", adapter, "--file", str(trained / "held.csv")]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == pytest.approx(best["accuracy"], abs=1e-9)

    rows = predict(adapter, list(held["words"]))
    assert sum(r["label"] == n for r, n in zip(rows, names)) / len(names) == pytest.approx(best["accuracy"])
    for row in rows:
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
        assert row["label"] == max(row["probabilities"], key=row["probabilities"].get)


def test_predict_cli_prints_one_json_line_per_input(trained, capsys):
    """Oracle: the Python function's output, line for line, for texts given as arguments and in a .txt file."""
    adapter = str(trained / "run" / "adapter")
    (trained / "in.txt").write_text("a wonderful film\n\nterrible work\n")
    capsys.readouterr()
    assert main(["predict", adapter, "I loved it", "--file", str(trained / "in.txt")]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == predict(adapter, ["I loved it", "a wonderful film", "terrible work"])  # JSON keeps floats exact


def test_predict_names_glue_labels_and_regression_values(tmp_path, minilm_path):
    """Oracle: SST-2's label names from the GLUE table; a regression adapter's value is its model's single logit."""
    from tinyattn_lab import TinyAttnConfig, TinyAttnModel
    from tinyattn_lab.backbones import load_backbone

    torch.manual_seed(0)
    backbone, tokenizer = load_backbone("minilm")
    TinyAttnModel(backbone, TinyAttnConfig()).save_pretrained(tmp_path / "sst2", task="sst2", model_name="minilm")
    row = predict(tmp_path / "sst2", "a wonderful film")[0]
    assert set(row["probabilities"]) == {"negative", "positive"} and row["label"] in ("negative", "positive")

    backbone, tokenizer = load_backbone("minilm", num_labels=1)
    model = TinyAttnModel(backbone, TinyAttnConfig()).eval()
    model.save_pretrained(tmp_path / "stsb", task="stsb", model_name="minilm")
    pair = ("a man plays a guitar", "someone plays music")
    with torch.no_grad():
        expected = model(**tokenizer(*pair, return_tensors="pt")).logits[0, 0].item()
    assert predict(tmp_path / "stsb", [pair]) == [{"text": list(pair), "value": pytest.approx(expected, abs=1e-5)}]


@pytest.mark.slow
def test_sst2_as_your_own_csv_learns_above_majority(tmp_path, mirror_dir, minilm_path, capsys):
    """Oracle: the majority baseline on the same held-out rows. The issue's done-when check on a smaller budget: SST-2
    sentences under other column names with string labels, no validation file, 200 of 800 rows held out."""
    rows = pd.read_parquet(mirror_dir / "glue" / "sst2" / "train.parquet").sample(800, random_state=0)
    pd.DataFrame({"review": rows["sentence"], "sentiment": rows["label"].map({0: "negative", 1: "positive"})}).to_csv(
        tmp_path / "reviews.csv", index=False)
    assert main(["train", "--train-file", str(tmp_path / "reviews.csv"), "--text-column", "review",
                 "--label-column", "sentiment", "--holdout", "200", "--output", str(tmp_path / "run"), "--lr", "3e-3",
                 "--epochs", "2", "--evals-per-epoch", "2", "--batch-size", "16", "--max-length", "64",
                 "--no-progress"]) == 0
    assert "200 of the 800 rows" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["eval_examples"] == {"validation": 200}
    assert metrics["best"]["accuracy"] > metrics["majority_baseline"]["validation"]["accuracy"] + 0.05
