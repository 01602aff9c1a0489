"""TinyAttnConfig: everything that defines one tiny-attention adapter.

Paper: Zhao, Tan, Mei, "Tiny-Attention Adapter: Contexts Are More Important Than the Number of Parameters"
(EMNLP 2022), section 2 (the module) and section 2.2 (heads as a mixture of experts).
Notebook: notebooks/02_adapter_in_a_frozen_encoder.ipynb.

The names follow PEFT (`LoraConfig`, `IA3Config`): a dataclass with a help string per field, written to
`adapter_config.json` next to `adapter_model.safetensors`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

PLACEMENTS = ("after_attention", "parallel_attention", "parallel_ffn")


@dataclass
class TinyAttnConfig:
    """Configuration of a tiny-attention adapter.

    Args:
        num_heads: attention heads per adapter; the paper views them as experts that are averaged at deployment.
        head_dim: width of each head (the paper's "tiny" per-head size, 1 by default).
        dropout: dropout on the adapter's attention probabilities (0.1 in the reference code).
        init_scale: std of the output projection at initialisation. 0 makes a fresh adapter an exact identity
            (PEFT's convention); the reference code's two stacked N(0, 0.02^2) projections give about 4e-4.
        placement: where the adapter reads and writes inside each layer:
            "after_attention" (the reference code's `m0`): A' = A + TA(A), A = attention sub-layer output;
            "parallel_attention" (`s0`): A' = A + TA(H), H = layer input;
            "parallel_ffn" (`m1`): Out' = Out + TA(A), beside the feed-forward sub-layer.
        layers: indices of the encoder layers that get an adapter; None means every layer.
        linear_head: replace the model's classification head by dropout + one linear map on the first token,
            as the paper does (on RoBERTa this is what makes the trainable share 0.05%).
    """

    num_heads: int = field(default=1, metadata={"help": "attention heads (experts) per adapter"})
    head_dim: int = field(default=1, metadata={"help": "width of each head; 1 is the paper's tiny attention"})
    dropout: float = field(default=0.1, metadata={"help": "dropout on the attention probabilities"})
    init_scale: float = field(default=0.0, metadata={"help": "std of the output projection at init (0 = identity)"})
    placement: str = field(default="after_attention", metadata={"help": "where the adapter reads and writes",
                                                                 "choices": PLACEMENTS})
    layers: list[int] | None = field(default=None, metadata={"help": "layer indices to adapt; None = all"})
    linear_head: bool = field(default=False, metadata={"help": "use a linear head on the first token"})

    def __post_init__(self):
        for name in ("num_heads", "head_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}; use 1 for the paper's setting.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}.")
        if self.init_scale < 0:
            raise ValueError(f"init_scale is a standard deviation and cannot be negative, got {self.init_scale!r}.")
        if self.placement not in PLACEMENTS:
            raise ValueError(f"Unknown placement {self.placement!r}; choose one of: {', '.join(PLACEMENTS)}.")
        if self.layers is not None:
            self.layers = sorted({int(i) for i in self.layers})
            if not self.layers:
                raise ValueError("layers is empty; pass None to adapt every layer.")

    @property
    def inner_dim(self) -> int:
        """Total width E = num_heads * head_dim of the adapter's query, key and value."""
        return self.num_heads * self.head_dim

    def replace(self, **changes) -> "TinyAttnConfig":
        return TinyAttnConfig(**{**asdict(self), **changes})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TinyAttnConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"Unknown TinyAttnConfig fields {sorted(unknown)}; known fields: {sorted(known)}.")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)
