"""Notebook 07 (baselines and the frontier): house style, and a headless smoke run whose results.json is checked
against the harness's own definitions (mean and spread over seeds, the learning-rate grid, the parameter counts)."""

from __future__ import annotations

import ast
import math

import nbformat
import pytest

from notebook_runner import NOTEBOOKS, image_outputs, run_notebook

NB07 = "07_baselines_and_frontier.ipynb"


def _parameters_cell(nb):
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one code cell must be tagged `parameters`"
    return tagged[0]


def test_notebook_07_house_style():
    nb = nbformat.read(NOTEBOOKS / NB07, as_version=4)
    nbformat.validate(nb)
    first, code_cells = nb.cells[0], [c for c in nb.cells if c.cell_type == "code"]
    assert first.cell_type == "markdown" and first.source.startswith("# 07 ")
    for needed in ("arxiv.org/abs/2211.01979", "arxiv.org/abs/2106.09685", "arxiv.org/abs/1902.00751", "Time",
                   "You need"):
        assert needed in first.source, f"the header does not mention {needed!r}"
    install = code_cells[0].source
    assert '"google.colab" in sys.modules' in install and "%pip install" in install
    assert "%matplotlib inline" in install and "version(" in install
    assert code_cells[1] is _parameters_cell(nb), "the parameters cell comes right after the install cell"
    typed = {n.target.id for n in ast.parse(code_cells[1].source).body if isinstance(n, ast.AnnAssign)}
    assert {"smoke", "model_name", "data_dir", "output_dir", "tasks", "methods", "budget", "seeds"} <= typed
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "## What to notice" in text and "## Exercises" in text
    assert "LoRA paper's Table 2" in text and "unverified" in text  # the reference table says where it comes from
    assert any("results.json" in c.source for c in code_cells)
    for i, cell in enumerate(nb.cells):  # committed stripped
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"cell {i}: run nbstripout"


@pytest.mark.slow
def test_notebook_07_smoke_run(tmp_path, mirror_dir):
    from tinyattn_lab import compare
    from tinyattn_lab.methods import METHODS

    nb, results = run_notebook(NB07, tmp_path, mirror_dir, cache_dir=str(tmp_path / "cache"))
    assert results["smoke"] is True and results["model_name"] == "minilm"
    assert results["recipe"]["tasks"] == ["sst2"] and len(results["recipe"]["methods"]) == 5
    budget = compare.get_budget("smoke")
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
    assert results["reference_rows"] == compare.REFERENCE_ROWS
    assert image_outputs(nb) >= 2  # the frontier and the learning-rate plot
