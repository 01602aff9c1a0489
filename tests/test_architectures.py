"""The contract matrix: every family (tests/conftest.py FAMILIES, 29) x every placement, on tiny random configs.

Oracles: the bare model's logits (fresh adapter = identity; disable_adapter exact), the row run alone (padding), the
parameter names of adapter and head (training), the saved adapter reloaded on a fresh backbone (exact), the unchanged
prefix (causality) and generation without a cache (the adapter's own key/value cache)."""

import pytest
import torch
import torch.nn.functional as F
from conftest import DECODERS, FAMILIES, PAD, tiny_config, tiny_model

from tinyattn_lab import TinyAttnConfig, TinyAttnModel
from tinyattn_lab.architectures import ARCHITECTURES, ArchitectureError, BlockSpec, is_causal, register_spec
from tinyattn_lab.config import PLACEMENTS


def decoder_batch(batch_size: int = 3, length: int = 7, seed: int = 0, left: bool = True) -> dict:
    """Token ids 5..99 padded with PAD on the left (or right), and the position ids generate() gives them."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 100, (batch_size, length), generator=g)
    lengths = torch.tensor([max(2, length - 2 * i) for i in range(batch_size)][::-1])
    pos = torch.arange(length)[None, :]
    mask = (pos >= length - lengths[:, None]) if left else (pos < lengths[:, None])
    mask = mask.long()
    return {"input_ids": torch.where(mask.bool(), ids, PAD), "attention_mask": mask,
            "position_ids": (mask.cumsum(-1) - 1).clamp(min=0)}


def batch_for(family: str) -> dict:
    if family in DECODERS:
        return decoder_batch()
    b = decoder_batch(left=False)
    del b["position_ids"]  # encoders compute their own (RoBERTa's from the padding)
    return b


def row_alone(batch: dict, i: int) -> dict:
    keep = batch["attention_mask"][i].bool()
    alone = {"input_ids": batch["input_ids"][i:i + 1, keep]}
    if "position_ids" in batch:
        alone["position_ids"] = torch.arange(int(keep.sum()))[None]
    return alone


def logits(model, batch) -> torch.Tensor:
    with torch.no_grad():
        return model(**batch).logits


def randomize_adapter(wrapped: TinyAttnModel, name: str, seed: int = 1, std: float = 0.3) -> None:
    """Random, non-zero weights in every adapter of `name` (not the head: the change must come from the adapter)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, module in wrapped.adapter_modules(name).items():
            if key.endswith(".tinyattn"):
                for p in module.parameters():
                    p.copy_(torch.randn(p.shape, generator=g) * std + (1.0 if p.dim() == 1 else 0.0))


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("family", FAMILIES)
def test_contract(family, placement, tmp_path):
    model = tiny_model(family)
    batch = batch_for(family)
    base = logits(model, batch)
    wrapped = TinyAttnModel(model, TinyAttnConfig(init_scale=0.0, placement=placement)).eval()
    assert wrapped.spec.causal == (family in DECODERS)
    assert torch.equal(logits(wrapped, batch), base)  # a fresh adapter is the identity

    wrapped.add_adapter("random", TinyAttnConfig(num_heads=2, placement=placement))
    randomize_adapter(wrapped, "random")
    wrapped.set_adapter("random")
    adapted = logits(wrapped, batch)
    assert not torch.allclose(adapted, base, atol=1e-4)
    # inference adds the update in place (TinyAttention.add_projection); with autograd on it is a new tensor
    torch.testing.assert_close(wrapped(**batch).logits.detach(), adapted, rtol=1e-5, atol=1e-6)
    # no layer keeps an activation alive after the forward (it slowed the next one down; layer.py TinyAttnLayer)
    assert all(layer._input is None and layer._attn is None for layer in wrapped.tiny_layers)
    depth = 1 if family == "albert" else model.config.num_hidden_layers  # ALBERT shares one layer
    assert sum("random" in layer for layer in wrapped.tiny_layers) == len(wrapped.tiny_layers) == depth
    with wrapped.disable_adapter():
        assert torch.equal(logits(wrapped, batch), base)
    for i in range(len(base)):  # padded rows (decoders: left padding) equal the row alone
        torch.testing.assert_close(adapted[i:i + 1], logits(wrapped, row_alone(batch, i)), atol=2e-5, rtol=1e-4)

    wrapped.train()  # only the adapter and its head get gradients
    F.cross_entropy(wrapped(**batch).logits, torch.tensor([0, 1, 1])).backward()
    expected = {n for n, _ in wrapped.named_parameters() if ".tinyattn.random." in n or ".copies.random." in n}
    assert {n for n, p in wrapped.named_parameters() if p.grad is not None} == expected
    assert {n for n, p in wrapped.named_parameters() if p.requires_grad} == expected
    assert any(".tinyattn.random." in n for n in expected)
    wrapped.eval()

    wrapped.save_pretrained(tmp_path / "a", adapter_name="random")
    reloaded = TinyAttnModel.from_pretrained(tiny_model(family), tmp_path / "a").eval()
    assert torch.equal(logits(reloaded, batch), adapted)

    if family in DECODERS:  # changing the last token leaves every earlier position exactly as it was
        ids = batch["input_ids"][-1:].clone()
        changed = ids.clone()
        changed[0, -1] = 5 if ids[0, -1] != 5 else 6
        with torch.no_grad():
            h1 = wrapped(input_ids=ids, output_hidden_states=True).hidden_states[-1]
            h2 = wrapped(input_ids=changed, output_hidden_states=True).hidden_states[-1]
        assert torch.equal(h1[:, :-1], h2[:, :-1]) and not torch.equal(h1[:, -1], h2[:, -1])


