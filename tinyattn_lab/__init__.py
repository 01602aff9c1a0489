"""tinyattn-lab: tiny-attention adapters (Zhao, Tan, Mei, EMNLP 2022) for any Hugging Face encoder.

Start with `TinyAttnModel(AutoModelForSequenceClassification.from_pretrained(...), TinyAttnConfig())`; the notebooks
in notebooks/ build every piece step by step.
"""

from .attention import TinyAttention, key_padding_mask
from .averaging import average_heads, averaging_gap, expand_heads
from .config import PLACEMENTS, TinyAttnConfig
from .counting import count_parameters, format_count, print_trainable_parameters, tiny_attention_formula
from .budget import roberta_large_budget
from .model import TinyAttnModel

__all__ = [
    "PLACEMENTS",
    "TinyAttention",
    "TinyAttnConfig",
    "TinyAttnModel",
    "average_heads",
    "averaging_gap",
    "count_parameters",
    "expand_heads",
    "format_count",
    "key_padding_mask",
    "print_trainable_parameters",
    "roberta_large_budget",
    "tiny_attention_formula",
]
