"""The methods a comparison trains, by name: tiny attention, its baselines, and one way to build, count and save each.

Paper abstract: tiny attention "outperforms the other parameter-efficient transfer learning methods as well as full
fine-tuning while only updating 0.05% of the parameters". Checking that needs the other methods, built on the same
backbone and trained by the same loop (train.fit), which trains whatever has requires_grad. Each method here turns a
fresh transformers sequence classifier into a ready-to-train model:

    tiny attention   tiny_attention (after the attention sub-layer, the reference `m0`), tiny_attention_parallel
                     (beside self-attention, `s0`), tiny_attention_ffn (beside the FFN, `m1`)  model.py, layer.py
    peft library     lora, ia3, prefix_tuning, prompt_tuning                              peft_methods.py (peft 0.21)
    bottleneck       houlsby, pfeiffer, parallel_adapter                                             bottleneck.py
    selective        bitfit (biases + head), head_only (linear probe), full_finetune

Every method trains the backbone's own task head (the same module for all), starts from the pretrained function where
its published init allows (zero-initialised output projections: tiny attention, LoRA, bottleneck adapters; IA3 ones),
and runs the frozen backbone without dropout, as the tiny-attention reference does (paper notes 1.4); only full
fine-tuning keeps the backbone's dropout (`backbone_dropout` changes that per method).

    >>> built = build("lora", AutoModelForSequenceClassification.from_pretrained(path), r=8)
    >>> built.parameters          # {"trainable": ..., "total": ..., "trainable_percent": ..., "head": ..., ...}
    >>> fit(built.model, ...); built.save("out/lora")
    >>> model = load_method(fresh_backbone, "out/lora")

Notebook: notebooks/07_baselines_and_frontier.ipynb.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..heads import head_module_names
from .method_model import Built, MethodModel, count_method_parameters, is_head, set_trainable
from .peft_methods import load_peft, peft_builder

METHOD_FILE = "method.json"
_KINDS = {int: "a whole number", float: "a number", bool: "true or false", str: "a text"}
SELECTIVE_WEIGHTS = "trainable_model.safetensors"


@dataclass(frozen=True)
class Method:
    name: str
    family: str  # "tiny attention", "peft", "bottleneck", "selective", "full"
    description: str
    defaults: dict
    lr_grid: tuple  # three learning rates, low to high, for the comparison's sweep (AdamW)
    _build: Callable = field(repr=False, compare=False)
    version: int = 1  # bump when the method's implementation changes what it trains: part of the cache key

    def resolve(self, **hp) -> dict:
        unknown = set(hp) - set(self.defaults)
        if unknown:
            raise ValueError(f"{self.name} has no hyperparameter(s) {sorted(unknown)}; it takes "
                             f"{', '.join(f'{k}={v!r}' for k, v in self.defaults.items()) or 'none'}.")
        for key, value in hp.items():  # "lora:r=abc" is refused here, not deep inside peft
            default = self.defaults[key]
            kind = type(default)
            fits = (default is None or isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
                    or kind is float and isinstance(value, int) and not isinstance(value, bool))
            if not fits:
                raise ValueError(f"{self.name}: {key} must be {_KINDS.get(kind, kind.__name__)} like its default "
                                 f"{default!r}, got {value!r}; write e.g. {self.name}:{key}={json.dumps(default)}.")
        return {**self.defaults, **hp}

    def build(self, model: nn.Module, **hp) -> Built:
        hp = self.resolve(**hp)
        original = {id(p) for p in model.parameters()}
        original_total = sum(p.numel() for p in model.parameters())
        heads = head_module_names(model)
        built = self._build(model, heads, **hp)
        built.method, built.hp = self.name, hp
        built.parameters = count_method_parameters(built.model, original, original_total, heads)
        save = built.save

        def save_with_record(directory):
            directory = Path(directory)
            save(directory)
            (directory / METHOD_FILE).write_text(json.dumps({"method": self.name, "hp": hp}, indent=2))

        built.save = save_with_record
        return built


# -- tiny attention ------------------------------------------------------------------------------------------------

def _tiny_attention(placement: str):
    def build(model, heads, num_heads, head_dim, dropout, init_scale, linear_head, layers):
        from ..config import TinyAttnConfig
        from ..model import TinyAttnModel

        config = TinyAttnConfig(num_heads=num_heads, head_dim=head_dim, dropout=dropout, init_scale=init_scale,
                                placement=placement, linear_head=linear_head, layers=layers)
        wrapped = TinyAttnModel(model, config)
        return Built("", {}, wrapped, lambda d: wrapped.save_pretrained(d),
                     f"tiny attention ({placement}, {num_heads} head(s) of width {head_dim})")
    return build


def _load_tiny_attention(name, model, directory, hp):
    from ..model import TinyAttnModel

    return TinyAttnModel.from_pretrained(model, directory)


# -- bottleneck adapters (bottleneck.py) ---------------------------------------------------------------------------------

def _head_tensors(model, heads) -> dict[str, torch.Tensor]:
    return {f"{h}.{k}": v.detach().cpu().contiguous() for h in heads for k, v in getattr(model, h).state_dict().items()}


def _load_head(model, tensors: dict[str, torch.Tensor]) -> None:
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if unexpected:
        raise ValueError(f"Saved tensors that this model does not have: {unexpected[:3]}")


def _bottleneck(kind: str):
    def build(model, heads, bottleneck_dim, activation, scaling, position, layers, backbone_dropout=False):
        from .bottleneck import BottleneckConfig, add_bottleneck_adapters, save_bottleneck

        config = BottleneckConfig(kind=kind, bottleneck_dim=bottleneck_dim, activation=activation, scaling=scaling,
                                  position=position, layers=layers)
        adapters = add_bottleneck_adapters(model, config)
        set_trainable(model, lambda n: ".bottleneck." in n or is_head(n, heads))
        wrapped = MethodModel(model, model, backbone_dropout, ("bottleneck",))
        wrapped.adapters = adapters
        where = {"houlsby": "after the attention and FFN output projections",
                 "pfeiffer": "after the FFN", "parallel": f"beside the {position} sub-layer, scaled by {scaling}"}
        return Built("", {}, wrapped, lambda d: save_bottleneck(adapters, d, _head_tensors(model, heads)),
                     f"{kind} bottleneck adapter (r={bottleneck_dim}, {activation}) {where[kind]}")
    return build


def _load_bottleneck(name, model, directory, hp):
    from .bottleneck import load_bottleneck

    adapters, rest = load_bottleneck(model, directory)
    _load_head(model, rest)
    wrapped = MethodModel(model, model, hp.get("backbone_dropout", False), ("bottleneck",))
    wrapped.adapters = adapters
    return wrapped


# -- selective: full fine-tuning, BitFit, head only ----------------------------------------------------------------------

def _selective(which: str):
    def build(model, heads, backbone_dropout):
        if which == "full":
            set_trainable(model, lambda n: True)
        elif which == "bitfit":  # Ben Zaken et al. 2022: every bias term of the encoder, plus the task head
            set_trainable(model, lambda n: n.endswith(".bias") or is_head(n, heads))
        else:
            set_trainable(model, lambda n: is_head(n, heads))
        wrapped = MethodModel(model, model, backbone_dropout)

        def save(directory):
            from safetensors.torch import save_file

            directory = Path(directory)
            directory.mkdir(parents=True, exist_ok=True)
            tensors = {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}
            save_file(tensors, str(directory / SELECTIVE_WEIGHTS), metadata={"format": "pt"})

        text = {"full": "full fine-tuning (every parameter)", "bitfit": "BitFit (every bias + the head)",
                "head": "head only (a linear probe on the frozen encoder)"}[which]
        return Built("", {}, wrapped, save, text)
    return build


def _load_selective(name, model, directory, hp):
    from safetensors.torch import load_file

    _load_head(model, load_file(str(Path(directory) / SELECTIVE_WEIGHTS)))
    return MethodModel(model, model, hp.get("backbone_dropout", False))


# -- the registry ----------------------------------------------------------------------------------------------------------

_TINY = dict(num_heads=1, head_dim=1, dropout=0.1, init_scale=0.0, linear_head=False, layers=None)
_BOTTLENECK = dict(activation="relu", scaling=1.0, position="ffn", layers=None, backbone_dropout=False)
_ADAPTER_LRS = (3e-4, 1e-3, 3e-3)


def _method(name, family, description, defaults, lr_grid, builder, loader) -> Method:
    # version 2 of the methods with a frozen encoder (backbone_dropout=False): it is wholly in eval mode during
    # training (v1 left the attention-probability dropout on); tiny attention and full fine-tuning did not change
    version = 2 if defaults.get("backbone_dropout") is False else 1
    m = Method(name, family, description, defaults, tuple(lr_grid), builder, version)
    _LOADERS[name] = loader
    return m


_LOADERS: dict[str, Callable] = {}

METHODS: dict[str, Method] = {m.name: m for m in [
    _method("tiny_attention", "tiny attention", "tiny attention after the attention sub-layer (reference m0)",
            _TINY, (1e-3, 3e-3, 1e-2), _tiny_attention("after_attention"), _load_tiny_attention),
    _method("tiny_attention_parallel", "tiny attention", "tiny attention beside self-attention (reference s0)",
            _TINY, (1e-3, 3e-3, 1e-2), _tiny_attention("parallel_attention"), _load_tiny_attention),
    _method("tiny_attention_ffn", "tiny attention", "tiny attention beside the FFN (reference m1)",
            _TINY, (1e-3, 3e-3, 1e-2), _tiny_attention("parallel_ffn"), _load_tiny_attention),
    _method("full_finetune", "full", "full fine-tuning", dict(backbone_dropout=True), (2e-5, 5e-5, 1e-4),
            _selective("full"), _load_selective),
    _method("bitfit", "selective", "BitFit: biases + head", dict(backbone_dropout=False), (1e-3, 3e-3, 1e-2),
            _selective("bitfit"), _load_selective),
    _method("head_only", "selective", "head only (linear probe)", dict(backbone_dropout=False), (1e-3, 3e-3, 1e-2),
            _selective("head"), _load_selective),
    _method("lora", "peft", "LoRA (peft) on query and value", dict(r=8, alpha=8, dropout=0.0, target_modules=None,
            backbone_dropout=False), (3e-4, 1e-3, 3e-3),
            peft_builder("lora", lambda hp: f"LoRA (peft) r={hp['r']}, alpha={hp['alpha']}, on "
                         f"{hp['target_modules'] or 'peft default modules (query, value)'}"), load_peft),
    _method("ia3", "peft", "IA3 (peft): learned scales on keys, values and the FFN",
            dict(target_modules=None, feedforward_modules=None, backbone_dropout=False), (1e-3, 3e-3, 1e-2),
            peft_builder("ia3", lambda hp: "IA3 (peft): rescales keys, values and FFN activations"), load_peft),
    _method("prefix_tuning", "peft", "prefix tuning (peft): learned keys and values in every layer",
            dict(num_virtual_tokens=20, prefix_projection=False, backbone_dropout=False), (1e-3, 3e-3, 1e-2),
            peft_builder("prefix_tuning",
                         lambda hp: f"prefix tuning (peft), {hp['num_virtual_tokens']} virtual tokens"),
            load_peft),
    _method("prompt_tuning", "peft", "prompt tuning (peft): learned input embeddings",
            dict(num_virtual_tokens=20, backbone_dropout=False), (3e-3, 1e-2, 3e-2),
            peft_builder("prompt_tuning",
                         lambda hp: f"prompt tuning (peft), {hp['num_virtual_tokens']} virtual tokens"),
            load_peft),
    _method("houlsby", "bottleneck", "Houlsby adapters: two per layer, sequential",
            {**_BOTTLENECK, "bottleneck_dim": 8, "activation": "swish"}, _ADAPTER_LRS, _bottleneck("houlsby"),
            _load_bottleneck),
    _method("pfeiffer", "bottleneck", "Pfeiffer adapter: one per layer, after the FFN",
            {**_BOTTLENECK, "bottleneck_dim": 16}, _ADAPTER_LRS, _bottleneck("pfeiffer"), _load_bottleneck),
    _method("parallel_adapter", "bottleneck", "parallel adapter (He et al. 2022) beside the FFN, scaled by 4",
            {**_BOTTLENECK, "bottleneck_dim": 16, "scaling": 4.0}, _ADAPTER_LRS, _bottleneck("parallel"),
            _load_bottleneck),
]}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"Unknown method {name!r}; known methods: {', '.join(METHODS)}.")
    return METHODS[name]


def build(name: str, model: nn.Module, **hp) -> Built:
    """Apply method `name` to a fresh transformers sequence classifier (it is changed in place and wrapped)."""
    return get_method(name).build(model, **hp)


def load_method(model: nn.Module, directory) -> nn.Module:
    """Restore a model saved by Built.save onto a fresh copy of the backbone it was trained on (eval mode)."""
    path = Path(directory) / METHOD_FILE
    if not path.is_file():
        raise FileNotFoundError(f"No {METHOD_FILE} in {directory}: is this a folder written by Built.save?")
    record = json.loads(path.read_text())
    method = get_method(record["method"])
    return _LOADERS[method.name](method.name, model, directory, method.resolve(**record["hp"])).eval()


def describe_methods() -> str:
    """One line per method: name, family, what it trains, default hyperparameters and learning-rate grid."""
    lines = []
    for m in METHODS.values():
        hp = ", ".join(f"{k}={v}" for k, v in m.defaults.items() if v is not None)
        lrs = "/".join(f"{lr:g}" for lr in m.lr_grid)
        lines.append(f"{m.name:24s} {m.family:15s} {m.description}" + (f" [{hp}]" if hp else "") + f" lr {lrs}")
    return "\n".join(lines)
