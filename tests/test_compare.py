"""The comparison harness: method specs, budgets, cache keys, the sweep protocol, the tables, the probe and the CLI.

Training runs use a random 2-layer, hidden-16 BERT saved with the embedded backbone's tokenizer, on 16 examples of the
real GLUE mirror (skipped without it), so a run takes about a second.
"""

import json
import math

import pytest

from tinyattn_lab.baselines import compare, report as compare_report, probes
from tinyattn_lab.baselines.specs import Budget, MethodSpec, get_budget, parse_method, run_key


TINY = Budget(train_size=16, eval_size=16, epochs=1, batch_size=8, eval_batch_size=16, max_length=32,
              evals_per_epoch=1, seeds=(0, 1), lr_points=2, sweep="first-seed")


# -- specs and budgets -----------------------------------------------------------------------------------------------------

def test_method_specs():
    assert parse_method("lora") == MethodSpec("lora")
    spec = parse_method("tiny_attention:num_heads=4,dropout=0.0,layers=[0,1]")
    assert spec.hp == {"num_heads": 4, "dropout": 0.0, "layers": [0, 1]}
    assert parse_method("lora:r=16,alpha=32").label == "lora(alpha=32,r=16)"
    assert parse_method("lora:r=16").resolved_hp()["r"] == 16
    with pytest.raises(ValueError, match="Unknown method"):
        parse_method("loha")
    with pytest.raises(ValueError, match="no hyperparameter"):
        parse_method("lora:rank=4")
    with pytest.raises(ValueError, match="key=value"):
        parse_method("lora:16")


def test_budgets():
    assert get_budget("cpu").sweep == "first-seed" and len(get_budget("cpu").seeds) >= 2
    assert get_budget("smoke", epochs=3).epochs == 3
    grid = (1e-4, 1e-3, 1e-2)
    assert [Budget(lr_points=k).learning_rates(grid) for k in (1, 2, 3)] == [[1e-3], [1e-3, 1e-2], list(grid)]
    with pytest.raises(ValueError):
        Budget(lr_points=4)
    with pytest.raises(ValueError):
        get_budget("huge")


def test_cache_key_names_everything_a_run_depends_on():
    spec = MethodSpec("lora")
    key = run_key("rte", spec, 1e-3, 0, TINY, "minilm")
    assert key == run_key("rte", MethodSpec("lora", {"r": 8}), 1e-3, 0, TINY, "minilm")  # defaults resolved
    assert key == run_key("rte", spec, 1e-3, 0, TINY.replace(seeds=(0, 1, 2), lr_points=3), "minilm")
    changed = [run_key("mrpc", spec, 1e-3, 0, TINY, "minilm"), run_key("rte", MethodSpec("lora", {"r": 4}), 1e-3, 0,
               TINY, "minilm"), run_key("rte", spec, 3e-3, 0, TINY, "minilm"), run_key("rte", spec, 1e-3, 1, TINY,
               "minilm"), run_key("rte", spec, 1e-3, 0, TINY.replace(train_size=32), "minilm"),
               run_key("rte", spec, 1e-3, 0, TINY.replace(eval_size=32), "minilm"),
               run_key("rte", spec, 1e-3, 0, TINY.replace(epochs=2), "minilm"),
               run_key("rte", spec, 1e-3, 0, TINY, "roberta-base")]
    assert len({key, *changed}) == len(changed) + 1


# -- summaries from synthetic records -----------------------------------------------------------------------------------------

def _record(task, label, lr, seed, score, trainable=100):
    return {"task": task, "label": label, "method": label, "family": "peft", "lr": lr, "seed": seed,
            "best_main": score, "best": {"accuracy": score, "f1": score / 2, "step": 1}, "main_metric": "accuracy",
            "parameters": {"trainable": trainable, "total": 1000, "trainable_percent": 10.0},
            "train_examples_per_second": 5.0, "train_examples": 16, "steps": 2}


def test_learning_rate_choice_and_spread():
    specs = [MethodSpec("lora")]
    records = [_record("rte", "lora", 1e-3, 0, 0.60), _record("rte", "lora", 3e-3, 0, 0.70),
               _record("rte", "lora", 3e-3, 1, 0.50)]
    first = compare.summarize(records, {}, ["rte"], specs, TINY)["rows"][0]  # chosen on seed 0: 3e-3
    assert first["best_lr"] == 3e-3 and first["mean"] == pytest.approx(0.60) and first["seeds"] == 2
    assert first["std"] == pytest.approx(math.sqrt(0.02))
    records.append(_record("rte", "lora", 1e-3, 1, 0.62))
    grid = compare.summarize(records, {}, ["rte"], specs, TINY.replace(sweep="grid"))["rows"][0]
    assert grid["best_lr"] == 1e-3 and grid["mean"] == pytest.approx(0.61)  # 0.61 > mean(0.70, 0.50)


