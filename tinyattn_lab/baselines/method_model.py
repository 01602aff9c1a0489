"""What every method of methods.py returns: the built model (Built), the wrapper that keeps a frozen encoder in eval
mode while the method trains (MethodModel), and the one parameter count they all report.

Notebook: notebooks/07_baselines_and_frontier.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from torch import nn


@dataclass
class Built:
    """A method applied to one backbone: the model to train, how to save it, and its parameter count."""

    method: str
    hp: dict  # every hyperparameter, defaults included (what the comparison's cache key is made of)
    model: nn.Module  # call it like the transformers model; only the method's parameters have requires_grad
    save: Callable[[Path], None]  # save(directory): what this method needs to restore the trained model
    description: str
    parameters: dict = field(default_factory=dict)  # see count_method_parameters


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


def is_head(name: str, heads: list[str]) -> bool:
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
            head += p.numel() if is_head(name, heads) else 0
        if id(p) not in original_ids and not (".copies." in name or ".modules_to_save." in name):
            added += p.numel()
    total = original_total + added
    return {"trainable": trainable, "total": total, "trainable_percent": 100.0 * trainable / total,
            "head": head, "method": trainable - head, "added": added}


def set_trainable(model: nn.Module, wanted: Callable[[str], bool]) -> None:
    for name, p in model.named_parameters():
        p.requires_grad_(wanted(name))
