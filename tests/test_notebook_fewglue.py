"""Notebook 08 (FewGLUE): a headless smoke run whose results.json is checked against numbers computed
here from the mirror, independently of the notebook (seed statistics, majority baselines, the word-start check)."""

from __future__ import annotations


import numpy as np
import pytest

from notebook_runner import image_outputs, run_notebook

NB08 = "08_fewglue.ipynb"


@pytest.mark.slow
def test_notebook_08_smoke_run(tmp_path, mirror_dir):
    from tinyattn_lab.fewglue.data import eval_subset, load_fewglue
    from tinyattn_lab.fewglue.metrics import fewglue_metrics
    from tinyattn_lab.fewglue.tasks import PUBLISHED

    # one torch thread: on a shared 2-core machine two threads were measured 10-20x slower per training step
    nb, results = run_notebook(NB08, tmp_path, mirror_dir, torch_threads=1)
    assert results["smoke"] is True and results["path"] == "head" and results["model_name"] == "minilm"
    assert set(results["tasks"]) == {"cb", "rte"} and results["recipe"]["seeds"] == [1, 2, 3]
    assert results["wordstart_bug"] == {"reference_ids_all_unk": True, "our_tokens": ["▁yes", "▁no", "▁maybe"]}
    for name, task in results["tasks"].items():
        data = load_fewglue(name, mirror_dir)
        assert task["eval_examples"] == min(100, len(data["validation"])) and task["train_examples"] == 32
        runs = task["runs"]
        assert [r["seed"] for r in runs] == [1, 2, 3]
        for metric, stats in task["summary"].items():  # mean and spread recomputed from the per-seed numbers
            values = [r["metrics"][metric] for r in runs]
            assert stats["values"] == pytest.approx(values)
            assert stats["mean"] == pytest.approx(np.mean(values))
            assert stats["std"] == pytest.approx(np.std(values, ddof=1))
            assert all(0.0 <= v <= 1.0 for v in values)
        # the majority baseline, computed here from the labels alone
        majority = int(np.bincount(data["train"]["label"]).argmax())
        labels = np.array(eval_subset(name, data["validation"], 100)["label"])
        expected = fewglue_metrics(name, np.full(len(labels), majority), labels)
        for metric, value in expected.items():
            assert task["majority_baseline"][metric] == pytest.approx(value)
        assert task["parameters"]["adapter"] == 6 * (3 * 384 + 4 * 384 + 3)
    assert results["tasks"]["cb"]["majority_baseline"]["accuracy"] == pytest.approx(23 / 56)  # all 56 rows
    assert results["published"] == PUBLISHED and all(p["split"] in ("dev", "test") for p in PUBLISHED)
    assert image_outputs(nb) >= 1
