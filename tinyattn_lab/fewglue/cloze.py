"""The cloze path of few-shot FewGLUE: PET-style scoring at the mask of a frozen masked LM with tiny attention.

The example is a cloze question (patterns.pattern, encoded by cloze_encoder.ClozeEncoder) and the score of label y is
the MLM head's log-probability of y's verbalizer token at the mask; cross-entropy over these scores is PET's loss
(softmax over the verbalizer logits). COPA has several masks and an answer is scored by the sum of its tokens'
log-probabilities at them (PET's multi-mask scoring, all masks in one pass).

Trainable: the adapter only, by default. The MLM head stays frozen and shared (TinyAttnModel's head_modules=[]): its
decoder is tied to the input embeddings, and training a copy of it would train the vocabulary (millions of
parameters). `train_mlm_head=True` reproduces the reference code, which also trains the head's transform (dense +
LayerNorm), its output bias and ALBERT's embedding projection (1.11 M parameters on ALBERT-xxlarge against 28,683 in
the adapter, paper notes 3.2); the tied decoder weight stays frozen either way.
Notebook: notebooks/08_fewglue.ipynb.
"""

from __future__ import annotations

from torch import nn

from .cloze_encoder import ClozeEncoder, verbalizer_token_ids
from .tasks import get_fewglue_task
from ..heads import head_module_names
from ..model import TinyAttnModel
from .patterns import copa_choices, pattern

MLM_ARCHITECTURE_SUFFIXES = ("ForMaskedLM", "ForPreTraining")


class NoMLMHeadError(ValueError):
    """The backbone's checkpoint has no pretrained masked-LM head, so cloze scoring would read a random head."""


def has_mlm_head(name_or_path: str) -> bool:
    """Whether a checkpoint says it carries a pretrained MLM head (its config's `architectures`)."""
    from transformers import AutoConfig

    from ..backbones import resolve_model

    archs = getattr(AutoConfig.from_pretrained(resolve_model(name_or_path)), "architectures", None) or []
    return any(a.endswith(MLM_ARCHITECTURE_SUFFIXES) for a in archs)


def load_masked_lm(name_or_path: str):
    """(AutoModelForMaskedLM, tokenizer); NoMLMHeadError if the head's weights are not in the checkpoint."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer
    from transformers.utils import logging

    from ..backbones import resolve_model

    path = resolve_model(name_or_path)
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        model, info = AutoModelForMaskedLM.from_pretrained(path, output_loading_info=True)
        tokenizer = AutoTokenizer.from_pretrained(path)
    finally:
        logging.set_verbosity(verbosity)
    base = model.base_model_prefix + "."
    head_missing = [k for k in info.get("missing_keys", []) if not k.startswith(base)]
    if head_missing:
        raise NoMLMHeadError(f"{name_or_path!r} has no pretrained MLM head (missing from its checkpoint: "
                             f"{', '.join(sorted(head_missing)[:4])}...): cloze scores would come from a random head. "
                             f"Use the classification-head path (--path head) for this backbone.")
    return model.eval(), tokenizer


class ClozeModel(nn.Module):
    """A frozen masked LM with tiny-attention adapters whose output is one score per candidate answer.

    forward(input_ids, attention_mask, [token_type_ids], mask_positions (B, M), candidates (B, C, M) token ids,
    -1 = padding) -> (B, C) scores: for each candidate the summed log-probability of its tokens at the masks."""

    def __init__(self, mlm: nn.Module, train_mlm_head: bool = False):
        super().__init__()
        heads = head_module_names(mlm)
        if len(heads) != 1:
            raise ValueError(f"expected one MLM head module outside the base model, found {heads}")
        self.tiny = TinyAttnModel(mlm, head_modules=[])  # the MLM head is not copied per adapter: frozen, shared
        self.mlm_head = getattr(mlm, heads[0])
        self.train_mlm_head = train_mlm_head

    def extra_parameters(self) -> dict[str, nn.Parameter]:
        """What the reference code trains besides the adapter: the MLM head without the decoder weight tied to the
        input embeddings, and ALBERT's embedding -> hidden projection."""
        tied = {id(self.tiny.model.get_input_embeddings().weight)}
        extra = {f"mlm_head.{n}": p for n, p in self.mlm_head.named_parameters() if id(p) not in tied}
        projection = getattr(getattr(self.tiny.model.base_model, "encoder", None), "embedding_hidden_mapping_in", None)
        if projection is not None:
            extra.update({f"embedding_hidden_mapping_in.{n}": p for n, p in projection.named_parameters()})
        return extra

    def activate(self, adapter_name: str) -> None:
        """Make `adapter_name` active and trainable (plus the reference's extra parameters if asked for)."""
        self.tiny.set_adapter(adapter_name)
        for p in self.extra_parameters().values():
            p.requires_grad_(self.train_mlm_head)

    def forward(self, input_ids, attention_mask, mask_positions, candidates, token_type_ids=None, **_):
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        hidden = self.tiny.model.base_model(input_ids=input_ids, attention_mask=attention_mask, **kwargs)[0]
        at_masks = hidden.gather(1, mask_positions[..., None].expand(-1, -1, hidden.shape[-1]))  # (B, M, d)
        log_probs = self.mlm_head(at_masks).float().log_softmax(-1)  # (B, M, V)
        valid = candidates >= 0  # (B, C, M)
        picked = log_probs[:, None].expand(-1, candidates.shape[1], -1, -1).gather(
            -1, candidates.clamp(min=0)[..., None])[..., 0]  # (B, C, M)
        return (picked * valid).sum(-1)


def cloze_features(task, dataset, encoder: ClozeEncoder, pattern_id: int | None = None) -> list[dict]:
    """One feature per example: the encoded cloze question, its mask positions and the candidates' token ids."""
    task = get_fewglue_task(task)
    if task.kind == "labels":
        words = [[i] for i in verbalizer_token_ids(encoder, task, pattern_id)]
    features = []
    for example in dataset:
        if task.kind == "choices":
            words = [encoder.encode_text(c) for c in copa_choices(example)]
            enc = encoder.encode(*pattern(task, example, pattern_id, num_masks=max(map(len, words))))
        else:
            enc = encoder.encode(*pattern(task, example, pattern_id))
        features.append({"seqs": [enc["input_ids"]], "types": [enc.get("token_type_ids")],
                         "mask_positions": enc["mask_positions"], "candidates": words,
                         "label": int(example.get("label", -1))})
    return features
