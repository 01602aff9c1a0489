"""Where the layers of each supported Hugging Face encoder live, so adapters attach without copying model code.

Paper section 2 (placement): the adapter reads the attention sub-layer output A = LN(H + SelfAttn(H)) of every layer.
Each architecture is described by two names: a pattern matching its transformer layers and the child of a layer whose
output is A. Hooks on those two modules are all that model.py needs.
Notebook: notebooks/02_adapter_in_a_frozen_encoder.ipynb.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class EncoderSpec:
    layer_pattern: str  # regex for the full names of the transformer layers, in depth order
    attention_output: str  # child of a layer whose output is the attention sub-layer output A (after its LayerNorm)
    head: str  # how the classification head reads the encoder: "pooled" (a linear map on a pooled vector),
    #            "features" (the head takes (B, T, d) and picks token 0), "context_pooler" (DeBERTa),
    #            "pre_classifier" (DistilBERT: dense + ReLU before the linear map)


_BERT_LIKE = dict(layer_pattern=r"encoder\.layer\.\d+", attention_output="attention")

ARCHITECTURES: dict[str, EncoderSpec] = {
    "bert": EncoderSpec(**_BERT_LIKE, head="pooled"),
    "roberta": EncoderSpec(**_BERT_LIKE, head="features"),
    "xlm-roberta": EncoderSpec(**_BERT_LIKE, head="features"),
    "electra": EncoderSpec(**_BERT_LIKE, head="features"),
    "mpnet": EncoderSpec(**_BERT_LIKE, head="features"),
    "deberta-v2": EncoderSpec(**_BERT_LIKE, head="context_pooler"),
    "distilbert": EncoderSpec(r"transformer\.layer\.\d+", "sa_layer_norm", head="pre_classifier"),
    # ALBERT shares one layer across all depths: one adapter, applied at every depth (as the reference code does).
    "albert": EncoderSpec(r"encoder\.albert_layer_groups\.\d+\.albert_layers\.\d+", "attention", head="pooled"),
}


def encoder_spec(model: nn.Module) -> EncoderSpec:
    """The spec for a transformers model, or a clear error naming the supported architectures."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in ARCHITECTURES:
        raise NotImplementedError(
            f"Tiny-attention does not know the architecture {model_type!r} yet. Supported: "
            f"{', '.join(sorted(ARCHITECTURES))}. To add one, give its layer pattern and attention-output module "
            "in tinyattn_lab/architectures/specs.py."
        )
    return ARCHITECTURES[model_type]


def find_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every transformer layer of the encoder, in depth order."""
    spec = encoder_spec(model)
    pattern = re.compile(rf"(.*\.)?{spec.layer_pattern}")
    layers = [(name, module) for name, module in model.named_modules() if pattern.fullmatch(name)]
    if not layers:
        raise RuntimeError(f"No layers matching {spec.layer_pattern!r} in this {model.config.model_type} model.")
    return layers


def hidden_size(model: nn.Module) -> int:
    return model.config.hidden_size  # DistilBERT's config maps hidden_size to dim
