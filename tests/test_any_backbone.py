"""`--model` takes a decoder: load_backbone gives it a pad token, and `tinyattn-lab train` runs a GLUE task through
its own *ForSequenceClassification (last real token). A tiny random Llama with the embedded MiniLM's tokenizer, saved
to a folder, stands in for a hub decoder (offline)."""

import json

import pytest
import torch

from tinyattn_lab import TinyAttnConfig, TinyAttnModel
from tinyattn_lab.backbones import load_backbone
from tinyattn_lab.cli import main


@pytest.fixture
def tiny_decoder_dir(tmp_path, minilm_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, LlamaConfig

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    tokenizer.pad_token, tokenizer.eos_token = None, "[SEP]"  # as a decoder's tokenizer: EOS, no pad
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, head_dim=8, pad_token_id=None)
    torch.manual_seed(0)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(tmp_path / "llama")
    tokenizer.save_pretrained(tmp_path / "llama")
    return tmp_path / "llama"


def test_load_backbone_gives_a_decoder_a_pad_token(tiny_decoder_dir):
    """Oracle: each sentence alone; the padded batch's logits (right padding, as GLUE's collator pads) match."""
    model, tokenizer = load_backbone(str(tiny_decoder_dir))
    assert tokenizer.pad_token == tokenizer.eos_token == "[SEP]"
    assert model.config.pad_token_id == tokenizer.pad_token_id
    wrapped = TinyAttnModel(model, TinyAttnConfig(init_scale=0.5)).eval()
    texts = ["a short one", "a much longer sentence than the first one"]
    batch = tokenizer(texts, padding=True, return_tensors="pt", add_special_tokens=False)
    assert batch["attention_mask"][0].sum() < batch["attention_mask"][1].sum()
    with torch.no_grad():
        batched = wrapped(**batch).logits
        for i, text in enumerate(texts):
            alone = wrapped(**tokenizer([text], return_tensors="pt", add_special_tokens=False)).logits
            torch.testing.assert_close(batched[i:i + 1], alone, atol=1e-5, rtol=1e-4)


def test_cli_trains_a_decoder_on_glue(tiny_decoder_dir, tmp_path, mirror_dir):
    """Oracle: the run's own accounting; the trainable parameters are the adapter and the decoder's `score` head."""
    run = tmp_path / "run"
    assert main(["train", "--task", "sst2", "--output", str(run), "--model", str(tiny_decoder_dir), "--data-dir",
                 str(mirror_dir), "--train-size", "32", "--eval-size", "32", "--batch-size", "16", "--epochs", "1",
                 "--evals-per-epoch", "1", "--no-progress"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["parameters"]["head"] == 16 * 2  # score: a bias-free (d, 2) map
    assert metrics["parameters"]["trainable"] == metrics["parameters"]["adapter"] + metrics["parameters"]["head"]
