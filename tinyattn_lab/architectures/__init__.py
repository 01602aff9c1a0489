"""Where each Hugging Face model keeps its transformer layers and its attention sub-layer output (paper section 2).

The core's lowest floor: it imports only torch. model.py, heads.py and the bottleneck baselines ask it where to attach.
    specs.py   the known encoder families, as explicit specs, and the lookups on a model
"""

from .specs import ARCHITECTURES, EncoderSpec, encoder_spec, find_layers, hidden_size

__all__ = ["ARCHITECTURES", "EncoderSpec", "encoder_spec", "find_layers", "hidden_size"]