def generation_model(family: str, placement: str) -> TinyAttnModel:
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    lm = AutoModelForCausalLM.from_config(tiny_config(family)).eval()
    wrapped = TinyAttnModel(lm, TinyAttnConfig(num_heads=2, placement=placement)).eval()
    assert wrapped.head_names == []  # the LM head is the model's output embedding: frozen and shared
    randomize_adapter(wrapped, "default", std=0.5)
    return wrapped


def decode(model, batch, use_cache: bool, num_beams: int = 1, steps: int = 5):
    """Greedy search (num_beams=1: the tokens and every step's logits) or beam search (every beam and its score)."""
    out = model.generate(**batch, max_new_tokens=steps, num_beams=num_beams, num_return_sequences=num_beams,
                         do_sample=False, use_cache=use_cache, pad_token_id=PAD, eos_token_id=None,
                         return_dict_in_generate=True, output_logits=True, output_scores=True)
    return out.sequences, torch.stack(out.logits) if num_beams == 1 else out.sequences_scores


def check_cache_changes_nothing(wrapped, batch, num_beams: int = 1):
    """Oracle: generation without any cache (every step recomputes the whole prefix); the adapter changes the result."""
    tokens, scores = decode(wrapped, batch, True, num_beams)
    tokens_nc, scores_nc = decode(wrapped, batch, False, num_beams)
    assert torch.equal(tokens, tokens_nc)
    torch.testing.assert_close(scores, scores_nc, atol=1e-4, rtol=1e-4)
    with wrapped.disable_adapter():
        assert not torch.allclose(decode(wrapped, batch, True, num_beams)[1], scores, atol=1e-3)


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("family", DECODERS)
def test_cached_generation_equals_uncached(family, placement):
    """Greedy search; with the cache the adapter's projections see one new position per step."""
    wrapped = generation_model(family, placement)
    batch = {k: v for k, v in decoder_batch(batch_size=2, length=5).items() if k != "position_ids"}
    widths = []
    layer = wrapped.model.get_submodule(wrapped.layer_names[0]).tinyattn["default"]
    layer.qkv.register_forward_hook(lambda m, args, out: widths.append(args[0].shape[1]))
    check_cache_changes_nothing(wrapped, batch)
    assert widths == [5, 1, 1, 1, 1] + [5, 6, 7, 8, 9]  # O(1) projections per new token with the cache, O(T) without


