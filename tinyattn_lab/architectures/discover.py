"""Discovery: the BlockSpec of a model that has no explicit one, read from its module tree (no model code copied).

Paper section 2 (where the adapter goes). Notebook: notebooks/09_any_transformer.ipynb.

    blocks     the longest nn.ModuleList of same-class modules inside the base model (its repeated layers)
    attention  the block's child named attn / attention / self_attn / self_attention
    kind       "stream" when that child holds a norm of its own (not a per-head q/k norm): it then returns the
               normalised or residual-added stream (BERT, ESM); otherwise "branch" (pre-LN: the sum is in the block)
    mlp        "branch" only: the child named mlp / feed_forward / ffn
    post-norms a block with `post_feedforward_layernorm` (OLMo-2, Gemma-2) normalises each branch before adding it:
               the branch outputs are then `post_attention_layernorm` and `post_feedforward_layernorm`
    causal     a family transformers ships as a causal LM and not as a masked LM, or a config with is_decoder

A model that does not fit fails at once, saying what was not found and how to name it (register_spec or
TinyAttnModel(..., spec=BlockSpec(...))).
"""

from __future__ import annotations

import re
from dataclasses import replace

from torch import nn

from .specs import ARCHITECTURES, BlockSpec, match_layers

ATTENTION_NAMES = re.compile(r"(self_)?(attn|attention)|self_attention")
MLP_NAMES = re.compile(r"mlp|feed_forward|ffn")
QK_NORM = re.compile(r"(.*\.)?(q|k)_(norm|layernorm)")
HOW_TO_NAME = ("Name it explicitly: tinyattn_lab.architectures.register_spec({model_type!r}, BlockSpec(layer_pattern="
               "..., attention=..., kind='stream' or 'branch', mlp=...)), or TinyAttnModel(model, config, spec=...); "
               "see README 'Any transformer'.")


class ArchitectureError(NotImplementedError):
    """A model whose blocks cannot be found; the message says what is missing and how to name it."""


def _fail(model: nn.Module, what: str):
    model_type = getattr(model.config, "model_type", type(model).__name__)
    raise ArchitectureError(f"Cannot place tiny attention in this {model_type} model: {what}. "
                            + HOW_TO_NAME.format(model_type=model_type))


def _blocks(model: nn.Module) -> tuple[str, nn.ModuleList]:
    base = getattr(model, "base_model", model)
    prefix = "" if base is model else next(n for n, m in model.named_modules() if m is base) + "."
    lists = [(n, m) for n, m in base.named_modules() if isinstance(m, nn.ModuleList) and len(m) > 0
             and len({type(x) for x in m}) == 1 and len(list(m[0].children())) >= 2]
    if not lists:
        _fail(model, "no list of repeated transformer blocks (an nn.ModuleList of one block class) in its base model")
    name, blocks = max(lists, key=lambda item: len(item[1]))  # the first of the longest
    return prefix + name, blocks


def _child(block: nn.Module, pattern: re.Pattern) -> str | None:
    return next((n for n, _ in block.named_children() if pattern.fullmatch(n)), None)


def _has_own_norm(module: nn.Module) -> bool:
    return any("norm" in type(m).__name__.lower() and not QK_NORM.fullmatch(n) for n, m in module.named_modules())


def discover_spec(model: nn.Module) -> BlockSpec:
    """The BlockSpec of a model read from its modules, or an ArchitectureError saying what was not found."""
    if getattr(model.config, "is_encoder_decoder", False):
        _fail(model, "it is an encoder-decoder model (BART, T5, ...): its decoder blocks add cross-attention and "
                     "its classifier reads the decoder, which tiny attention does not support yet")
    name, blocks = _blocks(model)
    depth = getattr(model.config, "num_hidden_layers", None)
    if depth is not None and len(blocks) != depth:  # Funnel: blocks of blocks, the sequence pooled between them
        _fail(model, f"its longest list of blocks ({name}) has {len(blocks)} entries but its config has {depth} "
                     "layers (does it pool or share layers?)")
    block = blocks[0]
    children = [n for n, _ in block.named_children()]
    attention = _child(block, ATTENTION_NAMES)
    if attention is None:
        _fail(model, f"its blocks ({type(block).__name__}: {', '.join(children)}) have no self-attention child "
                     "named attn, attention, self_attn or self_attention")
    layer_pattern = re.escape(name) + r"\.\d+"
    if _has_own_norm(block.get_submodule(attention)):
        return BlockSpec(layer_pattern, attention, causal=is_causal(model))
    mlp = _child(block, MLP_NAMES)
    if mlp is None:
        _fail(model, f"its blocks ({type(block).__name__}: {', '.join(children)}) add the attention to the stream "
                     "themselves (no norm inside the attention), but have no feed-forward child named mlp, "
                     "feed_forward or ffn")
    if "post_feedforward_layernorm" in children and "post_attention_layernorm" in children:
        attention, mlp = "post_attention_layernorm", "post_feedforward_layernorm"
    return BlockSpec(layer_pattern, attention, kind="branch", mlp=mlp, causal=is_causal(model))


def is_causal(model: nn.Module) -> bool:
    """Whether the model's own attention is causal: is_decoder, or a causal-LM family that is not a masked-LM one."""
    from transformers.models.auto.modeling_auto import (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
                                                        MODEL_FOR_MASKED_LM_MAPPING_NAMES)

    config = model.config
    if getattr(config, "is_decoder", False):
        return True
    return config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and config.model_type not in \
        MODEL_FOR_MASKED_LM_MAPPING_NAMES


def block_spec(model: nn.Module, spec: BlockSpec | None = None) -> BlockSpec:
    """The spec to use: the one given, else the family's registered spec, else a discovered one."""
    if spec is None:
        spec = ARCHITECTURES.get(getattr(getattr(model, "config", None), "model_type", None))
    if spec is None:
        if getattr(model, "config", None) is None:
            raise ArchitectureError(f"{type(model).__name__} is not a transformers model (it has no config).")
        spec = discover_spec(model)
    if spec.causal is None:
        spec = replace(spec, causal=is_causal(model))
    return spec


def find_layers(model: nn.Module, spec: BlockSpec | None = None) -> list[tuple[str, nn.Module]]:
    """(name, module) of every transformer block of the model, in depth order."""
    spec = block_spec(model, spec)
    layers = match_layers(model, spec.layer_pattern)
    if not layers:
        _fail(model, f"no module matches the layer pattern {spec.layer_pattern!r}")
    for name, layer in layers:
        for child in filter(None, (spec.attention, spec.mlp)):
            try:
                layer.get_submodule(child)
            except AttributeError:
                _fail(model, f"its block {name} has no child {child!r}")
    return layers

