"""Tests for tinyattn_lab.saving: PEFT-style files, exact round trips, refusals, and atomic replacement."""

import json
import os

import pytest
import torch
from conftest import padded_batch, tiny_model

import tinyattn_lab.saving as saving
from tinyattn_lab import TinyAttnConfig, TinyAttnModel
from tinyattn_lab.saving import CONFIG_NAME, WEIGHTS_NAME


def logits(model, batch):
    with torch.no_grad():
        return model(**batch).logits


def trained_like(model_type="bert", seed=0, config=None, **changes) -> TinyAttnModel:
    """A wrapped tiny model whose adapter and head copy hold random values (as if trained), in eval mode."""
    wrapped = TinyAttnModel(tiny_model(model_type, seed=seed, **changes), config or TinyAttnConfig(num_heads=2))
    g = torch.Generator().manual_seed(123)
    with torch.no_grad():
        for p in wrapped.adapter_parameters("default"):
            p.add_(torch.randn(p.shape, generator=g) * 0.3)
    return wrapped.eval()


def adapter_tensors(model, name="default"):
    return {f"{prefix}.{k}": v for prefix, m in model.adapter_modules(name).items() for k, v in m.state_dict().items()}


def test_save_and_load_round_trip_exact(tmp_path):
    """Oracle: the saving model's logits and tensors; the fresh backbone is rebuilt from the same seed."""
    model = trained_like()
    batch = padded_batch()
    expected = logits(model, batch)
    with model.disable_adapter():
        bare = logits(model, batch)
    model.save_pretrained(tmp_path / "adapter", task="sst2")

    assert sorted(os.listdir(tmp_path / "adapter")) == sorted([CONFIG_NAME, WEIGHTS_NAME])
    assert sorted(os.listdir(tmp_path)) == ["adapter"]
    document = json.loads((tmp_path / "adapter" / CONFIG_NAME).read_text())
    assert document["peft_type"] == "TINYATTN" and document["task"] == "sst2"
    assert TinyAttnConfig.from_dict(document["tinyattn"]) == model.peft_config["default"]

    loaded = TinyAttnModel.from_pretrained(tiny_model("bert", seed=0), tmp_path / "adapter")
    assert loaded.active_adapter == "default"
    assert not loaded.training  # a loaded adapter runs without dropout until train() is called
    saved, restored = adapter_tensors(model), adapter_tensors(loaded)
    assert saved.keys() == restored.keys()
    assert all(torch.equal(saved[k], restored[k]) for k in saved)
    assert torch.equal(logits(loaded, batch), expected)
    with loaded.disable_adapter():
        assert torch.equal(logits(loaded, batch), bare)
    # only the adapter and head are trainable after loading
    assert {n for n, p in loaded.named_parameters() if p.requires_grad} == {
        n for n, _ in loaded.named_parameters() if ".tinyattn.default." in n or ".copies.default." in n}


def test_saved_files_are_ordinary_files(tmp_path):
    """Oracle: the process umask. The atomic save goes through private temporary files; the result must not stay
    private (a shared adapter another user cannot read is a broken save)."""
    umask = os.umask(0o022)
    try:
        trained_like().save_pretrained(tmp_path / "adapter")
    finally:
        os.umask(umask)
    assert (tmp_path / "adapter").stat().st_mode & 0o777 == 0o755
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        assert (tmp_path / "adapter" / name).stat().st_mode & 0o777 == 0o644, name


def test_weights_file_holds_only_adapter_and_head(tmp_path):
    """Oracle: safetensors layout (8-byte header length + JSON header + raw tensors) with exactly the adapter's and
    head's float32 values; against a backbone with a 1,000-token vocabulary that is under 10% of its bytes."""
    model = trained_like(vocab_size=1000)
    model.save_pretrained(tmp_path / "a")
    path = tmp_path / "a" / WEIGHTS_NAME
    raw = path.read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + header_len])
    header.pop("__metadata__", None)
    payload = sum(p.numel() * 4 for p in model.adapter_parameters("default"))
    assert set(header) == set(adapter_tensors(model))
    assert len(raw) == 8 + header_len + payload
    backbone_bytes = sum(p.numel() * p.element_size() for n, p in model.model.base_model.named_parameters()
                         if ".tinyattn." not in f".{n}")
    assert len(raw) < 0.1 * backbone_bytes


