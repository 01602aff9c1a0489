"""Notebook 07 (baselines and the frontier): a headless smoke run whose results.json is checked
against the harness's own definitions (mean and spread over seeds, the learning-rate grid, the parameter counts)."""

from __future__ import annotations

import math

import pytest

from notebook_runner import image_outputs, run_notebook

NB07 = "07_baselines_and_frontier.ipynb"


@pytest.mark.slow
def test_notebook_07_smoke_run(tmp_path, mirror_dir):
    from tinyattn_lab.baselines.report import REFERENCE_ROWS
    from tinyattn_lab.baselines.specs import get_budget
    from tinyattn_lab.baselines.methods import METHODS

    nb, results = run_notebook(NB07, tmp_path, mirror_dir, cache_dir=str(tmp_path / "cache"))
    assert results["smoke"] is True and results["model_name"] == "minilm"
    assert results["recipe"]["tasks"] == ["sst2"] and len(results["recipe"]["methods"]) == 5
    budget = get_budget("smoke")
    assert results["budget"]["train_size"] == budget.train_size
    rows = {r["method"]: r for r in results["rows"]}
    assert set(rows) == set(results["recipe"]["methods"])
    for name, row in rows.items():
        assert row["seeds"] == len(budget.seeds) and row["scores"]
        assert row["mean"] == pytest.approx(sum(row["scores"]) / len(row["scores"]))
        assert 0.0 <= row["mean"] <= 1.0 and not math.isnan(row["std"])
        assert row["best_lr"] == METHODS[name].lr_grid[1]  # smoke: the middle of each method's grid
        assert row["trainable"] == results["parameter_counts"][name]["trainable"]
        probe = results["probes"][name]
        assert probe["train_examples_per_second"] > 0 and probe["latency_ms"] > 0 and probe["peak_memory_mb"] >= 0
    counts = results["parameter_counts"]
    assert set(counts) == set(METHODS)
    assert counts["tiny_attention"]["method"] == 6 * (3 * 384 + 4 * 384 + 3)  # MiniLM: 6 layers of width 384
    assert counts["lora"]["method"] == 6 * 2 * (384 * 8 * 2)
    assert counts["head_only"]["trainable"] < counts["tiny_attention"]["trainable"] < counts["lora"]["trainable"]
    assert counts["full_finetune"]["trainable_percent"] == 100.0
    assert results["reference_rows"] == REFERENCE_ROWS
    assert image_outputs(nb) >= 2  # the frontier and the learning-rate plot
