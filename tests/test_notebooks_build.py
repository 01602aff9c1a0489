"""Build checks for the teaching notebooks.

* (the house style of every notebook is checked in test_notebooks_style.py)
* the `TinyAttentionFromScratch` class written in notebook 01 is read out of the notebook file itself and must match
  `tinyattn_lab.TinyAttention` numerically;
* each notebook runs headless in smoke mode (papermill, embedded MiniLM, small real subsets of the GLUE mirror) and
  its results.json is checked against numbers computed here, independently of the notebook.
"""

from __future__ import annotations

import ast
import math
from dataclasses import asdict
from pathlib import Path

import nbformat
import pytest
import torch

from notebook_runner import NOTEBOOKS, image_outputs, run_notebook

NB01 = "01_tiny_attention_from_scratch.ipynb"
NB02 = "02_adapter_in_a_frozen_encoder.ipynb"
NB03 = "03_train_on_glue.ipynb"
MINILM_D, MINILM_LAYERS = 384, 6
# Measured in notebook 03's smoke run (1,920 SST-2 sentences, lr 3e-3, one epoch): 0.765-0.795 dev accuracy on 400 dev
# sentences over four runs with one head (CPU training is not bitwise reproducible here), 0.813 with two heads on 300,
# against a majority baseline of 0.52-0.53. A margin of 0.15 leaves room for other machines.
SST2_MARGIN = 0.15


def closed_form(d: int, inner_dim: int) -> int:
    """Parameters of one tiny-attention adapter: LayerNorm 2d + qkv (d + 1) 3E + out (E + 1) d = 3d + 4dE + 3E."""
    return 2 * d + (d + 1) * 3 * inner_dim + (inner_dim + 1) * d


def import_definitions_from_notebook(path: Path, names: list[str] | None = None) -> dict:
    """Execute only the imports, functions and classes of a notebook's code cells (in order); return the namespace.

    As in LLMs-from-scratch's `import_definitions_from_notebook`: nothing else in the notebook runs, so no data is
    loaded and no figure is drawn. IPython syntax (%magics) is translated first; cells that still do not parse are
    skipped.
    """
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell
    namespace: dict = {"__name__": f"notebook_{path.stem}"}
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(transform(cell.source))
        except SyntaxError:
            continue
        keep = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef))]
        if keep:
            exec(compile(ast.Module(body=keep, type_ignores=[]), str(path), "exec"), namespace)
    if names is None:
        return namespace
    missing = [n for n in names if n not in namespace]
    assert not missing, f"{path.name} defines no {missing}"
    return {n: namespace[n] for n in names}


# ------------------------------------------------------------------------------------------------ notebook 01 vs lib
@pytest.fixture(scope="module")
def from_scratch():
    return import_definitions_from_notebook(NOTEBOOKS / NB01, ["TinyAttentionFromScratch", "attention"])


@pytest.mark.parametrize("hidden_size, num_heads, head_dim", [
    (16, 1, 1), (16, 4, 1), (16, 2, 3), (32, 3, 2), (384, 1, 1), (384, 8, 1),
])
def test_from_scratch_module_matches_library(from_scratch, hidden_size, num_heads, head_dim):
    from tinyattn_lab import TinyAttention, TinyAttnConfig

    torch.manual_seed(hidden_size + 10 * num_heads + head_dim)
    library = TinyAttention(hidden_size, TinyAttnConfig(num_heads=num_heads, head_dim=head_dim)).eval()
    with torch.no_grad():  # the library starts with a zero output projection: randomise everything
        for p in library.parameters():
            p.normal_(0.0, 0.3)
    ours = from_scratch["TinyAttentionFromScratch"](hidden_size, num_heads, head_dim).eval()
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in library.state_dict().items()}
    ours.load_state_dict(library.state_dict())

    x = torch.randn(4, 9, hidden_size)
    mask = (torch.arange(9) < torch.tensor([[9], [5], [1], [7]])).long()  # right padding, one length-1 row
    with torch.no_grad():
        expected, expected_probs = library(x, mask, return_attention=True)
        expected_fused, _ = library(x, mask)  # SDPA path
        got = ours(x, mask)
        got_probs = ours.attn
        got_unmasked, expected_unmasked = ours(x), library(x)[0]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got, expected_fused, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got_probs, expected_probs, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(got_unmasked, expected_unmasked, atol=1e-5, rtol=1e-5)
    assert torch.all(got_probs[1, :, :, 5:] == 0), "padded keys must get exactly zero attention"
    assert sum(p.numel() for p in ours.parameters()) == closed_form(hidden_size, num_heads * head_dim)


def test_from_scratch_width1_scores_are_rank_one(from_scratch):
    attention = from_scratch["attention"]
    q, k, v = torch.randn(3, 1, 5, 8, 1).unbind(0)  # 5 width-1 heads, 8 tokens
    _, probs = attention(q, k, v)
    for j in range(5):
        order = k[0, j, :, 0].argsort()
        for i in range(8):
            expected = order if q[0, j, i, 0] > 0 else order.flip(0)
            assert torch.equal(probs[0, j, i].argsort(), expected)


# ------------------------------------------------------------------------------------------------ papermill runs
@pytest.mark.slow
def test_notebook_01_runs(tmp_path, mirror_dir):
    nb, results = run_notebook(NB01, tmp_path, mirror_dir)
    assert results["smoke"] is True
    assert results["max_abs_diff"] < 1e-5
    assert all(c["max_abs_diff"] < 1e-5 and c["max_abs_diff_attention"] < 1e-5 for c in results["checks"])
    assert {(c["num_heads"], c["head_dim"]) for c in results["checks"]} >= {(1, 1), (4, 1), (2, 3)}
    assert results["score_rank"] == 1 and results["rows_share_one_ranking"] is True
    assert results["module_parameters"] == results["formula_parameters"] == closed_form(MINILM_D, 4)
    assert image_outputs(nb) >= 3  # width-1 rows, four heads, the real sentence


