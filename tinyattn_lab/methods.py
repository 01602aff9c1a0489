"""The methods a comparison trains, by name: tiny attention, its baselines, and one way to build, count and save each.

Paper abstract: tiny attention "outperforms the other parameter-efficient transfer learning methods as well as full
fine-tuning while only updating 0.05% of the parameters". Checking that needs the other methods, built on the same
backbone and trained by the same loop (train.fit), which trains whatever has requires_grad. Each method here turns a
fresh transformers sequence classifier into a ready-to-train model:

    tiny attention   tiny_attention (after the attention sub-layer, the reference `m0`), tiny_attention_parallel
                     (beside self-attention, `s0`), tiny_attention_ffn (beside the FFN, `m1`)       model.py
    peft library     lora, ia3, prefix_tuning, prompt_tuning                                         peft 0.21
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

import inspect
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .heads import head_module_names

METHOD_FILE = "method.json"
SELECTIVE_WEIGHTS = "trainable_model.safetensors"


@dataclass
class Built:
    """A method applied to one backbone: the model to train, how to save it, and its parameter count."""

    method: str
    hp: dict  # every hyperparameter, defaults included (what the comparison's cache key is made of)
    model: nn.Module  # call it like the transformers model; only the method's parameters have requires_grad
    save: Callable[[Path], None]  # save(directory): what this method needs to restore the trained model
    description: str
    parameters: dict = field(default_factory=dict)  # see count_method_parameters


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


# -- the common wrapper ------------------------------------------------------------------------------------------------

class MethodModel(nn.Module):
    """Holds what a method built (`inner`) and the transformers model under it; forwards calls to `inner`.

    train() keeps the frozen encoder in eval mode (unless backbone_dropout), as TinyAttnModel does: every module of
    the encoder except the method's own (names containing one of `own_modules`, e.g. "lora_") is switched back to
    eval, so no dropout runs in it, including the attention-probability dropout that transformers applies inside the
    attention function when the attention module is in training mode. The head outside the encoder keeps its dropout.
    """

    def __init__(self, inner: nn.Module, hf_model: nn.Module, backbone_dropout: bool, own_modules: tuple = ()):
        super().__init__()
        self.inner, self.backbone_dropout, self.own_modules = inner, backbone_dropout, own_modules
        self._hf = [hf_model]  # a list: not registered twice as a submodule

    @property
    def hf_model(self) -> nn.Module:
        return self._hf[0]

    def forward(self, *args, **kwargs):
        return self.inner(*args, **kwargs)

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and not self.backbone_dropout:
            encoder = self.hf_model.base_model
            encoder.eval()
            for name, module in encoder.named_modules():
                if any(k in name for k in self.own_modules):
                    module.train()
        return self


def _is_head(name: str, heads: list[str]) -> bool:
    return any(part in heads for part in name.split("."))


def count_method_parameters(model: nn.Module, original_ids: set, original_total: int, heads: list[str]) -> dict:
    """The one count every method reports.

    trainable: parameters with requires_grad (each tensor once). total: the deployed model, i.e. the backbone as
    loaded (its head included) plus what the method adds; the copy of the head that PEFT (`modules_to_save`) and
    TinyAttnModel (`copies`) keep replaces the original when deployed, so it is not counted twice. head: the trainable
    parameters of the task head; method = trainable - head.
    """
    seen, trainable, head, added = set(), 0, 0, 0
    for name, p in model.named_parameters(remove_duplicate=True):
        if id(p) in seen:
            continue
        seen.add(id(p))
        if p.requires_grad:
            trainable += p.numel()
            head += p.numel() if _is_head(name, heads) else 0
        if id(p) not in original_ids and not (".copies." in name or ".modules_to_save." in name):
            added += p.numel()
    total = original_total + added
    return {"trainable": trainable, "total": total, "trainable_percent": 100.0 * trainable / total,
            "head": head, "method": trainable - head, "added": added}


def _set_trainable(model: nn.Module, wanted: Callable[[str], bool]) -> None:
    for name, p in model.named_parameters():
        p.requires_grad_(wanted(name))


# -- tiny attention ------------------------------------------------------------------------------------------------

def _tiny_attention(placement: str):
    def build(model, heads, num_heads, head_dim, dropout, init_scale, linear_head, layers):
        from .config import TinyAttnConfig
        from .model import TinyAttnModel

        config = TinyAttnConfig(num_heads=num_heads, head_dim=head_dim, dropout=dropout, init_scale=init_scale,
                                placement=placement, linear_head=linear_head, layers=layers)
        wrapped = TinyAttnModel(model, config)
        return Built("", {}, wrapped, lambda d: wrapped.save_pretrained(d),
                     f"tiny attention ({placement}, {num_heads} head(s) of width {head_dim})")
    return build


def _load_tiny_attention(name, model, directory, hp):
    from .model import TinyAttnModel

    return TinyAttnModel.from_pretrained(model, directory)


# -- PEFT (the real library) -------------------------------------------------------------------------------------------

def _import_peft():
    try:
        import peft
    except ImportError as err:
        raise ImportError("LoRA, IA3, prefix tuning and prompt tuning come from the peft library: "
                          "pip install 'tinyattn-lab[peft]'") from err
    return peft


def _peft_config(name: str, heads: list[str], hp: dict):
    peft = _import_peft()

    common = dict(task_type="SEQ_CLS", modules_to_save=list(heads))
    if name == "lora":
        return peft.LoraConfig(r=hp["r"], lora_alpha=hp["alpha"], lora_dropout=hp["dropout"],
                               target_modules=hp["target_modules"], **common)
    if name == "ia3":
        return peft.IA3Config(target_modules=hp["target_modules"], feedforward_modules=hp["feedforward_modules"],
                              **common)
    if name == "prefix_tuning":
        return peft.PrefixTuningConfig(num_virtual_tokens=hp["num_virtual_tokens"],
                                       prefix_projection=hp["prefix_projection"], **common)
    if name == "prompt_tuning":
        return peft.PromptTuningConfig(num_virtual_tokens=hp["num_virtual_tokens"], **common)
    raise KeyError(name)


_PEFT_OWN = {"lora": ("lora_",), "ia3": ("ia3_",), "prefix_tuning": ("prompt_encoder",),
             "prompt_tuning": ("prompt_encoder",)}


def _check_prefix_support(model) -> None:
    """PEFT 0.21 feeds prefixes as `past_key_values`; transformers 5.24 renamed the encoders' argument to `cache`."""
    encoder = getattr(model, model.base_model_prefix, model)
    if "past_key_values" not in inspect.signature(encoder.forward).parameters:
        import transformers

        raise ValueError(f"Prefix tuning through peft needs an encoder whose forward takes `past_key_values`; "
                         f"{type(encoder).__name__} in transformers {transformers.__version__} does not. Install the "
                         f"tested versions: pip install -c constraints.txt -e '.[peft]' (transformers<5.24).")


