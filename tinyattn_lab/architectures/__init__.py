"""Where each Hugging Face model keeps its transformer blocks and, inside them, its attention (paper section 2).

The core's lowest floor: it imports only torch (and transformers' family tables, lazily). model.py, heads.py and the
bottleneck baselines ask it where to attach.
    specs.py     BlockSpec (the two block kinds), the explicit specs of known families, register_spec
    discover.py  the spec of any other model, read from its module tree; find_layers; is_causal
"""

from .discover import ArchitectureError, block_spec, discover_spec, find_layers, is_causal
from .specs import ARCHITECTURES, BlockSpec, hidden_size, register_spec

__all__ = ["ARCHITECTURES", "ArchitectureError", "BlockSpec", "block_spec", "discover_spec",
           "find_layers", "hidden_size", "is_causal", "register_spec"]
