"""TinyAttnLayer: the adapters of one transformer block and the forward hooks that apply the active one.

Paper section 2 (placement). Notebooks: 02_adapter_in_a_frozen_encoder.ipynb, 09_any_transformer.ipynb.

Each adapted block gets a child `tinyattn` (a ModuleDict of one TinyAttention per adapter name) and hooks on the
modules its BlockSpec names (architectures/specs.py). With H the block input, S the stream after attention and Out the
block output, the placements mean the same in both kinds of block:

    placement            on the stream                    "stream" block (A = S)     "branch" block (S = H + B)
    after_attention      S' = S + TA(S), before the MLP   A' = A + TA(A)   (`m0`)    B' = B + TA(H + B)
    parallel_attention   S' = S + TA(H)                   A' = A + TA(H)   (`s0`)    B' = B + TA(H)
    parallel_ffn         Out' = Out + TA(S)               Out' = Out + TA(A) (`m1`)  M' = M + TA(H + B)

B is the output of the block's attention branch and M of its MLP branch, each added to the stream by the block's own
forward, so the adapter's update rides on that sum. (In a parallel-residual block, GPT-NeoX or Phi, the MLP reads H,
not S; there after_attention and parallel_ffn compute the same output.)

HeadCopies gives every adapter its own copy of the task head (PEFT's modules_to_save). model.py builds both.
"""

from __future__ import annotations

import torch
from torch import nn

from .architectures.specs import BlockSpec
from .attention import KVCache, TinyAttention
from .config import TinyAttnConfig


class HookState:
    """What the hooks share during one forward pass."""

    def __init__(self, causal: bool = False):
        self.active: str | None = None  # adapter in use; None = the bare backbone
        self.configs: dict[str, TinyAttnConfig] = {}
        self.causal = causal  # decoders: no position reads a later one
        self.mask: torch.Tensor | None = None  # (B, Tk) attention_mask of the current forward (past positions too)
        self.maps: list[torch.Tensor] | None = None  # attention probabilities, one (B, h, Tq, Tk) per adapter call
        self.store: dict | None = None  # generation: (layer index, adapter) -> KVCache, kept on the model's cache
        self.past: int = 0  # positions already in the model's cache at the start of this forward

    def kv(self, index: int) -> KVCache | None:
        """The active adapter's key/value cache at one layer, cropped to the model's cache (None: no generation)."""
        if self.store is None:
            return None
        cache = self.store.setdefault((index, self.active), KVCache())
        if cache.length < self.past:
            raise RuntimeError(
                f"The model's cache holds {self.past} positions but adapter {self.active!r} has keys for "
                f"{cache.length}: the cache was filled by another adapter or without one. Start a new cache "
                "(model.generate does) or pass past_key_values=DynamicCache() on the first call.")
        cache.crop(self.past)
        return cache


def adapter_store(cache) -> dict:
    """The adapters' key/value caches kept on the model's cache, (layer index, adapter) -> KVCache, made on first use.
    They follow the model's cache when beam search reorders it: generate() calls `cache.reorder_cache(beam_idx)`."""
    if not hasattr(cache, "tinyattn_kv"):
        store = cache.tinyattn_kv = {}
        reorder_model_cache = cache.reorder_cache

        def reorder_cache(beam_idx):
            reorder_model_cache(beam_idx)
            for kv in store.values():
                kv.reorder(beam_idx)

        cache.reorder_cache = reorder_cache  # on this object only: it lives as long as this generation
    return cache.tinyattn_kv


def _first(output):
    return output[0] if isinstance(output, tuple) else output


def _with_first(output, value):
    return (value, *output[1:]) if isinstance(output, tuple) else value


class TinyAttnLayer(nn.ModuleDict):
    """The adapters of one transformer block, keyed by adapter name, and the hooks that apply the active one."""

    def __init__(self, layer: nn.Module, spec: BlockSpec, state: HookState, index: int):
        super().__init__()
        self._state, self._branch, self._index = state, spec.kind == "branch", index
        # H and S of the call in flight (ALBERT calls one layer at every depth), held only while the layer runs and
        # only when the placement needs them. Kept until the next forward, the inputs of all layers stayed alive, and
        # on a CPU that made even the bare backbone 5% slower (benchmarks/speed.py; the allocator loses warm memory).
        self._input = self._attn = None
        layer.register_forward_pre_hook(self._save_input, with_kwargs=True)
        layer.get_submodule(spec.attention).register_forward_hook(self._after_attention)
        second = layer.get_submodule(spec.mlp) if self._branch else layer  # where parallel_ffn adds its update
        second.register_forward_hook(self._after_ffn)

    def _adapter(self) -> tuple[TinyAttention | None, str | None]:
        name = self._state.active
        return (self[name], self._state.configs[name].placement) if name in self else (None, None)

    def _add(self, adapter: TinyAttention, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """residual + adapter(x). `residual` is always a fresh module output that nothing else holds, so the
        adapter may write into it during inference (TinyAttention.add_projection)."""
        state = self._state
        record = state.maps is not None
        out, probs = adapter(x, state.mask, return_attention=record, residual=residual, causal=state.causal,
                             cache=state.kv(self._index))
        if record:
            state.maps.append(probs.detach())
        return out

    def _save_input(self, module, args, kwargs):
        placement = self._adapter()[1]
        if placement == "parallel_attention" or (self._branch and placement is not None):
            self._input = args[0] if args else kwargs["hidden_states"]

    def _after_attention(self, module, args, output):
        adapter, placement = self._adapter()
        if adapter is None:
            return None
        A, H = _first(output), self._input
        self._input = None
        if self._branch and H is None:  # the attention was called outside its block: no stream to read
            return None
        S = H + A if self._branch else A  # the stream after attention
        if placement == "parallel_ffn":
            self._attn = S
            return None
        source = S if placement == "after_attention" else H
        return _with_first(output, self._add(adapter, source, A))

    def _after_ffn(self, module, args, output):
        adapter, placement = self._adapter()
        if placement != "parallel_ffn" or self._attn is None:  # None: the module was called outside its block
            return None
        S, self._attn = self._attn, None
        return _with_first(output, self._add(adapter, S, _first(output)))


class HeadCopies(nn.Module):
    """One copy of a head module per adapter (PEFT's modules_to_save); the original serves the bare backbone."""

    def __init__(self, original: nn.Module, state: HookState):
        super().__init__()
        self.original, self.copies, self._state = original, nn.ModuleDict(), state

    def forward(self, *args, **kwargs):
        name = self._state.active
        return (self.copies[name] if name in self.copies else self.original)(*args, **kwargs)