@pytest.mark.parametrize("family", DECODERS)
def test_cached_beam_search_equals_uncached(family):
    """Beam search: the beams that survive a step are reordered every step, so the adapter's keys and values must
    move with the model's (a stale row gives other beams or other scores)."""
    wrapped = generation_model(family, "after_attention")
    check_cache_changes_nothing(wrapped, {k: v for k, v in decoder_batch(batch_size=2, length=5).items()
                                          if k != "position_ids"}, num_beams=3)


def test_cache_without_adapter_keys_is_refused():
    """A cache filled while no adapter was active cannot be continued with one (its keys are missing)."""
    wrapped = generation_model("llama", "after_attention")
    ids = torch.tensor([[5, 6, 7]])
    with wrapped.disable_adapter(), torch.no_grad():
        cache = wrapped(input_ids=ids, use_cache=True).past_key_values
    with pytest.raises(RuntimeError, match="holds 3 positions"), torch.no_grad():
        wrapped(input_ids=torch.tensor([[8]]), past_key_values=cache, use_cache=True)


def test_beam_search_reorders_the_adapter_cache():
    """Oracle by hand: reorder_cache(beam_idx) on the model's cache picks the same rows of every adapter's keys."""
    wrapped = generation_model("llama", "after_attention")
    ids = torch.tensor([[5, 6, 7], [8, 9, 10], [11, 12, 13]])
    with torch.no_grad():
        cache = wrapped(input_ids=ids, use_cache=True).past_key_values
    before = {key: kv.k.clone() for key, kv in cache.tinyattn_kv.items()}
    model_keys = cache.layers[0].keys.clone()
    beam_idx = torch.tensor([2, 2, 0])
    cache.reorder_cache(beam_idx)
    assert torch.equal(cache.layers[0].keys, model_keys[beam_idx])
    assert before and all(torch.equal(kv.k, before[key][beam_idx]) for key, kv in cache.tinyattn_kv.items())


def test_beam_search_is_refused_where_the_model_reorders_its_own_cache():
    """A model with its own _reorder_cache (XLNet, RAG) bypasses the cache's method: refused, not silently wrong."""
    wrapped = generation_model("gpt2", "after_attention")
    wrapped.model._reorder_cache = lambda cache, beam_idx: cache
    batch = {"input_ids": torch.tensor([[5, 6, 7]]), "attention_mask": torch.ones(1, 3, dtype=torch.long)}
    with pytest.raises(NotImplementedError, match="num_beams=2"):
        wrapped.generate(**batch, max_new_tokens=2, num_beams=2, pad_token_id=PAD)
    with wrapped.disable_adapter():
        assert wrapped.generate(**batch, max_new_tokens=2, num_beams=2, pad_token_id=PAD).shape == (1, 5)


def test_matrix_covers_29_families():
    """Oracle: the issue's count; every explicit spec is in the matrix, and the decoders are the causal ones."""
    assert len(FAMILIES) == len(set(FAMILIES)) == 29
    assert set(ARCHITECTURES) <= set(FAMILIES)
    assert {f for f in FAMILIES if is_causal(tiny_model(f))} == set(DECODERS)


