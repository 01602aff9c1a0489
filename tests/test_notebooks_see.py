"""Notebooks 04-06 (seeing the attention, head averaging, head count): executed headlessly in smoke mode on the
embedded MiniLM and small real GLUE subsets, checked through their results.json and their real cell outputs."""

import math

import pytest
from notebook_runner import html_outputs, image_outputs, run_notebook

OURS = ["04_see_the_tiny_attention.ipynb", "05_head_averaging.ipynb", "06_play_with_head_count.ipynb"]
TOKEN_TYPES = {"CLS", "SEP", "punctuation", "word"}


def finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def closed_form(hidden: int, layers: int, inner_dim: int) -> int:
    """Trainable parameters of one adapter on every layer: 3d + 4dE + 3E per layer (counting.py's docstring)."""
    return layers * (3 * hidden + 4 * hidden * inner_dim + 3 * inner_dim)


# -- executed (slow) ----------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_04_see_the_tiny_attention(tmp_path, mirror_dir):
    nb, res = run_notebook("04_see_the_tiny_attention.ipynb", tmp_path, mirror_dir)
    assert res["smoke"] is True and res["task"] == "sst2" and res["num_heads"] == 4
    assert finite(res["metric"]) and res["metric"] > res["majority"]  # the adapter learned something
    # rank 1: a width-1 head's centred log-map has one singular value (round-off aside); a 32-wide backbone head more
    assert res["rank1"]["adapter_max_s2_over_s1"] < 1e-4 < res["rank1"]["backbone_median_s2_over_s1"]
    assert res["sentence_b_start"] is None  # SST-2 is single-sentence
    assert res["stats_sentences"] == 200
    for row in res["attention_mass"].values():  # uniform share, adapter, backbone: distributions over token types
        assert set(row) == TOKEN_TYPES and abs(sum(row.values()) - 1) < 1e-4
    assert res["adapter_favourite_type"] in TOKEN_TYPES
    assert image_outputs(nb) >= 4  # heatmaps, rank-1 figure, the static layer browser, token-type bars
    assert html_outputs(nb) >= 2  # bertviz head_view and model_view, as real outputs


@pytest.mark.slow
def test_04_on_a_sentence_pair_task_with_two_heads(tmp_path, mirror_dir):
    """Non-default parameters: MRPC pairs (bertviz gets sentence_b_start), 2 heads, smaller subsets."""
    nb, res = run_notebook("04_see_the_tiny_attention.ipynb", tmp_path, mirror_dir, task="mrpc", num_heads=2,
                           train_size=400, eval_size=200, stats_size=64, example=3)
    assert res["task"] == "mrpc" and res["num_heads"] == 2 and res["metric_name"] == "f1"
    assert res["train_examples"] == 400 and res["stats_sentences"] == 64
    assert finite(res["metric"]) and finite(res["majority"])
    assert 2 < res["sentence_b_start"] < res["example_tokens"]
    assert res["rank1"]["adapter_max_s2_over_s1"] < 1e-4
    assert image_outputs(nb) >= 4 and html_outputs(nb) >= 2


@pytest.mark.slow
def test_05_head_averaging(tmp_path, mirror_dir):
    nb, res = run_notebook("05_head_averaging.ipynb", tmp_path, mirror_dir)
    acc = res["accuracy"]
    assert set(acc) == {"single", "scratch", "scratch_averaged", "recipe", "recipe_averaged"}
    assert all(finite(v) and 0 <= v <= 1 for v in acc.values())
    assert acc["recipe_averaged"] > res["majority"]  # the deployable one-head model from the paper's recipe works
    for name in ("scratch", "recipe"):
        assert finite(res["gap"][name]["relative_logit_gap"]) and finite(res["spread"][name])
    assert res["identical_experts_gap"] < 1e-4  # identical experts average exactly
    # the recipe keeps its experts close, so averaging it costs less than averaging heads trained from scratch
    assert res["spread"]["recipe"] < res["spread"]["scratch"]
    assert res["gap"]["recipe"]["relative_logit_gap"] < res["gap"]["scratch"]["relative_logit_gap"]
    sweep = res["gap_vs_spread"]
    assert [p["noise"] for p in sweep] == [0.0, 0.01, 0.03, 0.1, 0.3, 1.0]
    assert all(finite(p["gap"]) and finite(p["spread"]) for p in sweep)
    assert sweep[-1]["gap"] > sweep[1]["gap"] > sweep[0]["gap"]  # the gap grows as the experts drift apart
    assert finite(res["gap_slope"])
    for table in res["timing"].values():
        assert all(finite(v) and v > 0 for v in table.values())
    assert set(res["timing"]["adapter_module_ms"]) == {"4 experts", "averaged (1 head)"}
    assert image_outputs(nb) >= 5  # accuracy bars, gap vs spread, logit scatter, two timing charts


@pytest.mark.slow
def test_06_play_with_head_count(tmp_path, mirror_dir):
    nb, res = run_notebook("06_play_with_head_count.ipynb", tmp_path, mirror_dir)
    d, layers, hc = res["hidden_size"], res["num_layers"], res["head_count"]
    assert (d, layers) == (384, 6)  # the embedded MiniLM
    assert hc["k"] == list(range(1, res["max_heads"] + 1))
    for k, counted, formula in zip(hc["k"], hc["adapter_params"], hc["formula"]):
        assert counted == formula == closed_form(d, layers, k)  # count_parameters == closed form
    assert len(res["grid"]) == 2 * 3  # widths [1, 4] x three placements in a smoke run
    for g in res["grid"]:
        assert g["adapter_params"] == g["formula"] == closed_form(d, layers, g["num_heads"] * g["head_dim"])
    metrics = hc["keep"] + hc["average"] + [g["metric"] for g in res["grid"]]
    assert all(finite(m) and 0 <= m <= 1 for m in metrics)
    assert res["best"]["metric"] > res["majority"]
    # oracles: keeping every head is the trained adapter; one kept head averaged is itself
    assert hc["keep"][-1] == pytest.approx(res["trained_max_heads_metric"], abs=1e-9)
    assert hc["average"][0] == pytest.approx(hc["keep"][0], abs=1e-9)
    assert image_outputs(nb) >= 2  # metric vs parameters, the static playground
