"""Training checkpoints that resume exactly, stored without pickle (safetensors for tensors, JSON for the rest).

A checkpoint holds the trainable parameters, the optimizer's state, the scheduler's state, the step counters, the
evaluation history and the random-number state; saving is atomic (see saving.write_atomically), so a run killed while
saving still has its previous checkpoint.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..saving import write_atomically

TENSORS, STATE = "checkpoint.safetensors", "trainer_state.json"


def _split_optimizer(state_dict: dict) -> tuple[dict, dict]:
    """Optimizer state -> (tensors keyed "state.<param>.<name>", JSON-able rest)."""
    tensors, scalars = {}, {}
    for index, per_param in state_dict["state"].items():
        for name, value in per_param.items():
            if torch.is_tensor(value):
                tensors[f"state.{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{name}"] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _join_optimizer(tensors: dict, rest: dict) -> dict:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = value
    for key, value in rest["scalars"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": rest["param_groups"]}


def save_checkpoint(directory, model, optimizer, scheduler, progress: dict) -> None:
    """progress: JSON-able step counters, history and best result."""
    params = {f"param.{n}": p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}
    opt_tensors, opt_rest = _split_optimizer(optimizer.state_dict())
    tensors = {**params, **{f"optim.{k}": v for k, v in opt_tensors.items()}, "rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors.update({f"rng.cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    state = {
        "progress": progress,
        "optimizer": opt_rest,
        "scheduler": scheduler.state_dict(),
        "python_random": random.getstate(),
    }

    def write(tmp: Path):
        save_file(tensors, str(tmp / TENSORS))
        (tmp / STATE).write_text(json.dumps(state))

    write_atomically(Path(directory), write)


def load_checkpoint(directory, model, optimizer, scheduler) -> dict:
    """Restore everything save_checkpoint wrote; returns the progress dict."""
    directory = Path(directory)
    try:
        tensors = load_file(str(directory / TENSORS))
        state = json.loads((directory / STATE).read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"The checkpoint in {directory} is missing or corrupt ({err}); delete it to start over.") from err
    params = dict(model.named_parameters())
    with torch.no_grad():
        for key, value in tensors.items():
            if key.startswith("param."):
                params[key[len("param."):]].copy_(value)
    optim = {k[len("optim."):]: v for k, v in tensors.items() if k.startswith("optim.")}
    optimizer.load_state_dict(_join_optimizer(optim, state["optimizer"]))
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    version, internal, gauss = state["python_random"]
    random.setstate((version, tuple(internal), gauss))
    return state["progress"]
