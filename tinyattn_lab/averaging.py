"""Head averaging: the heads of a tiny-attention adapter as a mixture of experts, averaged into one head to deploy.

Paper abstract and section 2.2: "we view its multiple attention heads as a mixture of experts and propose to average
their weights during deployment, which further reduces its inference computation cost."
Notebook: notebooks/05_head_averaging.ipynb.

With h heads, the adapter's output is sum_j O_j W_j + b, where O_j is head j's attention output and W_j its slice of
the output projection. Read as a mixture with weight 1/h, expert j is f_j = O_j (h W_j). Averaging the experts'
parameters therefore gives one head with the mean query/key/value weights and output weight h * mean_j W_j = sum_j W_j.
The result is exact when the experts are identical and off by O(spread^2) otherwise (paper notes 2.3).
The paper's recipe builds the experts from a trained single head (expand_heads), trains on, then averages.
"""

from __future__ import annotations

import torch

from .attention import TinyAttention


def _pairs(model, source: str, target: str):
    """(source, target) TinyAttention pairs, layer by layer, and (source, target) head copies."""
    layers = [(layer[source], layer[target]) for layer in model.tiny_layers if source in layer]
    heads = [(m[source], m[target]) for m in (getattr(model.model, n).copies for n in model.head_names)]
    return layers, heads


@torch.no_grad()
def _fill(dst: TinyAttention, qkv_weight, qkv_bias, out_weight, src: TinyAttention) -> None:
    dst.norm.load_state_dict(src.norm.state_dict())
    dst.qkv.weight.copy_(qkv_weight)
    dst.qkv.bias.copy_(qkv_bias)
    dst.out.weight.copy_(out_weight)
    dst.out.bias.copy_(src.out.bias)


@torch.no_grad()
def average_heads(model, adapter_name: str, new_adapter_name: str | None = None) -> str:
    """Add a single-head adapter whose weights are the average of `adapter_name`'s heads; returns its name.
    The head (classifier) and LayerNorm are the ones trained with the heads (the reference code used stale ones)."""
    config = model.peft_config[adapter_name]
    new_name = new_adapter_name or f"{adapter_name}_averaged"
    model.add_adapter(new_name, config.replace(num_heads=1))
    h, e = config.num_heads, config.head_dim
    layers, heads = _pairs(model, adapter_name, new_name)
    for src, dst in layers:
        d = src.qkv.in_features
        qkv_w = src.qkv.weight.view(3, h, e, d).mean(dim=1).reshape(3 * e, d)  # mean query/key/value maps
        qkv_b = src.qkv.bias.view(3, h, e).mean(dim=1).reshape(3 * e)
        out_w = src.out.weight.view(d, h, e).sum(dim=1)  # h * mean: the mixture weight 1/h folded in
        _fill(dst, qkv_w, qkv_b, out_w, src)
    for src, dst in heads:
        dst.load_state_dict(src.state_dict())
    return new_name


@torch.no_grad()
def expand_heads(model, adapter_name: str, num_heads: int, noise_std: float = 1e-6, new_adapter_name: str | None = None,
                 seed: int = 0) -> str:
    """The paper's recipe, step 2: clone a trained single-head adapter into `num_heads` experts.

    Query/key/value weights are copied with Gaussian noise of std `noise_std` (so the experts can drift apart), and
    the output weight is split evenly, so with noise 0 the new adapter computes exactly what the old one did."""
    config = model.peft_config[adapter_name]
    if config.num_heads != 1:
        raise ValueError(f"expand_heads starts from a single-head adapter; {adapter_name!r} has {config.num_heads}.")
    if num_heads < 1:
        raise ValueError(f"num_heads must be at least 1, got {num_heads}.")
    new_name = new_adapter_name or f"{adapter_name}_x{num_heads}"
    model.add_adapter(new_name, config.replace(num_heads=num_heads))
    generator = torch.Generator().manual_seed(seed)
    layers, heads = _pairs(model, adapter_name, new_name)
    for src, dst in layers:
        d, e = src.qkv.in_features, config.head_dim
        qkv_w = src.qkv.weight.view(3, 1, e, d).repeat(1, num_heads, 1, 1).reshape(-1, d)
        qkv_w = qkv_w + noise_std * torch.randn(qkv_w.shape, generator=generator).to(qkv_w)
        qkv_b = src.qkv.bias.view(3, 1, e).repeat(1, num_heads, 1).reshape(-1)
        out_w = src.out.weight.repeat(1, num_heads) / num_heads
        _fill(dst, qkv_w, qkv_b, out_w, src)
    for src, dst in heads:
        dst.load_state_dict(src.state_dict())
    return new_name


