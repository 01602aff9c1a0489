"""Counting parameters: adapter / head / frozen backbone, in PEFT's one-line format (budget.py: the paper's 0.05%).

Paper abstract: tiny attention "updates only 0.05% of the parameters" of RoBERTa-large. Paper notes 1.2: one adapter of
total width E costs 3d + 4dE + 3E parameters here (LayerNorm 2d, qkv d*3E + 3E, out E*d + d).
Notebook: notebooks/02_adapter_in_a_frozen_encoder.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class ParameterCount:
    adapter: int  # the active tiny-attention adapter, all layers
    head: int  # the active adapter's task head
    backbone: int  # the encoder without any adapter (frozen)
    trainable: int  # everything with requires_grad

    @property
    def total(self) -> int:
        """Parameters of the deployed model: backbone + adapter + head."""
        return self.backbone + self.adapter + self.head

    @property
    def trainable_percent(self) -> float:
        return 100.0 * self.trainable / self.total


def _numel(params) -> int:
    return sum(p.numel() for p in params)


def count_parameters(model) -> ParameterCount:
    """Split a TinyAttnModel's parameters into the active adapter, its head and the frozen backbone."""
    name = model.active_adapter
    adapter = head = 0
    if name is not None:
        for full_name, module in model.adapter_modules(name).items():
            n = _numel(module.parameters())
            adapter, head = (adapter + n, head) if full_name.endswith(".tinyattn") else (adapter, head + n)
    in_adapters = {id(p) for layer in model.tiny_layers for p in layer.parameters()}
    backbone = _numel(p for p in model.model.base_model.parameters() if id(p) not in in_adapters)
    trainable = _numel(p for p in model.parameters() if p.requires_grad)
    return ParameterCount(adapter=adapter, head=head, backbone=backbone, trainable=trainable)


def tiny_attention_formula(hidden: int, inner_dim: int) -> int:
    """Closed form for one adapter: LayerNorm 2d + qkv (d + 1) 3E + out (E + 1) d = 3d + 4dE + 3E."""
    return 3 * hidden + 4 * hidden * inner_dim + 3 * inner_dim


def format_count(count: ParameterCount) -> str:
    """PEFT's line, then the split a PEFT user usually has to work out by hand."""
    return (
        f"trainable params: {count.trainable:,d} || all params: {count.total:,d} || "
        f"trainable%: {count.trainable_percent:.4f}\n"
        f"  adapter: {count.adapter:,d} || head: {count.head:,d} || frozen backbone: {count.backbone:,d}"
    )


def print_trainable_parameters(model) -> None:
    print(format_count(count_parameters(model)))


def count_trainable(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) for any nn.Module: the count every method in the comparison reports."""
    return _numel(p for p in model.parameters() if p.requires_grad), _numel(model.parameters())
