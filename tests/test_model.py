"""Tests for tinyattn_lab.model: adapters inside tiny random encoders of every supported architecture."""

import pytest
import torch
import torch.nn.functional as F
from conftest import padded_batch, tiny_model

from tinyattn_lab import TinyAttention, TinyAttnConfig, TinyAttnModel
from tinyattn_lab.config import PLACEMENTS
from tinyattn_lab.heads import FirstTokenClassifier

def logits(model, batch) -> torch.Tensor:
    with torch.no_grad():
        return model(**batch).logits


def randomize(module: torch.nn.Module, seed: int = 0, std: float = 0.3) -> None:
    """Every parameter of `module` random and non-zero (biases, LayerNorm and head included)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std + (1.0 if p.dim() == 1 and p.shape[0] > 0 else 0.0))


def test_albert_shared_adapter_runs_at_every_depth():
    """Oracle: ALBERT's config depth; its one shared layer (and adapter) is called once per depth."""
    model = tiny_model("albert")
    wrapped = TinyAttnModel(model, TinyAttnConfig(init_scale=0.5))
    with wrapped.record_attention() as maps:
        logits(wrapped, padded_batch())
    assert len(maps) == model.config.num_hidden_layers == 2


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
@pytest.mark.parametrize("model_type", ["bert", "roberta"])
def test_padding_invariance(model_type, attn_implementation):
    """Oracle: each sentence run alone, unpadded and without attention_mask."""
    model = tiny_model(model_type)
    model.set_attn_implementation(attn_implementation)
    assert model.config._attn_implementation == attn_implementation
    torch.manual_seed(0)
    wrapped = TinyAttnModel(model, TinyAttnConfig(num_heads=4, init_scale=0.5)).eval()
    with torch.no_grad():
        for layer in wrapped.tiny_layers:
            layer["default"].qkv.weight.normal_(0.0, 0.5)  # sharp attention, so a leaked padded key would show
    layer_masks = []  # the form of the mask the encoder hands its own layers
    wrapped.model.get_submodule(wrapped.layer_names[0]).register_forward_pre_hook(
        lambda module, args, kwargs: layer_masks.append(args[1] if len(args) > 1 else kwargs.get("attention_mask")),
        with_kwargs=True)
    batch = padded_batch(batch_size=3, length=7)
    batched = logits(wrapped, batch)
    expected_dtype = torch.bool if attn_implementation == "sdpa" else torch.float32
    assert layer_masks[-1].dtype == expected_dtype and layer_masks[-1].dim() == 4
    lengths = batch["attention_mask"].sum(1)
    assert lengths.min() < lengths.max()  # some rows really are padded
    for i, n in enumerate(lengths.tolist()):
        alone = logits(wrapped, {"input_ids": batch["input_ids"][i:i + 1, :n]})
        assert layer_masks[-1] is None
        torch.testing.assert_close(batched[i:i + 1], alone, atol=1e-5, rtol=0)


def test_padding_leaks_without_mask():
    """Control for the invariance test: dropping the mask changes a padded row's logits, so the test can fail."""
    wrapped = TinyAttnModel(tiny_model("bert"), TinyAttnConfig(num_heads=4, init_scale=0.5)).eval()
    batch = padded_batch()
    n = int(batch["attention_mask"][0].sum())
    alone = logits(wrapped, {"input_ids": batch["input_ids"][:1, :n]})
    unmasked = logits(wrapped, {"input_ids": batch["input_ids"][:1]})
    assert not torch.allclose(alone, unmasked, atol=1e-5)


@pytest.mark.parametrize("model_type", ["bert", "distilbert", "deberta-v2"])
def test_optimizer_step_changes_only_adapter_and_head(model_type):
    """Oracle: the parameter names of the adapter and its head copy; everything else is compared bit for bit."""
    model = tiny_model(model_type)
    wrapped = TinyAttnModel(model, TinyAttnConfig(num_heads=2, init_scale=0.5))
    for module in wrapped.adapter_modules("default").values():
        randomize(module)  # non-zero everywhere, so weight decay alone moves every trainable parameter
    before = {n: p.detach().clone() for n, p in wrapped.named_parameters()}
    expected = {n for n in before if ".tinyattn.default." in n or ".copies.default." in n}
    assert expected and len(expected) < len(before)
    assert {n for n, p in wrapped.named_parameters() if p.requires_grad} == expected

    wrapped.train()
    optimizer = torch.optim.AdamW(wrapped.parameters(), lr=1e-2)  # all parameters: frozen ones must get no grad
    batch = padded_batch()
    loss = F.cross_entropy(wrapped(**batch).logits, torch.tensor([0, 1, 1]))
    loss.backward()
    for name, p in wrapped.named_parameters():
        assert (p.grad is not None) == (name in expected), name
    optimizer.step()

    after = dict(wrapped.named_parameters())
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    assert changed == expected
    # the original head (served under disable_adapter) is part of the frozen model and is untouched too
    assert any(".original." in n for n in before) and not any(".original." in n for n in changed)