def test_average_and_glue_table():
    specs = [MethodSpec("lora")]
    records = [_record(t, "lora", 1e-3, s, v) for t, v in (("rte", 0.6), ("mrpc", 0.8), ("wnli", 0.5))
               for s in (0, 1)]
    result = compare.summarize(records, {}, ["rte", "mrpc", "wnli"], specs, TINY)
    result.update(tasks=["rte", "mrpc", "wnli"], methods=["lora"])
    assert result["average"][0]["mean"] == pytest.approx((0.6 + 0.8 + 0.5) / 3)
    table = compare_report.glue_table(result, "lora")
    mrpc = next(r for r in table["rows"] if r["task"] == "mrpc")
    assert mrpc["score"] == pytest.approx((0.8 + 0.4) / 2)  # the mean of the task's metrics, as GLUE scores it
    scores = {r["task"]: r["score"] for r in table["rows"]}
    assert table["average"] == pytest.approx(sum(scores.values()) / 3)
    assert table["average_without_wnli"] == pytest.approx((scores["rte"] + scores["mrpc"]) / 2)
    assert "average without WNLI" in compare_report.format_glue_table(table)


# -- real (tiny) runs ------------------------------------------------------------------------------------------------------------

def test_available_tasks(mirror_dir):
    tasks = compare.available_tasks(mirror_dir)
    assert {"sst2", "mrpc", "rte", "cola", "stsb"} <= set(tasks)
    for name in tasks:
        assert (mirror_dir / "glue" / name / "train.parquet").is_file()


def test_compare_trains_sweeps_caches_and_extends(tiny_backbone, mirror_dir, tmp_path, monkeypatch):
    import tinyattn_lab.training.loop as train_module

    calls = []

    fit = train_module.fit

    def counting_fit(model, task, *args, **kwargs):
        calls.append(task)
        return fit(model, task, *args, **kwargs)

    monkeypatch.setattr(train_module, "fit", counting_fit)
    out = tmp_path / "cmp"
    kwargs = dict(budget=TINY, model_name=tiny_backbone, data_dir=mirror_dir, cache_dir=tmp_path / "cache",
                  probes=False, log=lambda line: None)
    result = compare.compare(["rte"], ["tiny_attention", "head_only"], output=out, **kwargs)
    assert len(calls) == 2 * 3  # per method: 2 rates on seed 0, then seed 1 at the better one
    for suffix in (".json", ".csv", ".png"):
        assert out.with_suffix(suffix).is_file()
    rows = {r["method"]: r for r in result["rows"]}
    assert rows["tiny_attention"]["seeds"] == 2 and len(rows["tiny_attention"]["lr_sweep"]) == 2
    assert rows["head_only"]["trainable"] < rows["tiny_attention"]["trainable"]
    again = compare.compare(["rte"], ["tiny_attention", "head_only"], **kwargs)
    assert len(calls) == 6  # everything came from the cache
    assert again["rows"] == result["rows"]
    compare.compare(["rte"], ["tiny_attention", "head_only", "bitfit"], **kwargs)
    assert len(calls) == 9  # only the new method trained
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["tasks"] == ["rte"] and "| tiny_attention |" in compare_report.format_table(saved)


def test_probe_reports_memory_latency_and_throughput(tiny_backbone, tmp_path):
    spec = MethodSpec("tiny_attention")
    shape = probes.ProbeShape(batch_size=4, seq_len=16, steps=3, latency_repeats=2)
    record = probes.probe(spec, tiny_backbone, shape, tmp_path, subprocess_=True)  # a fresh process, as in use
    assert record["subprocess"] and record["train_examples_per_second"] > 0 and record["latency_ms"] > 0
    assert record["peak_memory_mb"] >= 0 and record["memory_measure"]
    assert record["parameters"]["trainable"] == 2 * (3 * 16 + 4 * 16 + 3) + 16 * 2 + 2
    assert probes.probe(spec, tiny_backbone, shape, tmp_path) == record  # cached


def test_side_by_side_throughput(tiny_backbone):
    result = probes.side_by_side_throughput(["tiny_attention", "lora"], tiny_backbone, batch_size=4, seq_len=16,
                                            rounds=2, steps_per_round=1)
    assert set(result["examples_per_second"]) == {"tiny_attention", "lora"}
    assert result["ratio"]["of"] == "tiny_attention / lora" and len(result["per_round"]["lora"]) == 2


def test_cli_compare_and_glue(tiny_backbone, mirror_dir, tmp_path, capsys):
    from tinyattn_lab.cli import main

    common = ["--model", tiny_backbone, "--data-dir", str(mirror_dir), "--cache", str(tmp_path / "cache"),
              "--budget", "smoke", "--train-size", "16", "--eval-size", "16", "--seeds", "0"]
    assert main(["compare", "--task", "rte", "--methods", "head_only", "lora:r=2", "--lr", "lora=1e-3",
                 "--no-probe", "--output", str(tmp_path / "c"), *common]) == 0
    assert "| lora(r=2) |" in capsys.readouterr().out
    result = json.loads((tmp_path / "c.json").read_text())
    assert next(r for r in result["rows"] if r["method"] == "lora(r=2)")["best_lr"] == 1e-3
    assert main(["glue", "--method", "head_only", "--task", "rte", "mrpc", "--output", str(tmp_path / "g"),
                 *common]) == 0
    table = json.loads((tmp_path / "g.json").read_text())
    assert [r["task"] for r in table["rows"]] == ["rte", "mrpc"]
    assert set(table["rows"][1]["metrics"]) == {"accuracy", "f1"}
    assert (tmp_path / "g.md").read_text().startswith("| task |")
    assert main(["compare", "--task", "rte", "--methods", "nope", "--output", str(tmp_path / "x"), *common]) == 2
