"""Notebook 09 (any transformer): executed headlessly in smoke mode on tiny random models, checked through its
results.json and its figure."""

import pytest
from notebook_runner import image_outputs, run_notebook


@pytest.mark.slow
@pytest.mark.parametrize("decoder,placement", [("llama", "after_attention"), ("gpt2", "parallel_ffn")])
def test_09_any_transformer(tmp_path, mirror_dir, decoder, placement):
    """Oracles: the kinds of the three blocks, the hand-computed pre-LN block, exact causality, cached == uncached."""
    nb, res = run_notebook("09_any_transformer.ipynb", tmp_path, mirror_dir, decoder=decoder, placement=placement)
    kinds = [(s["kind"], s["causal"]) for s in res["specs"].values()]
    assert kinds == [("stream", False), ("branch", False), ("branch", True)]
    assert res["pre_ln_gap"] < 1e-5
    assert res["causal_exact"] is True and res["cached_equals_uncached"] is True
    assert res["map_shape"] == [2, 2, 6, 6]
    assert image_outputs(nb) >= 1  # the causal maps
