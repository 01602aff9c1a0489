"""What a saved adapter says about your own sentences: a label and its probabilities, or a regression value.

    >>> predict("runs/sst2/adapter", ["A wonderful, moving film.", "Dull and far too long."])
    [{"text": "A wonderful, moving film.", "label": "positive", "probabilities": {"negative": 0.03, "positive": 0.97}},
     ...]

Works for adapters trained on GLUE (label names from the GLUE task) and on your own files (the names recorded in the
adapter's config, data/files.py). Pair tasks take (first, second) tuples. The `predict` subcommand prints these as
JSON lines. Notebook: notebooks/03_train_on_glue.ipynb (its last cell).
"""

from __future__ import annotations

import torch

from ..backbones import DEFAULT_MODEL, load_backbone
from ..data.files import adapter_task
from ..model import TinyAttnModel
from ..saving import read_adapter_config


def check_inputs(texts, text_keys) -> list:
    """The inputs as a list: strings for a one-text task, (first, second) pairs for a pair task."""
    texts = [texts] if isinstance(texts, str) else list(texts)
    if not texts:
        raise ValueError("No text to predict: give one or more texts (or a file of them).")
    pair = len(text_keys) == 2
    for text in texts:
        ok = (isinstance(text, (tuple, list)) and len(text) == 2 and all(isinstance(t, str) for t in text)
              if pair else isinstance(text, str))
        if not ok:
            want = f"a pair of texts ({', '.join(text_keys)})" if pair else "a text (a string)"
            raise ValueError(f"Each input must be {want}, got {text!r}"
                             f"{'; for pairs pass --file with those columns' if pair else ''}.")
    return texts


@torch.no_grad()
def predict(adapter_dir, texts, model_name: str | None = None, batch_size: int = 64) -> list[dict]:
    """One dict per input: {"text", "label", "probabilities": {name: p}} or, for regression, {"text", "value"}."""
    document = read_adapter_config(adapter_dir)
    task = adapter_task(document)
    texts = check_inputs(texts, task.text_keys)  # before the backbone loads
    backbone, tokenizer = load_backbone(model_name or document.get("model_name", DEFAULT_MODEL), task.num_labels)
    model = TinyAttnModel.from_pretrained(backbone, adapter_dir).eval()
    names = task.label_names  # None for regression
    out = []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start:start + batch_size]
        columns = [list(c) for c in zip(*chunk)] if len(task.text_keys) == 2 else [chunk]
        batch = tokenizer(*columns, truncation=True, max_length=document.get("max_length", 128), padding=True,
                          return_tensors="pt")
        logits = model(**batch).logits.float()
        for text, row in zip(chunk, logits):
            shown = list(text) if isinstance(text, (tuple, list)) else text
            if task.is_regression:
                out.append({"text": shown, "value": float(row[0])})
                continue
            probs = row.softmax(-1).tolist()
            out.append({"text": shown, "label": names[int(row.argmax())],
                        "probabilities": {str(n): p for n, p in zip(names, probs)}})
    return out