@pytest.fixture(scope="module")
def minilm_count():
    """count_parameters of a fresh TinyAttnModel on the embedded MiniLM, computed here, not in the notebook."""
    from tinyattn_lab import TinyAttnConfig, TinyAttnModel, count_parameters
    from tinyattn_lab.backbones import load_backbone

    def count(**config):
        model = TinyAttnModel(load_backbone("minilm", num_labels=2)[0], TinyAttnConfig(**config))
        return count_parameters(model)

    return count


@pytest.mark.slow
def test_notebook_02_runs(tmp_path, mirror_dir, minilm_count):
    from tinyattn_lab import roberta_large_budget

    nb, results = run_notebook(NB02, tmp_path, mirror_dir)
    expected = minilm_count(num_heads=1)
    assert results["hidden_size"] == MINILM_D and results["num_layers"] == MINILM_LAYERS
    assert results["counts"] == pytest.approx({**asdict(expected), "total": expected.total,
                                               "trainable_percent": expected.trainable_percent})
    assert results["formula_adapter"] == results["counts"]["adapter"] == MINILM_LAYERS * closed_form(MINILM_D, 1)
    assert results["counts"]["head"] == MINILM_D * 2 + 2
    for h, n in results["adapter_by_heads"].items():
        assert n == MINILM_LAYERS * closed_form(MINILM_D, int(h)), f"{h} heads"
    # a fresh adapter is an exact identity at every placement, and disable_adapter gives the bare backbone
    assert results["identity_max_abs_diff"] == {"after_attention": 0.0, "parallel_attention": 0.0,
                                                "parallel_ffn": 0.0}
    assert results["disable_adapter_max_abs_diff"] == 0.0 == results["disable_adapter_random_max_abs_diff"]
    assert 0.0 < results["random_init_max_abs_diff"] < 0.1
    # the paper's 0.05% for RoBERTa-large
    paper = roberta_large_budget()
    assert results["roberta_large"]["adapter"] == paper.adapter == 24 * closed_form(1024, 1)
    assert results["roberta_large"]["trainable"] == paper.trainable
    assert round(results["roberta_large"]["trainable_percent"], 2) == 0.05
    for h, n in results["roberta_large_by_heads"].items():
        assert n == 24 * closed_form(1024, int(h))
    assert image_outputs(nb) >= 1


def check_training_results(results: dict, single: str, pair: str, num_heads: int) -> None:
    """What every run of notebook 03 must show, whatever its parameters."""
    from tinyattn_lab.data.glue import get_task

    assert set(results["tasks"]) == {single, pair}
    assert results["tinyattn"]["num_heads"] == num_heads
    trainable = MINILM_LAYERS * closed_form(MINILM_D, num_heads)
    for name, run in results["tasks"].items():
        task = get_task(name)
        assert run["main_metric"] == task.main_metric
        assert math.isfinite(run["best"]) and run["best"] == run["best_metrics"][task.main_metric]
        assert task.main_metric in run["majority_baseline"]
        assert run["eval_examples"] > 0 and run["train_examples"] > 0
        head = MINILM_D * task.num_labels + task.num_labels
        assert run["trainable_parameters"] == trainable + head
        # float32 tensors plus a small safetensors header: the file is the adapter and nothing else
        assert 4 * run["trainable_parameters"] < run["adapter_bytes"] < 4 * run["trainable_parameters"] + 16_000
        assert run["reload_metric_diff"] == 0.0, "the reloaded adapter must reproduce the recorded dev score"
        assert run["reload_max_abs_diff"] == 0.0, "save -> load must give bit-identical logits"
    sst2 = results["tasks"][single]
    assert sst2["best"] > sst2["majority_baseline"]["accuracy"] + SST2_MARGIN, sst2
    # the last section: predict on the reader's sentence names the task's labels, the label is the likeliest one
    mine = results["your_sentence"]
    assert tuple(mine["probabilities"]) == get_task(single).label_names
    assert sum(mine["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
    assert mine["label"] == max(mine["probabilities"], key=mine["probabilities"].get)


@pytest.mark.slow
def test_notebook_03_runs(tmp_path, mirror_dir):
    nb, results = run_notebook(NB03, tmp_path, mirror_dir)
    check_training_results(results, "sst2", "rte", num_heads=1)
    assert results["tasks"]["sst2"]["adapter_bytes"] < 100_000
    assert results["tasks"]["sst2"]["train_examples"] == 1920
    # RTE is near chance for a tiny model on 256 examples: only check that it was trained and scored
    rte = results["tasks"]["rte"]
    assert rte["eval_examples"] == 277 and 0.3 < rte["best"] < 0.8
    assert image_outputs(nb) >= 1


@pytest.mark.slow
def test_notebook_03_other_task_and_heads(tmp_path, mirror_dir):
    """Non-default parameters: MRPC as the pair task, two heads per adapter, a smaller dev subset."""
    nb, results = run_notebook(NB03, tmp_path, mirror_dir, pair_task="mrpc", num_heads=2, eval_size=300)
    check_training_results(results, "sst2", "mrpc", num_heads=2)
    mrpc = results["tasks"]["mrpc"]
    assert mrpc["main_metric"] == "f1" and set(mrpc["best_metrics"]) == {"accuracy", "f1"}
    assert 0.75 < mrpc["majority_baseline"]["f1"] < 0.85  # always "paraphrase" on MRPC's dev set
    assert results["tasks"]["sst2"]["eval_examples"] == mrpc["eval_examples"] == 300
    assert image_outputs(nb) >= 1
