"""Task heads: which modules of a transformers classifier form its head, and the paper's linear head.

Paper notes 1.4: the reference code classifies with dropout(0.1) and one linear map on the first token (`<s>`), not
with RoBERTa's dense + tanh head; that is what makes its trainable share 0.05% of RoBERTa-large.
Notebook: notebooks/02_adapter_in_a_frozen_encoder.ipynb (counting parameters).
"""

from __future__ import annotations

import torch
from torch import nn

from .architectures.discover import block_spec
from .architectures.specs import BlockSpec, hidden_size


def fresh_linear(hidden: int, num_labels: int) -> nn.Linear:
    """A linear classifier initialised as the reference code's (N(0, 0.02^2) weights, zero bias)."""
    linear = nn.Linear(hidden, num_labels)
    nn.init.normal_(linear.weight, std=0.02)
    nn.init.zeros_(linear.bias)
    return linear


class FirstTokenClassifier(nn.Module):
    """(B, T, d) token features -> dropout -> linear on token 0 -> (B, num_labels) logits."""

    def __init__(self, hidden: int, num_labels: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out_proj = fresh_linear(hidden, num_labels)

    def forward(self, features: torch.Tensor, **kwargs) -> torch.Tensor:
        return self.out_proj(self.dropout(features[:, 0]))


class FirstToken(nn.Module):
    """A parameter-free pooler: the first token's hidden state (replaces DeBERTa's dense ContextPooler)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.output_dim = hidden

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return hidden_states[:, 0]


def head_module_names(model: nn.Module) -> list[str]:
    """Children of a transformers classifier outside its base model that hold parameters: its task head. A causal
    LM's output embedding (lm_head) is not a task head: it stays frozen and shared."""
    base, lm_head = model.base_model, model.get_output_embeddings()
    return [n for n, m in model.named_children()
            if m is not base and m is not lm_head and any(True for _ in m.parameters())]


def _unwrapped(model: nn.Module, name: str) -> nn.Module:
    module = getattr(model, name)
    return getattr(module, "original", module)  # inside a TinyAttnModel the head is a HeadCopies


def regression_output_biases(model: nn.Module) -> list[nn.Parameter]:
    """The trainable biases of the one-output linear maps in the task head of the transformers classifier inside
    `model` (itself, a TinyAttnModel, a PEFT model or a baseline's wrapper): a regression head's last layer."""
    from transformers import PreTrainedModel

    classifier = next((m for m in model.modules() if isinstance(m, PreTrainedModel)), None)
    if classifier is None:
        return []
    return [m.bias for name in head_module_names(classifier) for m in getattr(classifier, name).modules()
            if isinstance(m, nn.Linear) and m.out_features == 1 and m.bias is not None and m.bias.requires_grad]


def head_kind(model: nn.Module, spec: BlockSpec) -> str | None:
    """The spec's head kind, else read from the head modules: one linear map ("pooled", e.g. a decoder's `score`
    on the last token), a dense + out_proj head on token features ("features"), or DeBERTa's ContextPooler."""
    if spec.head is not None:
        return spec.head
    heads = {n: _unwrapped(model, n) for n in head_module_names(model)}
    if heads and all(isinstance(m, nn.Linear) for m in heads.values()):
        return "pooled"
    classifier = heads.get("classifier")
    if set(heads) == {"classifier"} and hasattr(classifier, "dense") and hasattr(classifier, "out_proj"):
        return "features"
    if set(heads) == {"pooler", "classifier"} and isinstance(classifier, nn.Linear):
        return "context_pooler"
    return None


def linear_head(model: nn.Module, spec: BlockSpec | None = None) -> dict[str, nn.Module]:
    """Fresh modules that turn the model's head into the paper's linear head, keyed by the child they replace."""
    kind, d, num_labels = head_kind(model, block_spec(model, spec)), hidden_size(model), model.config.num_labels
    p = getattr(model.config, "classifier_dropout", None) or getattr(model.config, "hidden_dropout_prob", 0.1)
    if kind == "pooled":  # already one linear map (on the pretrained pooler output, or a decoder's last token)
        linear = [n for n in head_module_names(model) if isinstance(_unwrapped(model, n), nn.Linear)]
        return {n: fresh_linear(d, num_labels) for n in linear}
    if kind == "features":
        return {"classifier": FirstTokenClassifier(d, num_labels, p)}
    if kind == "context_pooler":
        return {"pooler": FirstToken(d), "classifier": fresh_linear(d, num_labels)}
    raise NotImplementedError(
        f"{model.config.model_type}'s head is not one linear map on a token (DistilBERT: dense + ReLU; ModernBERT: "
        "dense + norm on a pooled vector), so it cannot be made linear without editing its forward; use "
        "linear_head=False (the model's own head) for this architecture."
    )
