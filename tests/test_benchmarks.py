"""The speed benchmark runs end to end (on a tiny random encoder) and its baselines are what its docstring says."""

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
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


def test_generation_benchmark_writes_every_variant(tmp_path):
    """Oracle: the variant list of benchmarks/generation.py; it checks cached == uncached tokens itself."""
    import generation

    output = tmp_path / "generation.json"
    result = generation.main(["--repeats", "1", "--prompt", "4", "--new-tokens", "3", "--output", str(output)])
    assert json.loads(output.read_text()) == result
    assert set(result["ms_per_new_token"]) == {"bare cached", "tiny cached", "tiny uncached"}
    assert result["cached_equals_uncached_tokens"] is True and result["machine"]["torch_threads"] == 1