def _peft(name: str, describe: Callable[[dict], str]):
    def build(model, heads, backbone_dropout=False, **hp):
        peft = _import_peft()
        if name == "prefix_tuning":
            _check_prefix_support(model)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            inner = peft.get_peft_model(model, _peft_config(name, heads, hp))
        wrapped = MethodModel(inner, inner.get_base_model(), backbone_dropout, _PEFT_OWN[name])
        return Built("", {}, wrapped, lambda d: inner.save_pretrained(str(d)), describe(hp))
    return build


def _load_peft(name, model, directory, hp):
    peft = _import_peft()
    if name == "prefix_tuning":
        _check_prefix_support(model)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        inner = peft.PeftModel.from_pretrained(model, str(directory))
    return MethodModel(inner, inner.get_base_model(), hp.get("backbone_dropout", False), _PEFT_OWN[name])


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
        _set_trainable(model, lambda n: ".bottleneck." in n or _is_head(n, heads))
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
            _set_trainable(model, lambda n: True)
        elif which == "bitfit":  # Ben Zaken et al. 2022: every bias term of the encoder, plus the task head
            _set_trainable(model, lambda n: n.endswith(".bias") or _is_head(n, heads))
        else:
            _set_trainable(model, lambda n: _is_head(n, heads))
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
    # version 2 of the MethodModel-based methods: the frozen encoder is wholly in eval mode during training (v1 left
    # the attention-probability dropout on); tiny attention and full fine-tuning did not change
    version = 1 if family == "tiny attention" or name == "full_finetune" else 2
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
            _peft("lora", lambda hp: f"LoRA (peft) r={hp['r']}, alpha={hp['alpha']}, on "
                  f"{hp['target_modules'] or 'peft default modules (query, value)'}"), _load_peft),
    _method("ia3", "peft", "IA3 (peft): learned scales on keys, values and the FFN",
            dict(target_modules=None, feedforward_modules=None, backbone_dropout=False), (1e-3, 3e-3, 1e-2),
            _peft("ia3", lambda hp: "IA3 (peft): rescales keys, values and FFN activations"), _load_peft),
    _method("prefix_tuning", "peft", "prefix tuning (peft): learned keys and values in every layer",
            dict(num_virtual_tokens=20, prefix_projection=False, backbone_dropout=False), (1e-3, 3e-3, 1e-2),
            _peft("prefix_tuning", lambda hp: f"prefix tuning (peft), {hp['num_virtual_tokens']} virtual tokens"),
            _load_peft),
    _method("prompt_tuning", "peft", "prompt tuning (peft): learned input embeddings",
            dict(num_virtual_tokens=20, backbone_dropout=False), (3e-3, 1e-2, 3e-2),
            _peft("prompt_tuning", lambda hp: f"prompt tuning (peft), {hp['num_virtual_tokens']} virtual tokens"),
            _load_peft),
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
