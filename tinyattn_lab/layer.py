"""TinyAttnLayer: the adapters of one transformer layer and the forward hooks that apply the active one.

Paper section 2 (placement). Notebook: notebooks/02_adapter_in_a_frozen_encoder.ipynb.

Each adapted transformer layer gets a child `tinyattn` (a ModuleDict of one TinyAttention per adapter name) and three
hooks: a pre-hook on the layer (its input H), a hook on the module whose output is the attention sub-layer output A,
and a hook on the layer (its output). The placements are then

    after_attention     A'   = A + TA(A)        (reference code `m0`)
    parallel_attention  A'   = A + TA(H)        (`s0`)
    parallel_ffn        Out' = Out + TA(A)      (`m1`)

HeadCopies gives every adapter its own copy of the task head (PEFT's modules_to_save). model.py builds both.
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import TinyAttention
from .config import TinyAttnConfig


class HookState:
    """What the hooks share during one forward pass."""

    def __init__(self):
        self.active: str | None = None  # adapter in use; None = the bare backbone
        self.configs: dict[str, TinyAttnConfig] = {}
        self.mask: torch.Tensor | None = None  # (B, T) attention_mask of the current forward
        self.maps: list[torch.Tensor] | None = None  # attention probabilities, one (B, h, T, T) per adapter call


def _first(output):
    return output[0] if isinstance(output, tuple) else output


def _with_first(output, value):
    return (value, *output[1:]) if isinstance(output, tuple) else value


class TinyAttnLayer(nn.ModuleDict):
    """The adapters of one transformer layer, keyed by adapter name, and the hooks that apply the active one."""

    def __init__(self, layer: nn.Module, attention_output: nn.Module, state: HookState):
        super().__init__()
        self._state = state
        # H or A of the call in flight (ALBERT calls one layer at every depth), held only while the layer runs and only
        # for the placement that needs it. Kept until the next forward, the inputs of all layers stayed alive, and
        # on a CPU that made even the bare backbone 5% slower (benchmarks/speed.py; the allocator loses warm memory).
        self._input = self._attn = None
        layer.register_forward_pre_hook(self._save_input, with_kwargs=True)
        attention_output.register_forward_hook(self._after_attention)
        layer.register_forward_hook(self._after_layer)

    def _adapter(self) -> tuple[TinyAttention | None, str | None]:
        name = self._state.active
        return (self[name], self._state.configs[name].placement) if name in self else (None, None)

    def _add(self, adapter: TinyAttention, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """residual + adapter(x). `residual` is always a fresh LayerNorm output that nothing else holds, so the
        adapter may write into it during inference (TinyAttention.add_projection)."""
        record = self._state.maps is not None
        out, probs = adapter(x, self._state.mask, return_attention=record, residual=residual)
        if record:
            self._state.maps.append(probs.detach())
        return out

    def _save_input(self, module, args, kwargs):
        if self._adapter()[1] == "parallel_attention":
            self._input = args[0] if args else kwargs["hidden_states"]

    def _after_attention(self, module, args, output):
        adapter, placement = self._adapter()
        if adapter is None:
            return None
        A = _first(output)
        if placement == "parallel_ffn":
            self._attn = A
            return None
        source, self._input = (A if placement == "after_attention" else self._input), None
        return _with_first(output, self._add(adapter, source, A))

    def _after_layer(self, module, args, output):
        adapter, placement = self._adapter()
        if placement != "parallel_ffn":
            return None
        A, self._attn = self._attn, None
        return _with_first(output, self._add(adapter, A, _first(output)))


class HeadCopies(nn.Module):
    """One copy of a head module per adapter (PEFT's modules_to_save); the original serves the bare backbone."""

    def __init__(self, original: nn.Module, state: HookState):
        super().__init__()
        self.original, self.copies, self._state = original, nn.ModuleDict(), state

    def forward(self, *args, **kwargs):
        name = self._state.active
        return (self.copies[name] if name in self.copies else self.original)(*args, **kwargs)