def test_head_is_saved(tmp_path):
    """Oracle: the saving model's head copy, which differs from the fresh backbone's own head."""
    model = trained_like()
    model.save_pretrained(tmp_path / "a")
    loaded = TinyAttnModel.from_pretrained(tiny_model("bert", seed=0), tmp_path / "a")
    saved_head, loaded_head = model.model.classifier.copies["default"], loaded.model.classifier.copies["default"]
    assert torch.equal(loaded_head.weight, saved_head.weight) and torch.equal(loaded_head.bias, saved_head.bias)
    assert not torch.equal(loaded_head.weight, loaded.model.classifier.original.weight)


@pytest.mark.parametrize("changes,mismatch", [
    (dict(hidden_size=32), "hidden_size"),
    (dict(num_hidden_layers=3), "num_layers"),
    (dict(num_labels=3), "num_labels"),
])
def test_refuses_other_backbone(tmp_path, changes, mismatch):
    """Oracle: the field that differs is named in the message; nothing is added to the model."""
    trained_like().save_pretrained(tmp_path / "a")
    num_labels = changes.pop("num_labels", 2)
    other = TinyAttnModel(tiny_model("bert", num_labels=num_labels, **changes))
    with pytest.raises(ValueError, match=mismatch):
        other.load_adapter(tmp_path / "a")
    assert other.peft_config == {}


def test_refuses_other_model_type(tmp_path):
    """Oracle: the saved and the target model_type are both named in the refusal."""
    trained_like().save_pretrained(tmp_path / "a")
    other = TinyAttnModel(tiny_model("roberta"))
    with pytest.raises(ValueError, match="model_type.*bert.*roberta"):
        other.load_adapter(tmp_path / "a")


def test_corrupt_weights(tmp_path):
    """Oracle: a truncated safetensors file is reported as corrupt, and no half-loaded adapter remains."""
    trained_like().save_pretrained(tmp_path / "a")
    weights = tmp_path / "a" / WEIGHTS_NAME
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    fresh = TinyAttnModel(tiny_model("bert"))
    with pytest.raises(ValueError, match="corrupt"):
        fresh.load_adapter(tmp_path / "a")
    assert fresh.peft_config == {} and all("default" not in layer for layer in fresh.tiny_layers)

    weights.unlink()
    with pytest.raises(ValueError, match="missing or corrupt"):
        fresh.load_adapter(tmp_path / "a")


def test_weights_that_do_not_match_config(tmp_path):
    """Oracle: a file saved with 1 head does not fit a config that says 2 heads; the adapter is removed again."""
    trained_like(config=TinyAttnConfig(num_heads=1)).save_pretrained(tmp_path / "a")
    path = tmp_path / "a" / CONFIG_NAME
    document = json.loads(path.read_text())
    document["tinyattn"]["num_heads"] = 2
    path.write_text(json.dumps(document))
    fresh = TinyAttnModel(tiny_model("bert"))
    with pytest.raises(ValueError, match="does not fit its config"):
        fresh.load_adapter(tmp_path / "a")
    assert fresh.peft_config == {}


@pytest.mark.parametrize("text", ["{not json", json.dumps({"backbone": {}}), json.dumps({"tinyattn": {"x": 1}})])
def test_corrupt_config(tmp_path, text):
    """Oracle: garbage JSON, a config without its tinyattn section or with unknown fields is reported corrupt."""
    trained_like().save_pretrained(tmp_path / "a")
    (tmp_path / "a" / CONFIG_NAME).write_text(text)
    with pytest.raises(ValueError, match="corrupt"):
        TinyAttnModel(tiny_model("bert")).load_adapter(tmp_path / "a")


