"""TinyAttnModel: tiny-attention adapters inside a frozen Hugging Face transformer, with PEFT-style adapter management.

Paper section 2: an adapter in every layer of a frozen pretrained encoder; only the adapters and the task head train.
Notebooks: 02_adapter_in_a_frozen_encoder.ipynb (insertion, placements, counting), 03_train_on_glue.ipynb (save/load),
09_any_transformer.ipynb (pre-LN blocks, decoders, generation).

How it attaches without copying model code: every adapted transformer layer gets a TinyAttnLayer (layer.py) whose
hooks apply the active adapter at its placement; the task head gets one copy per adapter (HeadCopies).

The key-padding mask is read once per forward from the base model's `attention_mask` argument, so it is the same
whatever form (bool, additive float, none) the encoder passes on to its own layers. In a decoder the same forward
pre-hook finds the model's cache (`past_key_values`, a transformers Cache): the adapters keep their keys and values on
that very object, so a new cache is a new generation, a continued one continues it, and a cropped one crops theirs.
"""

from __future__ import annotations

import copy
import inspect
from contextlib import contextmanager

from torch import nn

from .architectures.discover import block_spec, find_layers
from .architectures.specs import BlockSpec, hidden_size
from .attention import TinyAttention
from .config import TinyAttnConfig
from .counting import print_trainable_parameters
from .heads import head_module_names, linear_head
from .layer import HeadCopies, HookState, TinyAttnLayer, adapter_store
from .saving import load_adapter, save_adapter


class TinyAttnModel(nn.Module):
    """A transformers sequence classifier with named tiny-attention adapters; call it like the model it wraps.

    >>> model = TinyAttnModel(AutoModelForSequenceClassification.from_pretrained(path), TinyAttnConfig(num_heads=4))
    >>> model.print_trainable_parameters()

    Any transformers model whose blocks are found (architectures/): encoders, pre-LN blocks, decoders (causal
    adapters; `generate` with the adapter's own key/value cache). `spec` names the blocks of a model that discovery
    cannot read (architectures.BlockSpec).
    """

    def __init__(self, model: nn.Module, config: TinyAttnConfig | None = None, adapter_name: str = "default",
                 head_modules: list[str] | None = None, spec: BlockSpec | None = None):
        super().__init__()
        self.training = model.training  # start in the wrapped model's mode (from_pretrained models are in eval)
        self.spec = block_spec(model, spec)  # fails early, saying what was not found and how to name it
        self.model, self._state = model, HookState(causal=self.spec.causal)
        self.hidden_size = hidden_size(model)
        self.layer_names = [name for name, _ in find_layers(model, self.spec)]
        self.tiny_layers = []  # not a ModuleList: the adapters are registered inside the layers themselves
        for i, layer in enumerate(model.get_submodule(n) for n in self.layer_names):
            layer.tinyattn = TinyAttnLayer(layer, self.spec, self._state, i)
            self.tiny_layers.append(layer.tinyattn)
        # head_modules: the children that get a trainable copy per adapter; None = every child outside the base
        # model with parameters (a classifier's head). [] keeps a masked LM's pretrained head frozen and shared
        # (the FewGLUE cloze path, cloze.py), which would otherwise be copied and trained, tied decoder included.
        self.head_names = head_module_names(model) if head_modules is None else list(head_modules)
        for name in self.head_names:
            setattr(model, name, HeadCopies(getattr(model, name), self._state))
        self._base_params = list(inspect.signature(model.base_model.forward).parameters)
        model.base_model.register_forward_pre_hook(self._start_forward, with_kwargs=True)
        for p in model.parameters():
            p.requires_grad_(False)
        if config is not None:
            self.add_adapter(adapter_name, config)
            self.set_adapter(adapter_name)

    # -- the forward pass -------------------------------------------------------------------------------------------
    def _start_forward(self, module, args, kwargs):
        """Read the key mask and, in a decoder, the model's cache, before the base model runs."""
        positional = dict(zip(self._base_params, args))
        given = {**positional, **kwargs}
        state = self._state
        state.mask, state.store, state.past = given.get("attention_mask"), None, 0
        if not state.causal:
            return None
        cache = given.get("past_key_values")
        if cache is None and given.get("use_cache") is True and "past_key_values" not in positional:
            from transformers import DynamicCache  # the model would make it inside its forward; make it here

            cache = kwargs["past_key_values"] = DynamicCache(config=module.config)
        if cache is None or not hasattr(cache, "get_seq_length"):
            return (args, kwargs)
        state.store, state.past = adapter_store(cache), cache.get_seq_length()
        return (args, kwargs)

    def forward(self, *args, **kwargs):
        return self.model(*args, **kwargs)

    def generate(self, *args, **kwargs):
        """The wrapped causal LM's generate(), with the active adapter (and its key/value cache) in every step.
        Greedy search, sampling and beam search: the adapters' keys and values follow the beams (layer.adapter_store)."""
        # generate() takes num_beams from its arguments, else the generation_config given, else the model's own
        config = kwargs.get("generation_config") or getattr(self.model, "generation_config", None)
        beams = kwargs.get("num_beams") or getattr(config, "num_beams", 1) or 1
        if beams > 1 and self.active_adapter is not None and hasattr(self.model, "_reorder_cache"):
            # such a model (XLNet, RAG) reorders its cache itself, past the hook that moves the adapters' keys
            raise NotImplementedError(f"Beam search (num_beams={beams}) with a tiny-attention adapter needs the "
                                      f"model's cache to reorder itself; {type(self.model).__name__} does it its own "
                                      "way. Use greedy search or sampling (num_beams=1).")
        return self.model.generate(*args, **kwargs)

    @contextmanager
    def record_attention(self):
        """Collect the adapters' attention probabilities: `with model.record_attention() as maps: model(**batch)`.
        `maps` is then a list with one (B, h, T, T) tensor per adapted layer call, in depth order (bertviz's format);
        with a cache, (B, h, T_new, T_all)."""
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
        heads = linear_head(self.model, self.spec) if config.linear_head else {}
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

    # -- counting, saving and loading (their logic: counting.py, saving.py) ------------------------------
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
