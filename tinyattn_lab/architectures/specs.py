"""Where a Hugging Face model keeps its transformer blocks and where, inside a block, the adapter reads and writes.

Paper section 2 (placement): the adapter reads the residual stream after the attention sub-layer. A block is one of
two kinds, and a BlockSpec names the modules whose outputs the hooks (layer.py) see:

    "stream"  a child's output IS the stream after attention. Post-LN (BERT): A = LN(H + SelfAttn(H)) is the output
              of `attention`; some pre-LN encoders (ESM, XLM-R-XL, Megatron-BERT) also add the residual inside it.
    "branch"  pre-LN (ModernBERT, GPT-2, Llama): the block computes S = H + SelfAttn(LN(H)) inside its own forward,
              so no module outputs S. `attention` is the module whose output B is added to H (the self-attention,
              or its post-norm in OLMo-2 / Gemma-2) and `mlp` the one whose output M is added to S.

Known families keep an explicit spec here; every other model is discovered (discover.py). Either way the result must
pass the same contract tests (tests/test_architectures.py). Notebooks: 02 (post-LN), 09 (pre-LN and decoders).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torch import nn

KINDS = ("stream", "branch")


@dataclass(frozen=True)
class BlockSpec:
    layer_pattern: str  # regex for the full names of the transformer blocks, in depth order
    attention: str  # child of a block: "stream" -> its output is the stream after attention; "branch" -> B
    kind: str = "stream"
    mlp: str | None = None  # "branch" only: child of a block whose output M is added to the stream after attention
    head: str | None = None  # how linear_head reads the model (heads.py); None = inferred from the head modules
    causal: bool | None = None  # None = inferred: a decoder (causal LM family) attends causally

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"BlockSpec kind must be one of {', '.join(KINDS)}, got {self.kind!r}.")
        if self.kind == "branch" and not self.mlp:
            raise ValueError("A 'branch' BlockSpec needs `mlp`: the child whose output is added after attention.")


_BERT_LIKE = dict(layer_pattern=r"encoder\.layer\.\d+", attention="attention")

ARCHITECTURES: dict[str, BlockSpec] = {
    "bert": BlockSpec(**_BERT_LIKE, head="pooled"),
    "roberta": BlockSpec(**_BERT_LIKE, head="features"),
    "xlm-roberta": BlockSpec(**_BERT_LIKE, head="features"),
    "electra": BlockSpec(**_BERT_LIKE, head="features"),
    "mpnet": BlockSpec(**_BERT_LIKE, head="features"),
    "deberta-v2": BlockSpec(**_BERT_LIKE, head="context_pooler"),
    "distilbert": BlockSpec(r"transformer\.layer\.\d+", "sa_layer_norm", head="pre_classifier"),
    # ALBERT shares one layer across all depths: one adapter, applied at every depth (as the reference code does).
    "albert": BlockSpec(r"encoder\.albert_layer_groups\.\d+\.albert_layers\.\d+", "attention", head="pooled"),
}


def register_spec(model_type: str, spec: BlockSpec) -> None:
    """Name a family's blocks explicitly (overrides discovery for every model of that `config.model_type`)."""
    if not isinstance(spec, BlockSpec):
        raise TypeError(f"register_spec takes a BlockSpec, got {type(spec).__name__}.")
    ARCHITECTURES[model_type] = spec


def match_layers(model: nn.Module, layer_pattern: str) -> list[tuple[str, nn.Module]]:
    """(name, module) of every module whose full name matches the pattern, in depth order."""
    pattern = re.compile(rf"(.*\.)?{layer_pattern}")
    return [(name, module) for name, module in model.named_modules() if pattern.fullmatch(name)]


def hidden_size(model: nn.Module) -> int:
    return model.config.hidden_size  # DistilBERT's and GPT-2's configs map hidden_size to dim / n_embd