@torch.no_grad()
def averaging_gap(model, batches, multi: str, averaged: str) -> dict:
    """How far the averaged adapter's logits are from the multi-head adapter's on the given batches:
    relative L2 distance of the logits and the share of examples whose predicted class agrees."""
    was_training, active = model.training, model.active_adapter
    model.eval()
    diff = norm = agree = count = 0.0
    try:
        for batch in batches:
            inputs = {k: v for k, v in batch.items() if k != "labels"}
            model.set_adapter(multi)
            a = model(**inputs).logits.float()
            model.set_adapter(averaged)
            b = model(**inputs).logits.float()
            diff += (a - b).pow(2).sum().item()
            norm += a.pow(2).sum().item()
            agree += (a.argmax(-1) == b.argmax(-1)).sum().item() if a.shape[-1] > 1 else 0.0
            count += a.shape[0]
    finally:
        model.train(was_training)
        if active is not None:
            model.set_adapter(active)
    return {"relative_logit_gap": (diff / max(norm, 1e-30)) ** 0.5, "prediction_agreement": agree / max(count, 1)}


@torch.no_grad()
def select_heads(model, adapter_name: str, heads, new_adapter_name: str | None = None) -> str:
    """Add an adapter made of some heads of `adapter_name`: the sub-mixture of those experts; returns its name.

    Scaling: the h-head adapter is the mixture (1/h) sum_j f_j with expert f_j = O_j (h W_j) (module docstring). The
    sub-mixture of the kept set S weighs each kept expert 1/|S|, so each kept output weight is multiplied by h/|S|.
    Then identical experts give the same function whichever heads are kept (unscaled, the update would shrink by
    |S|/h), keeping every head in order reproduces the adapter, and average_heads of the result is the average of the
    kept experts. LayerNorm, output bias and task head are copied unchanged (they are shared by all experts).
    Notebook 06 uses it to vary the head count after training, without retraining.
    """
    config = model.peft_config[adapter_name]
    h, e = config.num_heads, config.head_dim
    heads = [int(j) for j in heads]
    if not heads or len(set(heads)) != len(heads) or not all(0 <= j < h for j in heads):
        raise ValueError(f"heads must be distinct indices in 0..{h - 1} of {adapter_name!r}'s heads, got {heads}.")
    k = len(heads)
    new_name = new_adapter_name or f"{adapter_name}_heads_{'_'.join(map(str, heads))}"
    model.add_adapter(new_name, config.replace(num_heads=k))
    layers, task_heads = _pairs(model, adapter_name, new_name)
    for src, dst in layers:
        d, keep = src.qkv.in_features, torch.tensor(heads, device=src.qkv.weight.device)
        qkv_w = src.qkv.weight.view(3, h, e, d)[:, keep].reshape(3 * k * e, d)
        qkv_b = src.qkv.bias.view(3, h, e)[:, keep].reshape(3 * k * e)
        out_w = src.out.weight.view(d, h, e)[:, keep].reshape(d, k * e) * (h / k)
        _fill(dst, qkv_w, qkv_b, out_w, src)
    for src, dst in task_heads:
        dst.load_state_dict(src.state_dict())
    return new_name
