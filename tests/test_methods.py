"""Every baseline trains exactly its parameter set, changes the model it wraps, counts the same way, saves and loads.

All on random hidden-16 models (conftest.tiny_model); nothing here downloads or reads the GLUE mirror.
"""

import inspect
import re

import pytest
import torch
import torch.nn.functional as F
from conftest import padded_batch, tiny_model

from tinyattn_lab.baselines.bottleneck import (BottleneckConfig, add_bottleneck_adapters, layer_sites,
                                               load_bottleneck, save_bottleneck)
from tinyattn_lab.counting import count_parameters
from tinyattn_lab.baselines.methods import METHODS, build, get_method, load_method

# What each method may train on a BERT classifier (regexes over the wrapped model's parameter names). Every method
# also trains the task head, `classifier` (BERT's own head, or its copy under PEFT/TinyAttnModel).
HEAD = r"(^|\.)classifier\."
EXPECTED = {
    "tiny_attention": r"\.tinyattn\.default\.",
    "tiny_attention_parallel": r"\.tinyattn\.default\.",
    "tiny_attention_ffn": r"\.tinyattn\.default\.",
    "full_finetune": r".",
    "bitfit": r"\.bias$",
    "head_only": r"$^",
    "lora": r"\.attention\.self\.(query|value)\.lora_[AB]\.default\.weight$",
    "ia3": r"\.(attention\.self\.(key|value)|output\.dense)\.ia3_l\.default$",
    "prefix_tuning": r"^inner\.prompt_encoder\.default\.embedding\.weight$",
    "prompt_tuning": r"^inner\.prompt_encoder\.default\.embedding\.weight$",
    "houlsby": r"\.bottleneck\.(attention|ffn)\.(down|up)\.(weight|bias)$",
    "pfeiffer": r"\.bottleneck\.ffn\.(down|up)\.(weight|bias)$",
    "parallel_adapter": r"\.bottleneck\.ffn\.(down|up)\.(weight|bias)$",
}


# PEFT 0.21 prefix tuning needs `past_key_values` in the encoder's forward; transformers 5.24 renamed it (the pinned
# constraints.txt keeps a version that has it). Elsewhere prefix tuning must refuse early; see the test at the end.
PREFIX_OK = "past_key_values" in inspect.signature(tiny_model().bert.forward).parameters


def _methods(names):
    return [pytest.param(n, marks=pytest.mark.skipif(n == "prefix_tuning" and not PREFIX_OK,
                                                     reason="this transformers has no past_key_values for peft"))
            for n in names]


def _loss(model, batch, labels):
    return F.cross_entropy(model(**batch).logits, labels)


def _train_steps(model, batch, steps=2, lr=1e-2):
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)  # no decay: only a gradient moves a parameter
    labels = torch.tensor([0, 1, 1])
    for _ in range(steps):
        _loss(model, batch, labels).backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()


def test_every_method_is_listed_here():
    assert set(EXPECTED) == set(METHODS)


@pytest.mark.parametrize("name", _methods(METHODS))
def test_trains_exactly_its_parameter_set(name):
    built = build(name, tiny_model())
    trainable = {n for n, p in built.model.named_parameters() if p.requires_grad}
    wanted = re.compile(EXPECTED[name])
    # ModulesToSaveWrapper/HeadCopies keep the original head frozen beside the trained copy
    assert trainable == {n for n, _ in built.model.named_parameters()
                         if wanted.search(n) or (re.search(HEAD, n) and not re.search(r"original", n))}
    assert trainable, name
    # two training steps move exactly those parameters (a parameter that trains but gets no gradient is a bug);
    # two, because zero-initialised output projections block the gradient to what feeds them in the first step
    before = {n: p.detach().clone() for n, p in built.model.named_parameters()}
    _train_steps(built.model, padded_batch(), steps=2)
    moved = {n for n, p in built.model.named_parameters() if not torch.equal(p, before[n])}
    assert moved <= trainable
    if name == "full_finetune":  # the embeddings of tokens that are not in the batch get no gradient
        assert len(moved) > 0.9 * len(trainable)
    else:
        assert moved == trainable, sorted(trainable - moved)[:5]


@pytest.mark.parametrize("name", _methods(n for n in METHODS if n != "head_only"))
def test_changes_the_output_through_its_own_parameters(name):
    batch = padded_batch()
    base = tiny_model()(**batch).logits
    built = build(name, tiny_model())
    heads = {n: p.detach().clone() for n, p in built.model.named_parameters() if re.search(HEAD, n)}
    _train_steps(built.model, batch)
    with torch.no_grad():  # put the head back: what is left of the change comes from the method itself
        for n, p in built.model.named_parameters():
            if n in heads:
                p.copy_(heads[n])
    assert not torch.allclose(built.model(**batch).logits, base, atol=1e-5)


