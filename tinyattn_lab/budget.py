"""The paper's 0.05%: tiny attention on RoBERTa-large, counted from its architecture alone (no weights, no download).

Paper abstract: tiny attention "updates only 0.05% of the parameters"; paper notes 4.1: 174,346 / 354,484,490 with the
reference code's extra E x E maps, 0.049% either way. `tinyattn-lab count` prints it.
Notebook: notebooks/02_adapter_in_a_frozen_encoder.ipynb.
"""

from __future__ import annotations

import torch

from .config import TinyAttnConfig
from .counting import ParameterCount, count_parameters
from .model import TinyAttnModel


def roberta_large_budget(num_heads: int = 1, head_dim: int = 1, num_labels: int = 2) -> ParameterCount:
    """The paper's setting counted from RoBERTa-large's architecture alone: no weights, no download.

    The model is built on PyTorch's meta device (shapes only), with a linear head on `<s>` as in the paper.
    """
    from transformers import AutoModelForSequenceClassification, RobertaConfig

    config = RobertaConfig(  # roberta-large's config.json
        vocab_size=50265, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
        max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5, num_labels=num_labels,
    )
    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(config)
        wrapped = TinyAttnModel(model, TinyAttnConfig(num_heads=num_heads, head_dim=head_dim, linear_head=True))
    return count_parameters(wrapped)
