"""Bottleneck adapters (Houlsby, Pfeiffer, He et al.'s parallel adapter) injected with forward hooks.

The paper compares tiny attention against these feed-forward adapters; they are not in peft, and AdapterHub's
`adapters` pins transformers 4, so they are written here in the project's own injection style (as model.py does for
tiny attention): modules are added as a child `bottleneck` of every transformer layer found by architectures.py, and
hooks on modules the layer already has apply them. No model code is copied.

One adapter is  f(x) = up(act(down(x))) * scaling,  d -> r -> d, with the up-projection zero-initialised so a fresh
adapter leaves the model exactly as it was (He et al.'s and PEFT's convention). With z the sub-layer output projection
(before the residual and LayerNorm), x the sub-layer input and LN the sub-layer's LayerNorm, each kind computes what
AdapterHub's configs of the same name compute:

    houlsby   (DoubleSeqBn) after both the attention and the FFN output projections:  LN(x + z + f(z))
    pfeiffer  (SeqBn)       after the FFN only, reading the sub-layer's normal output:  LN(x + z + f(LN(x + z)))
    parallel  (ParBn, He et al. 2022) beside the FFN (or the attention) sub-layer:      LN(x + z + s * f(x)),  s = 4

Where those modules are, without a per-architecture table: inside a layer, the FFN is the first linear map that widens
the hidden size (d -> intermediate) and the last linear map back to d; the attention output projection is the last
d -> d linear map before the FFN; the FFN's LayerNorm is the last LayerNorm outside the child module that holds the
attention output projection (ALBERT registers it before its attention). This holds for every architecture in
architectures.py (BERT, RoBERTa, ELECTRA, MPNet, DeBERTa-v2, DistilBERT, ALBERT).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..architectures import find_layers, hidden_size

KINDS = ("houlsby", "pfeiffer", "parallel")
ACTIVATIONS = {"relu": nn.ReLU, "swish": nn.SiLU, "gelu": nn.GELU, "tanh": nn.Tanh}


@dataclass
class BottleneckConfig:
    """A bottleneck adapter in every (or some) layers.

    Args:
        kind: "houlsby" (two sequential adapters per layer), "pfeiffer" (one, after the FFN), "parallel" (He et al.).
        bottleneck_dim: width r of the bottleneck; each adapter has 2dr + r + d parameters.
        activation: non-linearity between the projections (AdapterHub: swish for Houlsby, relu for the others).
        scaling: factor on the adapter's output (He et al. use 4 for the parallel adapter, 1 elsewhere).
        position: for "parallel", the sub-layer it runs beside: "ffn" (He et al.'s best) or "attention".
        layers: indices of the layers that get adapters; None = all.
    """

    kind: str = field(default="pfeiffer", metadata={"help": f"one of {', '.join(KINDS)}"})
    bottleneck_dim: int = field(default=16, metadata={"help": "bottleneck width r"})
    activation: str = field(default="relu", metadata={"help": f"one of {', '.join(ACTIVATIONS)}"})
    scaling: float = field(default=1.0, metadata={"help": "factor on the adapter output"})
    position: str = field(default="ffn", metadata={"help": "parallel adapter only: ffn or attention"})
    layers: list[int] | None = field(default=None, metadata={"help": "layer indices; None = all"})

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Unknown bottleneck adapter kind {self.kind!r}; choose one of {', '.join(KINDS)}.")
        if not isinstance(self.bottleneck_dim, int) or self.bottleneck_dim < 1:
            raise ValueError(f"bottleneck_dim must be a positive integer, got {self.bottleneck_dim!r}.")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"Unknown activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}.")
        if self.position not in ("ffn", "attention"):
            raise ValueError(f"position must be 'ffn' or 'attention', got {self.position!r}.")
        if self.layers is not None:
            self.layers = sorted({int(i) for i in self.layers})

    @classmethod
    def preset(cls, kind: str, **changes) -> "BottleneckConfig":
        """The published defaults of each kind (AdapterHub's activation choices, He et al.'s scaling 4)."""
        base = {"houlsby": dict(activation="swish"), "pfeiffer": dict(activation="relu"),
                "parallel": dict(activation="relu", scaling=4.0)}[kind]
        return cls(kind=kind, **{**base, **changes})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "BottleneckConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class BottleneckAdapter(nn.Module):
    """down (d -> r) -> activation -> up (r -> d) -> * scaling; returns the update only (the caller adds it)."""

    def __init__(self, hidden: int, config: BottleneckConfig):
        super().__init__()
        self.down = nn.Linear(hidden, config.bottleneck_dim)
        self.act = ACTIVATIONS[config.activation]()
        self.up = nn.Linear(config.bottleneck_dim, hidden)
        self.scaling = config.scaling
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)  # a fresh adapter is an exact identity
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.act(self.down(x))) * self.scaling


def _first(output):
    return output[0] if isinstance(output, tuple) else output


def _with_first(output, value):
    return (value, *output[1:]) if isinstance(output, tuple) else value


@dataclass
class LayerSites:
    """The modules of one transformer layer that the hooks attach to."""

    attention_out: nn.Linear  # attention output projection (d -> d), before the residual + LayerNorm
    ffn_in: nn.Linear  # first FFN projection (d -> intermediate); its input is the FFN sub-layer input
    ffn_out: nn.Linear  # last FFN projection (intermediate -> d), before the residual + LayerNorm
    ffn_norm: nn.LayerNorm  # the FFN sub-layer's LayerNorm
    first: nn.Linear  # first linear map of the layer (its input is the layer input H)


def layer_sites(layer: nn.Module, hidden: int) -> LayerSites:
    """Find the hook sites of a post-LN transformer layer from its module order and shapes (see module docstring)."""
    named = list(layer.named_modules())
    linears = [m for _, m in named if isinstance(m, nn.Linear)]
    widen = [i for i, m in enumerate(linears) if m.in_features == hidden and m.out_features > hidden]
    if not widen:
        raise NotImplementedError(f"Cannot find the feed-forward block of {type(layer).__name__}: bottleneck adapters "
                                  "need a layer with a d -> intermediate linear map.")
    ffn_in = widen[0]
    square = [i for i in range(ffn_in) if linears[i].in_features == linears[i].out_features == hidden]
    narrow = [i for i in range(ffn_in + 1, len(linears)) if linears[i].out_features == hidden]
    if not square or not narrow:
        raise NotImplementedError(f"Cannot find the attention or FFN output projection of {type(layer).__name__}.")
    attention_out = linears[square[-1]]
    # the FFN's LayerNorm: the last one registered outside the child that holds the attention output projection
    # (ALBERT registers full_layer_layer_norm first, so registration order alone is not enough)
    attention_child = next(n for n, m in named if m is attention_out).split(".")[0]
    norms = [m for n, m in named if isinstance(m, nn.LayerNorm) and n.split(".")[0] != attention_child]
    if not norms:
        raise NotImplementedError(f"Cannot find the FFN LayerNorm of {type(layer).__name__}.")
    return LayerSites(attention_out=attention_out, ffn_in=linears[ffn_in], ffn_out=linears[narrow[-1]],
                      ffn_norm=norms[-1], first=linears[0])


class _Inputs:
    """Sub-layer inputs captured by pre-hooks during one layer call (ALBERT calls its one layer at every depth)."""

    def __init__(self):
        self.value = None

    def save(self, module, args):
        self.value = args[0]


class BottleneckAdapters:
    """Handle on the adapters added to a model: their modules, the hooks that apply them, and removal.

    The adapter modules live in the model itself (`<layer>.bottleneck.attention` / `.ffn`), so they are in its
    state_dict and parameters, and move with `.to(device)`.
    """

    def __init__(self, model: nn.Module, config: BottleneckConfig):
        self.config, self.model = config, model
        self.hidden = hidden_size(model)
        layers = find_layers(model)
        wanted = range(len(layers)) if config.layers is None else config.layers
        bad = [i for i in wanted if not 0 <= i < len(layers)]
        if bad:
            raise ValueError(f"Layer indices {bad} are out of range: this model has {len(layers)} layers.")
        self.prefixes, self.handles, self.enabled = [], [], True
        device = next(model.parameters()).device
        for i in wanted:
            name, layer = layers[i]
            if hasattr(layer, "bottleneck"):
                raise ValueError(f"{name} already has bottleneck adapters; remove them first.")
            sites = layer_sites(layer, self.hidden)
            modules = nn.ModuleDict()
            if config.kind == "houlsby" or (config.kind == "parallel" and config.position == "attention"):
                modules["attention"] = BottleneckAdapter(self.hidden, config)
            if config.kind in ("houlsby", "pfeiffer") or config.position == "ffn":
                modules["ffn"] = BottleneckAdapter(self.hidden, config)
            layer.bottleneck = modules.to(device)
            self.prefixes.append(f"{name}.bottleneck")
            self._hook(sites, modules)

    def _hook(self, sites: LayerSites, modules: nn.ModuleDict) -> None:
        kind, add = self.config.kind, self.handles.append
        if kind == "houlsby":
            for key, site in (("attention", sites.attention_out), ("ffn", sites.ffn_out)):
                add(site.register_forward_hook(self._sequential(modules[key])))
        elif kind == "pfeiffer":
            add(sites.ffn_norm.register_forward_pre_hook(self._after_norm(modules["ffn"])))
        else:
            key, reads, writes = (("ffn", sites.ffn_in, sites.ffn_out) if self.config.position == "ffn"
                                  else ("attention", sites.first, sites.attention_out))
            inputs = _Inputs()
            add(reads.register_forward_pre_hook(inputs.save))
            add(writes.register_forward_hook(self._parallel(modules[key], inputs)))

    def _sequential(self, adapter):
        def hook(module, args, output):  # z -> z + f(z)
            if not self.enabled:
                return None
            z = _first(output)
            return _with_first(output, z + adapter(z))
        return hook

    def _after_norm(self, adapter):
        def hook(norm, args):  # the LayerNorm's input x + z -> x + z + f(LN(x + z))
            if not self.enabled:
                return None
            s = args[0]
            normed = F.layer_norm(s, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
            return (s + adapter(normed), *args[1:])
        return hook

    def _parallel(self, adapter, inputs: _Inputs):
        def hook(module, args, output):  # z -> z + s f(x), x = the sub-layer input
            if not self.enabled:
                return None
            z = _first(output)
            return _with_first(output, z + adapter(inputs.value))
        return hook

    # -- inspection, saving, removal ---------------------------------------------------------------------------------
    def named_parameters(self):
        for prefix in self.prefixes:
            for name, p in self.model.get_submodule(prefix).named_parameters():
                yield f"{prefix}.{name}", p

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: p.detach().cpu().contiguous() for name, p in self.named_parameters()}

    def load_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        own = dict(self.named_parameters())
        missing, extra = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
        if missing or extra:
            raise ValueError(f"Bottleneck weights do not match the config: missing {missing[:3]}, "
                             f"unexpected {extra[:3]}.")
        with torch.no_grad():
            for name, p in own.items():
                if p.shape != tensors[name].shape:
                    raise ValueError(f"{name}: saved shape {tuple(tensors[name].shape)} != {tuple(p.shape)}.")
                p.copy_(tensors[name])

    def remove(self) -> None:
        """Take the hooks and modules out again: the model is exactly the one that was passed in."""
        for handle in self.handles:
            handle.remove()
        for prefix in self.prefixes:
            parent, _, child = prefix.rpartition(".")
            delattr(self.model.get_submodule(parent), child)
        self.handles, self.prefixes = [], []


def add_bottleneck_adapters(model: nn.Module, config: BottleneckConfig) -> BottleneckAdapters:
    """Insert bottleneck adapters into a transformers encoder; returns the handle (modules, hooks, state)."""
    return BottleneckAdapters(model, config)


CONFIG_NAME, WEIGHTS_NAME = "bottleneck_config.json", "bottleneck_model.safetensors"


def save_bottleneck(adapters: BottleneckAdapters, directory, extra: dict[str, torch.Tensor] | None = None) -> None:
    """Write the adapters (and `extra` tensors, e.g. the task head) as JSON + safetensors."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_file({**adapters.state_dict(), **(extra or {})}, str(directory / WEIGHTS_NAME), metadata={"format": "pt"})
    (directory / CONFIG_NAME).write_text(json.dumps({"bottleneck": adapters.config.to_dict()}, indent=2))


def load_bottleneck(model: nn.Module, directory) -> tuple[BottleneckAdapters, dict[str, torch.Tensor]]:
    """Add the adapters saved in `directory` to `model`; returns (handle, the other saved tensors)."""
    from safetensors.torch import load_file

    directory = Path(directory)
    config = BottleneckConfig.from_dict(json.loads((directory / CONFIG_NAME).read_text())["bottleneck"])
    tensors = load_file(str(directory / WEIGHTS_NAME))
    adapters = add_bottleneck_adapters(model, config)
    own = {k for k, _ in adapters.named_parameters()}
    adapters.load_state_dict({k: v for k, v in tensors.items() if k in own})
    return adapters, {k: v for k, v in tensors.items() if k not in own}
