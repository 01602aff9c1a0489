"""Saving and loading adapters the way PEFT does: `adapter_config.json` + `adapter_model.safetensors`.

Only the adapter and its task head are written (kilobytes, not the backbone), atomically: files go to a temporary
folder that replaces the target in one rename, so an interrupted save never leaves half an adapter. The config records
the backbone the adapter was trained on, and loading onto any other backbone is refused with a message saying why.
Notebook: notebooks/03_train_on_glue.ipynb.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import TinyAttnConfig

CONFIG_NAME, WEIGHTS_NAME = "adapter_config.json", "adapter_model.safetensors"
FORMAT_VERSION = 1


def write_json(path, document: dict) -> None:
    """Write a JSON file atomically (a run killed mid-write keeps the previous file)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(document, indent=2))
    tmp.replace(path)


def backbone_signature(model) -> dict:
    """What must match for an adapter to fit a backbone."""
    config = model.model.config
    return {
        "model_type": config.model_type,
        "hidden_size": model.hidden_size,
        "num_layers": len(model.tiny_layers),
        "num_labels": config.num_labels,
    }


def adapter_state_dict(model, adapter_name: str) -> dict:
    """Tensors keyed by their place in the wrapped model, without the adapter name (as PEFT stores them):
    `bert.encoder.layer.0.tinyattn.qkv.weight`, ..., `classifier.weight`."""
    return {
        f"{prefix}.{key}": tensor.detach().cpu().contiguous()
        for prefix, module in model.adapter_modules(adapter_name).items()
        for key, tensor in module.state_dict().items()
    }


def write_atomically(directory: Path, write) -> None:
    """Call write(tmp_dir) and move tmp_dir to `directory` in one step (replacing an older save)."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes the folder private; a saved adapter is an ordinary folder
        for path in tmp.rglob("*"):  # and safetensors writes its file through a private temporary file
            if path.is_file():
                path.chmod(0o666 & ~umask)
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(directory, old)
            os.replace(tmp, directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def save_adapter(model, directory, adapter_name: str, **metadata) -> None:
    """Write one adapter and its head. `metadata` (task, metrics, ...) is stored in the config for the reader."""
    if adapter_name is None:
        raise ValueError("No adapter is active; name the adapter to save.")
    config = model.peft_config[adapter_name]
    document = {
        "peft_type": "TINYATTN",
        "format_version": FORMAT_VERSION,
        "base_model_name_or_path": getattr(model.model.config, "_name_or_path", None),
        "backbone": backbone_signature(model),
        "tinyattn": config.to_dict(),
        **metadata,
    }

    def write(tmp: Path):
        save_file(adapter_state_dict(model, adapter_name), str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
        (tmp / CONFIG_NAME).write_text(json.dumps(document, indent=2))

    write_atomically(Path(directory), write)


def read_adapter_config(directory) -> dict:
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"No {CONFIG_NAME} in {directory}: is this a folder written by save_pretrained?")
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is corrupt, not JSON ({err}); save the adapter again.") from None
    kind, version = document.get("peft_type"), document.get("format_version")
    if kind is None:
        raise ValueError(f"{path} is corrupt or not an adapter config (it has no peft_type); save the adapter again.")
    if kind != "TINYATTN":
        raise ValueError(f"{path} is a {kind!r} adapter, not a tiny-attention one (peft_type 'TINYATTN'); load it with "
                         f"the library that wrote it (peft for LoRA and the like).")
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise ValueError(f"{path} has format_version {version!r}, but this tinyattn-lab reads versions 1 to "
                         f"{FORMAT_VERSION}; upgrade tinyattn-lab to read it.")
    try:
        document["tinyattn"] = TinyAttnConfig.from_dict(document["tinyattn"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path} is corrupt or not a tiny-attention adapter config ({err}).") from None
    return document


def load_adapter(model, directory, adapter_name: str = "default") -> dict:
    """Add the adapter saved in `directory` to `model` under `adapter_name`; returns the saved config document."""
    document = read_adapter_config(directory)
    expected, found = document["backbone"], backbone_signature(model)
    diffs = [f"{k}: adapter {expected.get(k)!r} vs model {found[k]!r}" for k in found if expected.get(k) != found[k]]
    if diffs:
        raise ValueError(
            f"The adapter in {directory} was saved for another backbone "
            f"({document.get('base_model_name_or_path')!r}); it cannot be loaded here: {'; '.join(diffs)}."
        )
    try:
        tensors = load_file(str(Path(directory) / WEIGHTS_NAME))
    except (SafetensorError, FileNotFoundError, OSError) as err:
        raise ValueError(f"Cannot read {Path(directory) / WEIGHTS_NAME}: missing or corrupt ({err}).") from err
    model.add_adapter(adapter_name, document["tinyattn"])
    expected_keys = adapter_state_dict(model, adapter_name)
    if set(tensors) != set(expected_keys):
        model.delete_adapter(adapter_name)
        missing, extra = sorted(set(expected_keys) - set(tensors)), sorted(set(tensors) - set(expected_keys))
        raise ValueError(f"{WEIGHTS_NAME} does not match its config: missing {missing[:3]}, unexpected {extra[:3]}.")
    wrong = [f"{k} {list(tensors[k].shape)} in the file, {list(v.shape)} from the config"
             for k, v in expected_keys.items() if tensors[k].shape != v.shape]
    if wrong:  # checked here so the message is one line, not torch's list of every mismatch
        model.delete_adapter(adapter_name)
        raise ValueError(f"{WEIGHTS_NAME} in {directory} does not fit its config ({CONFIG_NAME}): {len(wrong)} "
                         f"tensor(s) have other shapes, e.g. {wrong[0]}; the two files come from different saves: "
                         f"save again.")
    for prefix, module in model.adapter_modules(adapter_name).items():
        module.load_state_dict({k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")})
    return document