def test_controls_causality_and_cache_can_fail(monkeypatch):
    """Controls: a non-causal adapter in a decoder lets an earlier position read the last token, and an adapter
    without its cache (attending only to the new token) changes the generated logits: both tests above can fail."""
    wrapped = generation_model("llama", "after_attention")
    ids, changed = torch.tensor([[5, 6, 7, 8]]), torch.tensor([[5, 6, 7, 9]])
    wrapped._state.causal = False
    with torch.no_grad():
        h1, h2 = (wrapped(input_ids=x, output_hidden_states=True).hidden_states[-1] for x in (ids, changed))
    assert not torch.equal(h1[:, :-1], h2[:, :-1])
    wrapped._state.causal = True
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    cached = decode(wrapped, batch, use_cache=True)[1]
    monkeypatch.setattr(type(wrapped._state), "kv", lambda self, index: None)
    assert not torch.allclose(decode(wrapped, batch, use_cache=True)[1], cached, atol=1e-4)


@pytest.mark.parametrize("model_type,extra,reason", [
    ("fnet", {}, "no self-attention child"),
    ("bart", dict(d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                  decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32), "encoder-decoder"),
    ("funnel", dict(d_model=16, n_head=2, d_head=8, d_inner=32, block_sizes=[1, 1]), "has 1 entries but its config"),
])
def test_unsupported_families_are_refused_with_reason(model_type, extra, reason):
    """Oracle: the README's refusal list; the message says what is missing and how to name the blocks."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_config(AutoConfig.for_model(model_type, vocab_size=100, **extra))
    with pytest.raises(ArchitectureError, match=reason) as info:
        TinyAttnModel(model, TinyAttnConfig())
    assert "register_spec" in str(info.value) and isinstance(info.value, NotImplementedError)


def test_explicit_spec_overrides_discovery():
    """Oracle: the discovered spec given explicitly gives the same logits; a spec naming a missing child fails."""
    batch = batch_for("llama")
    found = TinyAttnModel(tiny_model("llama"), TinyAttnConfig(init_scale=0.5))
    spec = BlockSpec(r"model\.layers\.\d+", "self_attn", kind="branch", mlp="mlp")
    given = TinyAttnModel(tiny_model("llama"), spec=spec)
    torch.manual_seed(0)
    found.add_adapter("x", TinyAttnConfig(init_scale=0.5))
    torch.manual_seed(0)
    given.add_adapter("x", TinyAttnConfig(init_scale=0.5))
    for m in (found, given):
        m.set_adapter("x")
    assert found.spec == given.spec
    assert torch.equal(logits(found.eval(), batch), logits(given.eval(), batch))
    with pytest.raises(ArchitectureError, match="no child 'feed_forward'"):
        TinyAttnModel(tiny_model("llama"), spec=BlockSpec(r"model\.layers\.\d+", "self_attn", "branch",
                                                          mlp="feed_forward"))
    register_spec("llama", spec)
    try:
        assert TinyAttnModel(tiny_model("llama")).spec == given.spec
    finally:
        del ARCHITECTURES["llama"]


@pytest.mark.parametrize("family", ["gpt2", "llama", "modernbert"])
def test_heads_and_counting_on_pre_ln_and_decoders(family):
    """Oracles: expand_heads with no noise, select_heads of every head and average_heads of identical experts all
    compute the original adapter; the adapter count is the closed form per layer."""
    from tinyattn_lab import average_heads, count_parameters, expand_heads, tiny_attention_formula
    from tinyattn_lab.averaging import select_heads

    wrapped = TinyAttnModel(tiny_model(family), TinyAttnConfig(placement="parallel_ffn")).eval()
    randomize_adapter(wrapped, "default")
    batch = batch_for(family)
    original = logits(wrapped, batch)
    expanded = expand_heads(wrapped, "default", 3, noise_std=0.0)
    for name in (expanded, select_heads(wrapped, expanded, [0, 1, 2]), average_heads(wrapped, expanded)):
        wrapped.set_adapter(name)
        torch.testing.assert_close(logits(wrapped, batch), original, atol=1e-5, rtol=1e-5)
    wrapped.set_adapter(expanded)
    count = count_parameters(wrapped)
    assert count.adapter == wrapped.model.config.num_hidden_layers * tiny_attention_formula(wrapped.hidden_size, 3)