def test_missing_folder(tmp_path):
    """Oracle: a folder that does not exist is a FileNotFoundError naming the config file looked for."""
    with pytest.raises(FileNotFoundError, match=CONFIG_NAME):
        TinyAttnModel.from_pretrained(tiny_model("bert"), tmp_path / "nowhere")


def test_save_twice_replaces_cleanly(tmp_path):
    """Oracle: the second save's tensors; the parent folder holds nothing but the adapter folder."""
    model = trained_like()
    model.save_pretrained(tmp_path / "a")
    with torch.no_grad():
        model.model.classifier.copies["default"].bias.add_(1.0)
    (tmp_path / "a" / "stale.txt").write_text("from an older run")
    model.save_pretrained(tmp_path / "a")
    assert sorted(os.listdir(tmp_path)) == ["a"]
    assert sorted(os.listdir(tmp_path / "a")) == sorted([CONFIG_NAME, WEIGHTS_NAME])
    loaded = TinyAttnModel.from_pretrained(tiny_model("bert"), tmp_path / "a")
    assert torch.equal(logits(loaded, padded_batch()), logits(model, padded_batch()))


def test_failed_save_keeps_previous(tmp_path, monkeypatch):
    """Oracle: the first save's logits; a save that fails while writing leaves it intact and no temp folder."""
    model = trained_like()
    model.save_pretrained(tmp_path / "a")
    expected = logits(model, padded_batch())
    before = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}

    def broken_save_file(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(saving, "save_file", broken_save_file)
    with torch.no_grad():
        model.model.classifier.copies["default"].bias.add_(1.0)
    with pytest.raises(OSError, match="disk full"):
        model.save_pretrained(tmp_path / "a")
    with pytest.raises(OSError, match="disk full"):
        model.save_pretrained(tmp_path / "new")
    assert sorted(os.listdir(tmp_path)) == ["a"]
    assert {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()} == before
    monkeypatch.undo()
    loaded = TinyAttnModel.from_pretrained(tiny_model("bert"), tmp_path / "a")
    assert torch.equal(logits(loaded, padded_batch()), expected)


def test_load_second_adapter_and_switch(tmp_path):
    """Oracle: each saving model's own logits, reproduced after loading both onto one backbone."""
    batch = padded_batch()
    first = trained_like(config=TinyAttnConfig(num_heads=2))
    torch.manual_seed(5)
    second = trained_like(config=TinyAttnConfig(num_heads=3, head_dim=2, placement="parallel_ffn"))
    with torch.no_grad():
        for p in second.adapter_parameters("default"):
            p.mul_(-1.5)
    first.save_pretrained(tmp_path / "first")
    second.save_pretrained(tmp_path / "second")
    expected_first, expected_second = logits(first, batch), logits(second, batch)
    assert not torch.allclose(expected_first, expected_second, atol=1e-4)

    model = TinyAttnModel.from_pretrained(tiny_model("bert"), tmp_path / "first")
    model.load_adapter(tmp_path / "second", adapter_name="other")
    assert set(model.peft_config) == {"default", "other"}
    assert model.active_adapter == "default"
    assert torch.equal(logits(model, batch), expected_first)
    model.set_adapter("other")
    assert torch.equal(logits(model, batch), expected_second)
    model.set_adapter("default")
    assert torch.equal(logits(model, batch), expected_first)
    with pytest.raises(ValueError, match="exists already"):
        model.load_adapter(tmp_path / "second", adapter_name="other")
    # save the second one again under its new name: the file is the same adapter
    model.save_pretrained(tmp_path / "again", adapter_name="other")
    again = TinyAttnModel.from_pretrained(tiny_model("bert"), tmp_path / "again")
    assert torch.equal(logits(again, batch), expected_second)


def test_save_without_active_adapter_refused(tmp_path):
    """Oracle: with no adapter there is nothing to save; nothing is written."""
    with pytest.raises(ValueError, match="No adapter is active"):
        TinyAttnModel(tiny_model("bert")).save_pretrained(tmp_path / "a")
    assert not (tmp_path / "a").exists()