@pytest.mark.parametrize("model_type", ["bert", "albert", "distilbert"])
def test_train_mode_keeps_backbone_in_eval(model_type):
    """Oracle: module flags; the frozen backbone must not run dropout while the adapters and head train."""
    wrapped = TinyAttnModel(tiny_model(model_type), TinyAttnConfig(num_heads=2))
    wrapped.train()
    assert wrapped.training
    base = wrapped.model.base_model
    inside_adapters = {id(m) for layer in wrapped.tiny_layers for m in layer.modules()}
    backbone = [(n, m) for n, m in base.named_modules() if id(m) not in inside_adapters]
    assert backbone
    assert all(not m.training for _, m in backbone), [n for n, m in backbone if m.training]
    adapters = [m for m in wrapped.modules() if isinstance(m, TinyAttention)]
    assert adapters and all(m.training for m in adapters)
    for name in wrapped.head_names:  # the task head (with its dropout) trains
        assert getattr(wrapped.model, name).copies["default"].training
    wrapped.eval()
    assert not any(m.training for m in wrapped.modules())


def test_layers_subset():
    """Oracle: the requested layer indices; out-of-range indices are refused."""
    wrapped = TinyAttnModel(tiny_model("bert"), TinyAttnConfig(layers=[1], init_scale=0.5))
    assert "default" not in wrapped.tiny_layers[0]
    assert "default" in wrapped.tiny_layers[1]
    assert list(wrapped.adapter_modules("default")) == ["bert.encoder.layer.1.tinyattn", "classifier"]
    with wrapped.record_attention() as maps:
        logits(wrapped, padded_batch())
    assert len(maps) == 1
    for bad in ([2], [-1], [0, 5]):
        with pytest.raises(ValueError, match="out of range"):
            wrapped.add_adapter(f"bad{bad}", TinyAttnConfig(layers=bad))
        assert f"bad{bad}" not in wrapped.peft_config


@pytest.mark.parametrize("num_heads,head_dim", [(1, 1), (3, 2)])
def test_record_attention_maps(num_heads, head_dim):
    """Oracle: one (B, h, T, T) probability map per adapted layer, rows summing to one; nothing outside the block."""
    wrapped = TinyAttnModel(tiny_model("bert"), TinyAttnConfig(num_heads=num_heads, head_dim=head_dim,
                                                               init_scale=0.5)).eval()
    batch = padded_batch(batch_size=3, length=7)
    plain = logits(wrapped, batch)
    with wrapped.record_attention() as maps:
        recorded = logits(wrapped, batch)
    torch.testing.assert_close(recorded, plain, atol=1e-6, rtol=0)
    assert len(maps) == 2
    for probs in maps:
        assert probs.shape == (3, num_heads, 7, 7)
        torch.testing.assert_close(probs.sum(-1), torch.ones(3, num_heads, 7))
        padded = (batch["attention_mask"] == 0)[:, None, None, :].expand_as(probs)
        assert torch.all(probs[padded] == 0)
    logits(wrapped, batch)
    assert len(maps) == 2  # recording stopped with the block


def test_several_adapters():
    """Oracle: a model carrying only adapter "a" (built with the same seed) and the bare backbone."""
    batch = padded_batch()
    base = logits(tiny_model("bert"), batch)

    only_a = TinyAttnModel(tiny_model("bert"))
    torch.manual_seed(10)
    only_a.add_adapter("a", TinyAttnConfig(init_scale=0.5))
    only_a.set_adapter("a")
    expected_a = logits(only_a, batch)

    wrapped = TinyAttnModel(tiny_model("bert"))
    torch.manual_seed(10)
    wrapped.add_adapter("a", TinyAttnConfig(init_scale=0.5))
    torch.manual_seed(20)
    wrapped.add_adapter("b", TinyAttnConfig(init_scale=0.5, num_heads=2))
    assert wrapped.active_adapter is None and torch.equal(logits(wrapped, batch), base)
    wrapped.set_adapter("a")
    out_a = logits(wrapped, batch)
    assert torch.equal(out_a, expected_a)
    wrapped.set_adapter("b")
    out_b = logits(wrapped, batch)
    assert not torch.allclose(out_a, out_b, atol=1e-4)
    assert {n for n, p in wrapped.named_parameters() if p.requires_grad} == {
        n for n, _ in wrapped.named_parameters() if ".tinyattn.b." in n or ".copies.b." in n}
    wrapped.set_adapter("a")
    assert torch.equal(logits(wrapped, batch), out_a)

    wrapped.delete_adapter("b")
    assert set(wrapped.peft_config) == {"a"}
    assert not any(".b." in n for n, _ in wrapped.named_parameters())
    assert torch.equal(logits(wrapped, batch), out_a)
    wrapped.delete_adapter("a")  # the active one: the bare backbone remains
    assert wrapped.active_adapter is None
    assert torch.equal(logits(wrapped, batch), base)

    wrapped.add_adapter("c", TinyAttnConfig())
    with pytest.raises(KeyError, match="missing.*c"):
        wrapped.set_adapter("missing")
    with pytest.raises(ValueError, match="exists already"):
        wrapped.add_adapter("c", TinyAttnConfig())


