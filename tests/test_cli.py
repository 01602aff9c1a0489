"""Tests for tinyattn_lab.cli: the count command, documented options, and bad inputs that fail fast with exit code 2."""

import argparse
import re

import pytest

import tinyattn_lab.backbones
import tinyattn_lab.training.jobs
from tinyattn_lab.cli import build_parser, main
from tinyattn_lab.budget import roberta_large_budget


def numbers(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text)]


def test_count_prints_paper_budget(capsys):
    """Oracle: roberta_large_budget() itself, and the paper's 0.05%."""
    assert main(["count"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("trainable params:"))
    trainable, total, percent = numbers(line)
    count = roberta_large_budget()
    assert (trainable, total) == (count.trainable, count.total)
    assert percent == pytest.approx(count.trainable_percent, abs=5e-5)
    assert round(percent, 2) == 0.05


def test_count_with_wider_heads(capsys):
    """Oracle: 24 layers * (3d + 4dE + 3E) + the linear head, at d = 1024, E = 4 * 2."""
    assert main(["count", "--num-heads", "4", "--head-dim", "2"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("trainable params:"))
    assert numbers(line)[0] == 24 * (3 * 1024 + 4 * 1024 * 8 + 3 * 8) + 1024 * 2 + 2


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("command", ["train", "evaluate", "count"])
def test_every_option_documented(command):
    """Oracle: argparse's own list of options; each needs a non-empty help text that appears in --help."""
    parser = subcommands()[command]
    options = [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]
    assert options
    text = " ".join(parser.format_help().split())
    for action in options:
        assert action.help and action.help.strip(), action.option_strings
        assert any(o in text for o in action.option_strings)
        first_words = " ".join(action.help.split()[:3]).split("%")[0].strip()
        assert first_words in text, action.option_strings


def test_train_options_cover_config_and_train_args():
    """Oracle: the fields of TinyAttnConfig and TrainArgs; each is settable from the command line."""
    from dataclasses import fields

    from tinyattn_lab.config import TinyAttnConfig
    from tinyattn_lab.training.loop import TrainArgs

    dests = {a.dest for a in subcommands()["train"]._actions}
    assert {f.name for f in fields(TinyAttnConfig)} <= dests
    # not on the command line: eval_batch_size, max_grad_norm (fixed at the paper's 1.0) and progress (--no-progress)
    assert {f.name for f in fields(TrainArgs)} - {"eval_batch_size", "max_grad_norm", "progress"} <= dests
    assert "no_progress" in dests


@pytest.fixture
def no_model_loading(monkeypatch):
    """Bad inputs must be refused before any backbone is loaded."""

    def refuse(*args, **kwargs):
        raise AssertionError("a backbone was loaded before the inputs were validated")

    monkeypatch.setattr(tinyattn_lab.training.jobs, "load_backbone", refuse)
    monkeypatch.setattr(tinyattn_lab.backbones, "load_backbone", refuse)


def exit_code(argv) -> int:
    try:
        return main(argv)
    except SystemExit as err:  # argparse's own errors
        return err.code


@pytest.mark.parametrize("argv,message", [
    (["train", "--task", "nope", "--output", "{tmp}/run"], r"unknown GLUE task 'nope'.*sst2"),
    (["train", "--task", "sst2", "--output", "{tmp}/run", "--num-heads", "0"], r"num_heads must be a positive"),
    (["train", "--task", "sst2", "--output", "{tmp}/run", "--head-dim", "-1"], r"head_dim must be a positive"),
    (["train", "--task", "sst2", "--output", "{tmp}/run", "--dropout", "1"], r"dropout must be in \[0, 1\)"),
    (["train", "--task", "sst2", "--output", "{tmp}/run", "--data-dir", "{tmp}/no-data"], r"no-data.*does not exist"),
    (["evaluate", "{tmp}/no-adapter"], r"No adapter_config.json in .*no-adapter"),
    (["train", "--task", "sst2", "--output", "{tmp}/run", "--placement", "nowhere"], r"invalid choice: 'nowhere'"),
    (["train", "--output", "{tmp}/run"], r"--task"),
])
def test_bad_inputs_exit_2_fast(argv, message, tmp_path, capsys, no_model_loading, monkeypatch):
    """Oracle: exit status 2 and the reason on stderr, with no backbone loaded and no run folder created."""
    monkeypatch.delenv("TINYATTN_DATA", raising=False)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert exit_code(argv) == 2
    captured = capsys.readouterr()
    assert re.search(message, captured.err), captured.err
    assert captured.out == ""
    assert not (tmp_path / "run").exists()


def test_evaluate_missing_data_dir_fails_before_loading(tmp_path, capsys, no_model_loading):
    """Oracle: a saved adapter is found, but the data folder is not: exit 2 before any backbone is loaded."""
    import torch
    from conftest import tiny_model

    from tinyattn_lab import TinyAttnConfig, TinyAttnModel

    torch.manual_seed(0)
    TinyAttnModel(tiny_model("bert"), TinyAttnConfig()).save_pretrained(tmp_path / "adapter", task="sst2")
    assert exit_code(["evaluate", str(tmp_path / "adapter"), "--data-dir", str(tmp_path / "no-data")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinyattn-lab evaluate: error:") and "does not exist" in err
