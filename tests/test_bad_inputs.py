"""Every bad input of issue 14 is refused: exit code 2, one line on stderr that says what to do, no traceback, and no
run folder left behind. Most are refused before any backbone is loaded (`no_model_loading`)."""

import json

import pandas as pd
import pytest

import tinyattn_lab.backbones
import tinyattn_lab.training.jobs
import tinyattn_lab.training.predict
from tinyattn_lab.cli import main

FRAME = pd.DataFrame({"review": ["good", "bad", "fine", "awful", "great", "poor"] * 2,
                      "sentiment": ["pos", "neg"] * 6, "score": [1.0, 0.0] * 6})


@pytest.fixture
def no_model_loading(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a backbone was loaded before the inputs were validated")

    for module in (tinyattn_lab.training.jobs, tinyattn_lab.training.predict, tinyattn_lab.backbones):
        monkeypatch.setattr(module, "load_backbone", refuse)


@pytest.fixture
def files(tmp_path):
    """A good CSV and the bad files the cases below point at."""
    FRAME.to_csv(tmp_path / "good.csv", index=False)
    FRAME.assign(sentiment=["pos", "meh"] * 6).to_csv(tmp_path / "unseen.csv", index=False)
    FRAME.assign(sentiment="pos").to_csv(tmp_path / "one_class.csv", index=False)
    FRAME.assign(review=[None, *FRAME.review[1:]]).to_csv(tmp_path / "no_text.csv", index=False)
    FRAME.assign(sentiment=[*FRAME.sentiment[:3], None, *FRAME.sentiment[4:]]).to_json(
        tmp_path / "no_label.jsonl", orient="records", lines=True)
    (tmp_path / "header_only.csv").write_text("review,sentiment\n")
    (tmp_path / "garbage.parquet").write_bytes(b"\x00\x01 not a parquet file")
    (tmp_path / "sheet.xlsx").write_bytes(b"PK")
    return tmp_path


def run(argv, tmp_path, capsys):
    """(exit code, the stderr line) of the CLI; argparse's own errors count too."""
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    try:
        code = main(argv)
    except SystemExit as err:
        code = err.code
    captured = capsys.readouterr()
    return code, captured.err.strip().splitlines(), captured.out


OWN = ["train", "--train-file", "{tmp}/good.csv", "--text-column", "review", "--label-column", "sentiment",
       "--output", "{tmp}/run"]


def own(*changes, **replace):
    argv = list(OWN)
    for key, value in replace.items():
        argv[argv.index(f"--{key.replace('_', '-')}") + 1] = value
    return [*argv, *changes]


@pytest.mark.parametrize("argv,words", [
    (own("--epochs", "0"), ["epochs must be a whole number >= 1", "0"]),
    (own("--batch-size", "0"), ["batch_size must be a whole number >= 1"]),
    (own("--warmup-ratio", "1.5"), ["warmup_ratio", "[0, 1)"]),
    (own("--num-heads", "0"), ["num_heads must be a positive integer"]),
    (own(train_file="{tmp}/missing.csv"), ["No file", "missing.csv"]),
    (own(train_file="{tmp}/garbage.parquet"), ["Cannot read", "garbage.parquet", "PARQUET"]),
    (own(train_file="{tmp}/sheet.xlsx"), ["unknown file type '.xlsx'", ".csv", ".parquet"]),
    (own(text_column="body"), ["no column(s) 'body'", "its columns are 'review', 'sentiment', 'score'"]),
    (own(train_file="{tmp}/header_only.csv"), ["has no rows"]),
    (own("--validation-file", "{tmp}/unseen.csv"), ["label(s) meh", "never occur in the training file", "neg, pos"]),
    (own(train_file="{tmp}/one_class.csv"), ["every row has the label 'pos'", "two or more"]),
    (own(train_file="{tmp}/no_text.csv"), ["row 1 of the text column 'review'", "not a text"]),
    (own(train_file="{tmp}/no_label.jsonl"), ["row 4 has no label in 'sentiment'"]),
    (own(label_column="score"), ["floats with whole values", "--regression"]),
    (own("--regression"), ["--regression needs numeric labels"]),
    (own("--holdout", "12"), ["cannot hold out 12", "--holdout"]),
    (own("--holdout", "2.5"), ["holdout must be a share between 0 and 1 or a whole number"]),
    (own("--validation-file", "{tmp}/good.csv", "--holdout", "0.2"), ["--holdout splits the training file",
                                                                       "one or the other"]),
    (["train", "--task", "sst2", "--text-column", "review", "--output", "{tmp}/run"],
     ["--text-column goes with --train-file, not --task"]),
    (["compare", "--task", "sst2", "--methods", "lora:r=abc", "--output", "{tmp}/run/cmp"],
     ["lora: r must be a whole number", "'abc'", "lora:r=8"]),
    (["course", "--only", "42", "--output", "{tmp}/run"], ["--only 42 matches none of the course notebooks",
                                                            "01_"]),
])
def test_refused_before_anything_is_loaded(argv, words, files, capsys, no_model_loading):
    """Oracle: the issue's list; exit 2, exactly one stderr line naming the command, its key words, no stdout
    traceback and no run folder."""
    code, err, out = run(argv, files, capsys)
    assert code == 2, (err, out)
    assert len(err) == 1 and err[0].startswith(f"tinyattn-lab {argv[0]}: error: "), err
    for word in words:
        assert word in err[0], (word, err[0])
    assert "Traceback" not in out
    assert not (files / "run").exists()


def test_max_length_too_short_is_refused(files, capsys):
    """Oracle: MiniLM's tokenizer adds 2 special tokens, so one text needs max_length >= 3; 0 trained to 50% before."""
    code, err, _ = run(own("--max-length", "0"), files, capsys)
    assert code == 2 and len(err) == 1
    assert "max_length must be a whole number of tokens >= 3" in err[0] and "got 0" in err[0]
    assert not (files / "run").exists()


def test_task_and_train_file_are_exclusive(files, capsys):
    code, err, _ = run(["train", "--task", "sst2", "--train-file", "{tmp}/good.csv", "--output", "{tmp}/run"],
                       files, capsys)
    assert code == 2 and "not allowed with argument" in err[-1]


@pytest.fixture
def saved_adapter(tmp_path):
    """A tiny bert adapter saved for sst2, and a function that edits its adapter_config.json."""
    from conftest import tiny_model

    from tinyattn_lab import TinyAttnConfig, TinyAttnModel

    TinyAttnModel(tiny_model("bert"), TinyAttnConfig()).save_pretrained(tmp_path / "adapter", task="sst2")

    def edit(**changes):
        path = tmp_path / "adapter" / "adapter_config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
    return tmp_path / "adapter", edit


@pytest.mark.parametrize("changes,words", [
    ({"format_version": 99}, ["format_version 99", "reads versions 1 to 1", "upgrade tinyattn-lab"]),
    ({"peft_type": "LORA"}, ["is a 'LORA' adapter, not a tiny-attention one", "peft"]),
])
@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_foreign_adapter_configs_are_refused(saved_adapter, changes, words, command, capsys, no_model_loading):
    """Oracle: the two configs of the issue that were accepted silently, refused by evaluate and predict alike."""
    adapter, edit = saved_adapter
    edit(**changes)
    code, err, _ = run([command, str(adapter), *(["some text"] if command == "predict" else [])], adapter, capsys)
    assert code == 2 and len(err) == 1 and err[0].startswith(f"tinyattn-lab {command}: error:")
    assert all(word in err[0] for word in words), err[0]


def test_predict_needs_text(saved_adapter, capsys, no_model_loading):
    adapter, _ = saved_adapter
    code, err, _ = run(["predict", str(adapter)], adapter, capsys)
    assert code == 2 and err == ["tinyattn-lab predict: error: No text to predict: give one or more texts (or a file "
                                 "of them)."]
    code, err, _ = run(["predict", str(adapter), "--file", str(adapter / "none.txt")], adapter, capsys)
    assert code == 2 and len(err) == 1 and "No file" in err[0]


def test_evaluate_file_is_for_own_data_adapters(saved_adapter, files, capsys, no_model_loading):
    adapter, _ = saved_adapter
    code, err, _ = run(["evaluate", str(adapter), "--file", "{tmp}/good.csv"], files, capsys)
    assert code == 2 and len(err) == 1 and "trained on GLUE sst2" in err[0]


def test_shape_mismatch_is_one_line(tmp_path, capsys):
    """Oracle: an adapter saved with 1 head whose config says 2: one line naming a tensor and both shapes (torch's
    message was several lines); MiniLM's hidden size 384, so qkv is [3 * 1, 384] in the file and [3 * 2, 384]."""
    from tinyattn_lab import TinyAttnConfig, TinyAttnModel
    from tinyattn_lab.backbones import load_backbone

    backbone, _ = load_backbone("minilm")
    TinyAttnModel(backbone, TinyAttnConfig()).save_pretrained(tmp_path / "adapter", task="sst2")
    path = tmp_path / "adapter" / "adapter_config.json"
    document = json.loads(path.read_text())
    document["tinyattn"]["num_heads"] = 2
    path.write_text(json.dumps(document))
    code, err, _ = run(["predict", str(tmp_path / "adapter"), "a sentence"], tmp_path, capsys)
    assert code == 2 and len(err) == 1, err
    assert "does not fit its config" in err[0] and "[3, 384] in the file, [6, 384] from the config" in err[0]
    assert "save again" in err[0]


def test_own_data_adapter_refuses_wrong_split_and_single_texts_for_pairs(saved_adapter, files, capsys,
                                                                        no_model_loading):
    """Oracle: the task recorded in the adapter: it has train and validation only, and reads pairs of texts."""
    from tinyattn_lab.data.files import file_task

    adapter, edit = saved_adapter
    FRAME.assign(other=FRAME.review).to_csv(files / "pairs.csv", index=False)
    task = file_task(files / "pairs.csv", text_column="review", text_pair_column="other", label_column="sentiment")
    edit(data=task.record())
    code, err, _ = run(["evaluate", str(adapter), "--split", "test"], files, capsys)
    assert code == 2 and len(err) == 1 and "has the splits train and validation, not 'test'" in err[0]
    code, err, _ = run(["predict", str(adapter), "just one text"], files, capsys)
    assert code == 2 and len(err) == 1
    assert "must be a pair of texts (review, other)" in err[0] and "--file" in err[0]
    (files / "in.txt").write_text("one line\n")
    code, err, _ = run(["predict", str(adapter), "--file", "{tmp}/in.txt"], files, capsys)
    assert code == 2 and len(err) == 1 and "reads pairs of texts" in err[0]