@pytest.mark.parametrize("name", ["tiny_attention", "lora", "ia3", "houlsby", "pfeiffer", "parallel_adapter",
                                  "bitfit", "head_only", "full_finetune"])
def test_starts_from_the_pretrained_function(name):
    """Zero-initialised output projections (LoRA's B, the adapters' up-projection, tiny attention's out), IA3's
    ones: before training, the model computes what the backbone computes (the head is the backbone's own)."""
    batch = padded_batch()
    base = tiny_model()(**batch).logits
    built = build(name, tiny_model())
    built.model.eval()
    torch.testing.assert_close(built.model(**batch).logits, base, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", _methods(METHODS))
def test_save_and_load_reproduce_the_trained_model(name, tmp_path):
    batch = padded_batch()
    built = build(name, tiny_model())
    _train_steps(built.model, batch)
    expected = built.model(**batch).logits
    built.save(tmp_path / name)
    restored = load_method(tiny_model(), tmp_path / name)
    torch.testing.assert_close(restored(**batch).logits, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", _methods(METHODS))
def test_parameter_count_is_the_same_recipe_for_every_method(name):
    model = tiny_model()
    backbone_total = sum(p.numel() for p in model.parameters())
    built = build(name, model)
    counts = built.parameters
    trainable = sum(p.numel() for p in built.model.parameters() if p.requires_grad)
    assert counts["trainable"] == trainable
    assert counts["total"] == backbone_total + counts["added"]
    assert counts["head"] == 16 * 2 + 2  # BERT's classifier: Linear(16, 2)
    assert counts["trainable_percent"] == pytest.approx(100 * trainable / counts["total"])


def test_counts_agree_with_tiny_attention_own_counter():
    built = build("tiny_attention", tiny_model())
    own = count_parameters(built.model)
    assert built.parameters["trainable"] == own.trainable
    assert built.parameters["total"] == own.total
    assert built.parameters["method"] == own.adapter


def test_known_sizes():
    """Closed forms on the hidden-16, 2-layer model: LoRA r=8 on query+value, the adapters, prompt/prefix tokens."""
    d, layers = 16, 2
    sizes = {name: build(name, tiny_model()).parameters["method"] for name in METHODS
             if PREFIX_OK or name != "prefix_tuning"}
    assert sizes["lora"] == layers * 2 * (d * 8 + 8 * d)
    assert sizes["houlsby"] == layers * 2 * (2 * d * 8 + 8 + d)
    assert sizes["pfeiffer"] == sizes["parallel_adapter"] == layers * (2 * d * 16 + 16 + d)
    assert sizes["prompt_tuning"] == 20 * d
    assert sizes.get("prefix_tuning", 20 * layers * 2 * d) == 20 * layers * 2 * d
    # peft's default IA3 targets on BERT: key, value, and every `output.dense` (the attention output's d outputs, and
    # the FFN output projection's input, intermediate size 32)
    assert sizes["ia3"] == layers * (d + d + d + 32)
    assert sizes["tiny_attention"] == layers * (3 * d + 4 * d + 3)
    assert sizes["head_only"] == 0


@pytest.mark.parametrize("name", _methods(n for n in METHODS if n != "full_finetune"))
def test_frozen_backbone_is_in_eval_mode_while_training(name):
    """No dropout in the frozen encoder, not even the attention-probability dropout that transformers applies when an
    attention module is in training mode; the method's own dropout (LoRA's, tiny attention's) and the head's stay."""
    built = build(name, tiny_model(), **({"dropout": 0.1} if name == "lora" else {}))
    built.model.train()
    own = ("lora_", "ia3_", "tinyattn", "bottleneck", "prompt_encoder")
    for full, module in built.model.named_modules():
        if ".bert." in f".{full}." and not any(k in full for k in own):
            assert not module.training, full
    if name == "lora":
        assert all(m.training for n, m in built.model.named_modules() if "lora_dropout" in n)
    assert any(m.training for n, m in built.model.named_modules() if n.endswith("dropout") and ".bert." not in n)
    # so two forward passes in training mode agree (only the head's dropout could differ: switch it off)
    for n, m in built.model.named_modules():
        if isinstance(m, torch.nn.Dropout) and "lora_dropout" not in n:
            m.eval()
    if name != "lora":
        batch = padded_batch()
        torch.testing.assert_close(built.model(**batch).logits, built.model(**batch).logits)


def test_full_finetuning_keeps_the_backbone_dropout():
    full = build("full_finetune", tiny_model())
    full.model.train()
    assert all(m.training for m in full.model.modules())


def test_unknown_names_fail_early():
    with pytest.raises(ValueError, match="Unknown method"):
        get_method("adapterdrop")
    with pytest.raises(ValueError, match="no hyperparameter"):
        build("lora", tiny_model(), rank=4)


# -- baselines/bottleneck.py ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model_type", ["bert", "roberta", "distilbert", "albert", "electra"])
def test_sites_are_found_in_every_architecture(model_type):
    model = tiny_model(model_type)
    from tinyattn_lab.architectures import find_layers

    name, layer = find_layers(model)[0]
    sites = layer_sites(layer, 16)
    names = {id(m): n for n, m in layer.named_modules()}
    found = [names[id(s)] for s in (sites.attention_out, sites.ffn_in, sites.ffn_out, sites.ffn_norm)]
    assert found == {
        "bert": ["attention.output.dense", "intermediate.dense", "output.dense", "output.LayerNorm"],
        "roberta": ["attention.output.dense", "intermediate.dense", "output.dense", "output.LayerNorm"],
        "electra": ["attention.output.dense", "intermediate.dense", "output.dense", "output.LayerNorm"],
        "distilbert": ["attention.out_lin", "ffn.lin1", "ffn.lin2", "output_layer_norm"],
        "albert": ["attention.dense", "ffn", "ffn_output", "full_layer_layer_norm"],
    }[model_type]
    for kind in ("houlsby", "pfeiffer", "parallel"):
        m = tiny_model(model_type)
        adapters = add_bottleneck_adapters(m, BottleneckConfig.preset(kind))
        for p in adapters.parameters():
            torch.nn.init.normal_(p, std=0.1)
        assert torch.isfinite(m(**padded_batch()).logits).all()


@pytest.mark.parametrize("kind", ["houlsby", "pfeiffer", "parallel"])
def test_each_kind_computes_its_published_formula(kind):
    model = tiny_model()
    layer = model.bert.encoder.layer[0]
    h = torch.randn(2, 5, 16)
    with torch.no_grad():
        # the unadapted sub-layers, by hand
        ctx = layer.attention.self(h)[0]
        att_dense, ln1 = layer.attention.output.dense, layer.attention.output.LayerNorm
        inter, ffn_dense, ln2 = layer.intermediate, layer.output.dense, layer.output.LayerNorm
        adapters = add_bottleneck_adapters(model, BottleneckConfig.preset(kind, layers=[0]))
        for p in adapters.parameters():
            torch.nn.init.normal_(p, std=0.3)
        f = layer.bottleneck
        adapters.enabled = False  # the hooked modules below then compute their plain outputs
        z1 = att_dense(ctx)
        if kind == "houlsby":
            a = ln1(h + z1 + f["attention"](z1))
        else:
            a = ln1(h + z1)
        z2 = ffn_dense(inter(a))
        if kind == "houlsby":
            expected = ln2(a + z2 + f["ffn"](z2))
        elif kind == "pfeiffer":
            expected = ln2(a + z2 + f["ffn"](ln2(a + z2)))
        else:
            assert f["ffn"].scaling == 4.0  # He et al.'s s, applied inside the adapter
            expected = ln2(a + z2 + f["ffn"](a))
        adapters.enabled = True
        actual = layer(h)
        actual = actual[0] if isinstance(actual, tuple) else actual
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


def test_fresh_adapters_are_an_identity_and_removal_restores_the_model(tmp_path):
    batch = padded_batch()
    model = tiny_model()
    base = model(**batch).logits
    adapters = add_bottleneck_adapters(model, BottleneckConfig.preset("houlsby", bottleneck_dim=4))
    torch.testing.assert_close(model(**batch).logits, base, atol=0, rtol=0)
    for p in adapters.parameters():
        torch.nn.init.normal_(p, std=0.1)
    changed = model(**batch).logits
    assert not torch.allclose(changed, base)
    save_bottleneck(adapters, tmp_path)
    other = tiny_model()
    load_bottleneck(other, tmp_path)
    torch.testing.assert_close(other(**batch).logits, changed, atol=1e-6, rtol=0)
    adapters.remove()
    assert not any("bottleneck" in n for n, _ in model.named_parameters())
    torch.testing.assert_close(model(**batch).logits, base, atol=0, rtol=0)


def test_parallel_adapter_beside_attention_and_layer_selection():
    model = tiny_model()
    adapters = add_bottleneck_adapters(model, BottleneckConfig.preset("parallel", position="attention", layers=[1]))
    assert [n for n, _ in adapters.named_parameters()][0].startswith("bert.encoder.layer.1.bottleneck.attention.")
    with pytest.raises(ValueError, match="out of range"):
        add_bottleneck_adapters(tiny_model(), BottleneckConfig(layers=[5]))
    with pytest.raises(ValueError, match="kind"):
        BottleneckConfig(kind="compacter")


def test_prefix_tuning_refuses_an_encoder_without_past_key_values():
    """DistilBERT's forward never took past_key_values: a clear error naming the fix, not peft's deep ValueError."""
    with pytest.raises(ValueError, match="constraints.txt"):
        build("prefix_tuning", tiny_model("distilbert"))
