"""Task heads: which modules of a transformers classifier form its head, and the paper's linear head.

Paper notes 1.4: the reference code classifies with dropout(0.1) and one linear map on the first token (`<s>`), not
with RoBERTa's dense + tanh head; that is what makes its trainable share 0.05% of RoBERTa-large.
Notebook: notebooks/02_adapter_in_a_frozen_encoder.ipynb (counting parameters).
"""

from __future__ import annotations

import torch
from torch import nn

from .architectures.specs import encoder_spec, hidden_size


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
    """Children of a transformers classifier outside its base model that hold parameters: its task head."""
    base = model.base_model
    return [n for n, m in model.named_children() if m is not base and any(True for _ in m.parameters())]


def linear_head(model: nn.Module) -> dict[str, nn.Module]:
    """Fresh modules that turn the model's head into the paper's linear head, keyed by the child they replace."""
    spec, d, num_labels = encoder_spec(model), hidden_size(model), model.config.num_labels
    p = getattr(model.config, "classifier_dropout", None) or getattr(model.config, "hidden_dropout_prob", 0.1)
    if spec.head == "pooled":  # already one linear map on the (frozen, pretrained) pooler output
        return {"classifier": fresh_linear(d, num_labels)}
    if spec.head == "features":
        return {"classifier": FirstTokenClassifier(d, num_labels, p)}
    if spec.head == "context_pooler":
        return {"pooler": FirstToken(d), "classifier": fresh_linear(d, num_labels)}
    raise NotImplementedError(
        f"{model.config.model_type} applies a ReLU between its two head layers, so its head cannot be made linear "
        "without editing its forward; use linear_head=False (the model's own head) for this architecture."
    )
