"""LoRA, IA3, prefix tuning and prompt tuning through the real `peft` library (an optional extra), as methods.py builds
and loads them. The task head trains as peft's `modules_to_save`; MethodModel keeps the frozen encoder in eval mode.

Notebook: notebooks/07_baselines_and_frontier.ipynb.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Callable

from .method_model import Built, MethodModel


def _import_peft():
    try:
        import peft
    except ImportError as err:
        raise ImportError("LoRA, IA3, prefix tuning and prompt tuning come from the peft library: "
                          "pip install 'tinyattn-lab[peft]'") from err
    return peft


def _peft_config(peft, name: str, heads: list[str], hp: dict):
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


def _wrap(name: str, model, backbone_dropout: bool, make_inner) -> MethodModel:
    """The peft model that make_inner(peft) builds on `model`, wrapped; prefix tuning is refused early on an encoder
    that cannot take prefixes."""
    peft = _import_peft()
    if name == "prefix_tuning":
        _check_prefix_support(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        inner = make_inner(peft)
    return MethodModel(inner, inner.get_base_model(), backbone_dropout, _PEFT_OWN[name])


def peft_builder(name: str, describe: Callable[[dict], str]):
    def build(model, heads, backbone_dropout=False, **hp):
        wrapped = _wrap(name, model, backbone_dropout,
                        lambda peft: peft.get_peft_model(model, _peft_config(peft, name, heads, hp)))
        return Built("", {}, wrapped, lambda d: wrapped.inner.save_pretrained(str(d)), describe(hp))
    return build


def load_peft(name, model, directory, hp):
    return _wrap(name, model, hp.get("backbone_dropout", False),
                 lambda peft: peft.PeftModel.from_pretrained(model, str(directory)))