@pytest.mark.parametrize("changes,field", [
    (dict(num_heads=0), "num_heads"),
    (dict(head_dim=0), "head_dim"),
    (dict(num_heads=1.5), "num_heads"),
    (dict(placement="nowhere"), "placement"),
    (dict(dropout=1.5), "dropout"),
    (dict(dropout=-0.1), "dropout"),
    (dict(init_scale=-1.0), "init_scale"),
    (dict(layers=[]), "layers"),
])
def test_bad_configs(changes, field):
    """Oracle: the name of the offending field appears in the message."""
    with pytest.raises(ValueError, match=field):
        TinyAttnConfig(**changes)


def test_bad_placement_lists_choices():
    """Oracle: PLACEMENTS; the error lists every valid choice."""
    with pytest.raises(ValueError) as info:
        TinyAttnConfig(placement="nowhere")
    assert all(p in str(info.value) for p in PLACEMENTS)


def test_config_round_trip():
    """Oracle: the config itself, through to_dict / from_dict; unknown keys refused."""
    config = TinyAttnConfig(num_heads=3, head_dim=2, dropout=0.2, init_scale=0.1, placement="parallel_ffn",
                            layers=[1, 0, 1], linear_head=True)
    assert config.layers == [0, 1]
    assert config.inner_dim == 6
    assert TinyAttnConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="Unknown TinyAttnConfig fields"):
        TinyAttnConfig.from_dict({**config.to_dict(), "rank": 8})


@pytest.mark.parametrize("model_type", ["roberta", "electra", "deberta-v2"])
def test_linear_head_on_first_token(model_type):
    """Oracle: logits = h[:, 0] W^T + b, computed by hand from the model's last hidden state."""
    model = tiny_model(model_type)
    wrapped = TinyAttnModel(model, TinyAttnConfig(init_scale=0.5, linear_head=True)).eval()
    head = {n: m for n, m in wrapped.adapter_modules("default").items() if not n.endswith(".tinyattn")}
    params = [p for m in head.values() for p in m.parameters()]
    d, labels = model.config.hidden_size, model.config.num_labels
    assert sorted(p.numel() for p in params) == sorted([d * labels, labels])  # one linear map, nothing else
    randomize(wrapped.model.classifier.copies["default"], seed=3)
    W = next(p for p in params if p.dim() == 2)
    b = next(p for p in params if p.dim() == 1)
    batch = padded_batch()
    with torch.no_grad():
        out = wrapped(**batch, output_hidden_states=True)
        expected = out.hidden_states[-1][:, 0] @ W.T + b
    torch.testing.assert_close(out.logits, expected, atol=1e-6, rtol=0)
    if model_type == "roberta":
        assert isinstance(wrapped.model.classifier.copies["default"], FirstTokenClassifier)
    with wrapped.disable_adapter():  # the original head is kept for the bare backbone
        assert not torch.allclose(logits(wrapped, batch), out.logits, atol=1e-4)


def test_linear_head_on_bert_is_linear_on_pooler_output():
    """Oracle: BERT's head is already linear on the pooled output: logits = pooler(h)[...] W^T + b."""
    wrapped = TinyAttnModel(tiny_model("bert"), TinyAttnConfig(init_scale=0.5, linear_head=True)).eval()
    head = wrapped.model.classifier.copies["default"]
    assert isinstance(head, torch.nn.Linear)
    batch = padded_batch()
    with torch.no_grad():
        out = wrapped(**batch, output_hidden_states=True)
        pooled = wrapped.model.bert.pooler(out.hidden_states[-1])
    torch.testing.assert_close(out.logits, pooled @ head.weight.T + head.bias, atol=1e-6, rtol=0)


def test_linear_head_on_distilbert_refused():
    """Oracle: DistilBERT's ReLU head cannot be linear; the refusal leaves no half-added adapter."""
    wrapped = TinyAttnModel(tiny_model("distilbert"))
    with pytest.raises(NotImplementedError, match="distilbert"):
        wrapped.add_adapter("lin", TinyAttnConfig(linear_head=True))
    assert "lin" not in wrapped.peft_config
    assert all("lin" not in layer for layer in wrapped.tiny_layers)
