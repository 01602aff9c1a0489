"""The speed and length benchmarks run end to end (on small inputs); their baselines are what their docstrings say."""

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import length  # noqa: E402
import speed  # noqa: E402


def test_speed_benchmark_writes_every_variant(tmp_path, mirror_dir, minilm_path):
    """Oracle: the variant list of benchmarks/speed.py; each baseline is 1.0 against itself.
    (The random shapes borrow the embedded tokenizer, hence minilm_path.)"""
    output = tmp_path / "speed.json"
    result = speed.main(["--model", "random:tiny", "--repeats", "1", "--batch-size", "4", "--device", "cpu",
                         "--data-dir", str(mirror_dir), "--output", str(output)])
    assert json.loads(output.read_text()) == result
    assert set(result["train_step_vs_floor"]) == {"floor", "h1", "h4", "h16"}
    assert set(result["inference_vs_bare"]) == {"bare", "disabled", "h1", "h4", "h16", "averaged"}
    assert result["train_step_vs_floor"]["floor"] == result["inference_vs_bare"]["bare"] == 1.0
    assert result["machine"]["torch"] == torch.__version__


def test_floor_and_bare_are_the_unwrapped_backbone(minilm_path):
    """Oracle: an unwrapped model has no adapter hooks; the floor sends gradients down to the input embeddings and
    trains only the head, and the bare copy gives the wrapper's disabled logits exactly."""
    model, bare, tokenizer = speed.build("random:tiny", "cpu")
    assert not any(hasattr(module, "tinyattn") for module in bare.modules())
    batch = tokenizer(["a short sentence", "and a somewhat longer second one"], padding=True, return_tensors="pt")
    model.eval()
    bare.eval()
    with torch.no_grad(), model.disable_adapter():
        assert torch.equal(bare(**batch).logits, model(**batch).logits)
    seen = []
    bare.base_model.get_input_embeddings().register_forward_hook(lambda m, a, out: seen.append(out))
    bare(**batch).logits.sum().backward()
    assert seen[0].requires_grad
    trained = {name for name, p in bare.named_parameters() if p.grad is not None}
    assert trained and all(not name.startswith(bare.base_model_prefix) for name in trained)


def test_length_variant_times_one_adapter_against_the_floor():
    """Oracle: with_ratios divides by the floor of the same length; a run in this process reports what it ran."""
    tiny = dict(vocab_size=100, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32)
    rows = [length.run_variant(16, 64, heads, dropout, "cpu", 1, tiny) for heads, dropout in length.variants([2])]
    assert [(r["variant"], r["length"]) for r in rows] == [("floor", 16), ("h2 p0.1", 16), ("h2 p0", 16)]
    length.with_ratios(rows)
    assert rows[1]["step_vs_floor"] == rows[1]["step_seconds"] / rows[0]["step_seconds"]
    assert rows[2]["peak_vs_floor"] == rows[2]["peak_mb"] / rows[0]["peak_mb"]


@pytest.mark.slow  # one child process per variant (each imports torch and transformers)
def test_length_sweep_writes_every_variant_against_its_floor(tmp_path):
    """Oracle: the variant list of benchmarks/length.py (floor, then each head count with and without dropout), one
    child process each; the floor is 1.0 against itself, every row has a positive time and peak."""
    output = tmp_path / "length.json"
    result = length.main(["--lengths", "16", "--heads", "1", "--repeats", "1", "--device", "cpu",
                          "--output", str(output)])
    assert json.loads(output.read_text()) == result
    assert [r["variant"] for r in result["rows"]] == ["floor", "h1 p0.1", "h1 p0"]
    assert result["rows"][0]["step_vs_floor"] == result["rows"][0]["peak_vs_floor"] == 1.0
    assert all(r["step_seconds"] > 0 and r["peak_mb"] > 0 for r in result["rows"])
    assert result["machine"]["torch"] == torch.__version__


def test_generation_benchmark_writes_every_variant(tmp_path):
    """Oracle: the variant list of benchmarks/generation.py; it checks cached == uncached tokens itself."""
    import generation

    output = tmp_path / "generation.json"
    result = generation.main(["--repeats", "1", "--prompt", "4", "--new-tokens", "3", "--output", str(output)])
    assert json.loads(output.read_text()) == result
    assert set(result["ms_per_new_token"]) == {"bare cached", "tiny cached", "tiny uncached"}
    assert result["cached_equals_uncached_tokens"] is True and result["machine"]["torch_threads"] == 1
