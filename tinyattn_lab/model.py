"""TinyAttnModel: tiny-attention adapters inside a frozen Hugging Face encoder, with PEFT-style adapter management.

Paper section 2: an adapter in every layer of a frozen pretrained encoder; only the adapters and the task head train.
Notebooks: 02_adapter_in_a_frozen_encoder.ipynb (insertion, placements, counting), 03_train_on_glue.ipynb (save/load).

How it attaches without copying model code: each adapted transformer layer gets a child `tinyattn` (a ModuleDict of
one TinyAttention per adapter name) and three hooks: a pre-hook on the layer (its input H), a hook on the module whose
output is the attention sub-layer output A, and a hook on the layer (its output). The placements are then

    after_attention     A'   = A + TA(A)        (reference code `m0`)
    parallel_attention  A'   = A + TA(H)        (`s0`)
    parallel_ffn        Out' = Out + TA(A)      (`m1`)

The key-padding mask is read once per forward from the base model's `attention_mask` argument, so it is the same
whatever form (bool, additive float, none) the encoder passes on to its own layers.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager

import torch
from torch import nn

from .architectures import encoder_spec, find_layers, hidden_size
from .attention import TinyAttention
from .config import TinyAttnConfig
from .counting import print_trainable_parameters
from .heads import head_module_names, linear_head
from .saving import load_adapter, save_adapter


class _State:
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

    def __init__(self, layer: nn.Module, attention_output: nn.Module, state: _State):
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

    def __init__(self, original: nn.Module, state: _State):
        super().__init__()
        self.original, self.copies, self._state = original, nn.ModuleDict(), state

    def forward(self, *args, **kwargs):
        name = self._state.active
        return (self.copies[name] if name in self.copies else self.original)(*args, **kwargs)


class TinyAttnModel(nn.Module):
    """A transformers sequence classifier with named tiny-attention adapters; call it like the model it wraps.

    >>> model = TinyAttnModel(AutoModelForSequenceClassification.from_pretrained(path), TinyAttnConfig(num_heads=4))
    >>> model.print_trainable_parameters()
    """

    def __init__(self, model: nn.Module, config: TinyAttnConfig | None = None, adapter_name: str = "default",
                 head_modules: list[str] | None = None):
        super().__init__()
        self.training = model.training  # start in the wrapped model's mode (from_pretrained models are in eval)
        self.spec = encoder_spec(model)  # fails early, naming the supported architectures
        self.model, self._state = model, _State()
        self.hidden_size = hidden_size(model)
        self.layer_names = [name for name, _ in find_layers(model)]
        self.tiny_layers = []  # not a ModuleList: the adapters are registered inside the layers themselves
        for layer in (model.get_submodule(n) for n in self.layer_names):
            layer.tinyattn = TinyAttnLayer(layer, layer.get_submodule(self.spec.attention_output), self._state)
            self.tiny_layers.append(layer.tinyattn)
        # head_modules: the children that get a trainable copy per adapter; None = every child outside the base
        # model with parameters (a classifier's head). [] keeps a masked LM's pretrained head frozen and shared
        # (the FewGLUE cloze path, cloze.py), which would otherwise be copied and trained, tied decoder included.
        self.head_names = head_module_names(model) if head_modules is None else list(head_modules)
        for name in self.head_names:
            setattr(model, name, HeadCopies(getattr(model, name), self._state))
        model.base_model.register_forward_pre_hook(self._save_mask, with_kwargs=True)
        for p in model.parameters():
            p.requires_grad_(False)
        if config is not None:
            self.add_adapter(adapter_name, config)
            self.set_adapter(adapter_name)

    # -- the forward pass -------------------------------------------------------------------------------------------
    def _save_mask(self, module, args, kwargs):
        self._state.mask = kwargs.get("attention_mask", args[1] if len(args) > 1 else None)

    def forward(self, *args, **kwargs):
        return self.model(*args, **kwargs)

    @contextmanager
    def record_attention(self):
        """Collect the adapters' attention probabilities: `with model.record_attention() as maps: model(**batch)`.
        `maps` is then a list with one (B, h, T, T) tensor per adapted layer call, in depth order (bertviz's format)."""
        self._state.maps = maps = []
        try:
            yield maps
        finally:
            self._state.maps = None

    def train(self, mode: bool = True):
        """Train mode for the adapters and head only: the frozen backbone keeps dropout off, as the reference does."""
        super().train(mode)
        if mode:
            self.model.base_model.eval()
            for layer in self.tiny_layers:
                layer.train()
        return self

    # -- managing adapters (PEFT's names) ---------------------------------------------------------------------------
    @property
    def peft_config(self) -> dict[str, TinyAttnConfig]:
        return self._state.configs

    @property
    def active_adapter(self) -> str | None:
        return self._state.active

    def add_adapter(self, adapter_name: str, config: TinyAttnConfig) -> None:
        """Insert a fresh adapter (and its own copy of the task head); it becomes active only through set_adapter."""
        if adapter_name in self._state.configs:
            raise ValueError(f"An adapter named {adapter_name!r} exists already; delete it or choose another name.")
        wanted = range(len(self.tiny_layers)) if config.layers is None else config.layers
        bad = [i for i in wanted if not 0 <= i < len(self.tiny_layers)]
        if bad:
            raise ValueError(f"Layer indices {bad} are out of range: this model has {len(self.tiny_layers)} layers.")
        heads = linear_head(self.model) if config.linear_head else {}
        device = next(self.model.parameters()).device
        for i in wanted:
            # new modules follow the wrapper's mode: an adapter added to an eval-mode model must not run dropout
            self.tiny_layers[i][adapter_name] = TinyAttention(self.hidden_size, config).to(device).train(self.training)
        for name in self.head_names:
            wrapper = getattr(self.model, name)
            fresh = heads.get(name, copy.deepcopy(wrapper.original))
            wrapper.copies[adapter_name] = fresh.to(device).train(self.training)
        self._state.configs[adapter_name] = config

    def set_adapter(self, adapter_name: str) -> None:
        """Make one adapter the active one and the only trainable part (with its head)."""
        self._check(adapter_name)
        self._state.active = adapter_name
        for p in self.model.parameters():
            p.requires_grad_(False)
        for p in self.adapter_parameters(adapter_name):
            p.requires_grad_(True)

    def delete_adapter(self, adapter_name: str) -> None:
        self._check(adapter_name)
        for module in [*self.tiny_layers, *(getattr(self.model, n).copies for n in self.head_names)]:
            if adapter_name in module:
                del module[adapter_name]
        del self._state.configs[adapter_name]
        if self._state.active == adapter_name:
            self._state.active = None

    @contextmanager
    def disable_adapter(self):
        """Run the bare backbone (and its original head) inside the block: outputs equal the unadapted model's."""
        active, self._state.active = self._state.active, None
        try:
            yield
        finally:
            self._state.active = active

    def _check(self, adapter_name: str) -> None:
        if adapter_name not in self._state.configs:
            known = ", ".join(self._state.configs) or "none"
            raise KeyError(f"No adapter named {adapter_name!r}; adapters on this model: {known}.")

    def adapter_modules(self, adapter_name: str) -> dict[str, nn.Module]:
        """Full name (inside the wrapped model) -> module, for the adapter and its head copy."""
        self._check(adapter_name)
        found = {f"{n}.tinyattn": layer[adapter_name] for n, layer in zip(self.layer_names, self.tiny_layers)
                 if adapter_name in layer}
        found.update({n: getattr(self.model, n).copies[adapter_name] for n in self.head_names})
        return found

    def adapter_parameters(self, adapter_name: str) -> list[nn.Parameter]:
        return [p for module in self.adapter_modules(adapter_name).values() for p in module.parameters()]

    # -- counting, saving and loading (their logic lives in counting.py and saving.py) ------------------------------
    def print_trainable_parameters(self) -> None:
        print_trainable_parameters(self)

    def save_pretrained(self, save_directory, adapter_name: str | None = None, **metadata) -> None:
        save_adapter(self, save_directory, adapter_name or self.active_adapter, **metadata)

    def load_adapter(self, directory, adapter_name: str = "default") -> None:
        load_adapter(self, directory, adapter_name)

    @classmethod
    def from_pretrained(cls, model: nn.Module, directory, adapter_name: str = "default") -> "TinyAttnModel":
        """Put a saved adapter (and its head) on a fresh copy of the backbone it was trained on, and activate it."""
        wrapped = cls(model)
        wrapped.load_adapter(directory, adapter_name)
        wrapped.set_adapter(adapter_name)
        return wrapped
