"""FewGLUE for tinyattn_lab: loading, the task table, PET's patterns and verbalizers, and cloze encoding.

FewGLUE (Schick & Schütze 2021, "It's Not Just Size That Matters") is SuperGLUE with 32 labelled training examples
per task (plus unlabeled sets); results are reported on the SuperGLUE validation sets ("dev") or the test server.
The tiny-attention paper's second claim is that its adapter, trained on these 32 examples, is "comparable to GPT-3 and
PET" (paper notes 3.2 and 4.3).

Data comes from a local Parquet mirror laid out like the Hugging Face `super_glue` dataset
(fewglue/<task>/{train,unlabeled,val}.parquet, see shared/data/README.md) found through `data_dir` or $TINYATTN_DATA,
or, with neither, from the hub. Some files are absent from the mirror (the unlabeled sets of BoolQ, CB, RTE and
ReCoRD, and ReCoRD's validation set): loading says so and carries on with what is there.

Two ways to train on the 32 examples (cloze.py):
  cloze  PET's way for a masked LM: the input is rewritten as a cloze question ("<hypothesis>? [MASK], <premise>")
         and the MLM head's scores for one verbalizer word per label ("Yes"/"No"/"Maybe") are the class logits.
         Each verbalizer word must be exactly one real token of the tokenizer (checked here, see
         `verbalizer_token_ids`): the reference code's look-up is suspect on this point (paper notes 3.2).
  head   a fresh classification head on the first token, for backbones without a pretrained MLM head
         (the embedded MiniLM has none); same 32 examples, same adapter.

The `tinyattn-lab fewglue` command is defined here (add_parser / run_command).
Notebook: notebooks/08_fewglue.ipynb.
"""

from __future__ import annotations

import argparse
import json
import os
import string
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .data import DATA_ENV
from .fewglue_metrics import METRICS

HUB_SUPERGLUE = "aps/super_glue"  # SuperGLUE validation sets in the layout the mirror copies
HUB_FEWGLUE = "juny116/few_glue"  # the 32-example training sets; the reference code's source (not exercised offline)
SPLIT_FILES = {"train": "train.parquet", "unlabeled": "unlabeled.parquet", "validation": "val.parquet"}


class MissingSplitWarning(UserWarning):
    """A FewGLUE split that was asked for is not in the mirror; loading went on without it."""


# ---------------------------------------------------------------------------------------------------------------------
# pattern pieces
# ---------------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mask:
    """`count` consecutive mask tokens in a pattern (1 for a verbalizer word; COPA needs as many as its answer)."""

    count: int = 1


MASK = Mask()


@dataclass(frozen=True)
class Text:
    """Example text inside a pattern; `shortenable` text is what truncation cuts (PET's `shortenable`)."""

    text: str
    shortenable: bool = True


def _strip_final_punct(text: str) -> str:
    return text.rstrip(string.punctuation)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


# ---------------------------------------------------------------------------------------------------------------------
# the task table
# ---------------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FewGlueTask:
    name: str
    kind: str  # "labels": one verbalizer token per label; "choices": score each answer text (COPA);
    #            "spans" (WSC) and "entities" (ReCoRD): loading and metrics only
    label_names: tuple  # HF super_glue ClassLabel names, in label-id order (COPA: the two choices)
    num_patterns: int = 0  # PET pattern ids 0 .. num_patterns-1 (RTE/CB add the tiny-attention reference pattern)
    default_pattern: int = 0
    note: str = ""

    @property
    def metrics(self) -> tuple:
        return METRICS[self.name]

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def trainable(self) -> bool:
        return self.kind in ("labels", "choices")


FEWGLUE_TASKS = {t.name: t for t in [
    FewGlueTask("boolq", "labels", ("False", "True"), num_patterns=6),
    FewGlueTask("cb", "labels", ("entailment", "contradiction", "neutral"), num_patterns=6, default_pattern=0),
    FewGlueTask("copa", "choices", ("choice1", "choice2"), num_patterns=2),
    FewGlueTask("multirc", "labels", ("False", "True"), num_patterns=4,
                note="one row per answer option; F1a over options, EM over questions"),
    FewGlueTask("record", "entities", (), note="metrics and loading only: the mirror has no ReCoRD validation set, "
                                               "and entity scoring (multi-token, many candidates) is not implemented"),
    FewGlueTask("rte", "labels", ("entailment", "not_entailment"), num_patterns=6, default_pattern=0),
    FewGlueTask("wic", "labels", ("False", "True"), num_patterns=3),
    FewGlueTask("wsc", "spans", ("False", "True"),
                note="metrics and loading only: FewGLUE's WSC train set holds only True examples (PET trains it "
                     "generatively on the referent's tokens), so a classifier on it learns to always say True"),
]}
TRAINABLE_TASKS = tuple(n for n, t in FEWGLUE_TASKS.items() if t.trainable)
REFERENCE_PATTERN = 5  # RTE/CB: the tiny-attention code's own pattern, premise?[MASK]. hypothesis


# Published few-shot numbers to set beside ours, in percent. Only numbers with a source trail are listed, and the trail
# says how far each was checked: the two papers themselves could not be opened offline, so every value below was read
# in a secondary source that quotes them. "dev" = SuperGLUE validation set (where we score), "test" = the SuperGLUE
# test server; the two are different sets and are not interchangeable. The tiny-attention paper's own FewGLUE table
# was not retrieved (paper notes 4.3).
_NOTES = "shared/docs/paper-notes.md section 4.3 (a secondary summary of Schick & Schuetze 2021 Table 1; unverified there)"
_LLMBOX = "quoted as the paper's result in RUCAIBox/LLMBox pull request #73"
PUBLISHED = [
    dict(system="GPT-3 175B, 32 examples in context", task="rte", metric="accuracy", value=69.0, split="test",
         source="Brown et al. 2020, Table 3.8, as copied into Schick & Schuetze 2021, Table 1", checked=_NOTES),
    dict(system="GPT-3 175B, 32 examples in context", task="cb", metric="accuracy", value=75.6, split="test",
         source="Brown et al. 2020, Table 3.8, as copied into Schick & Schuetze 2021, Table 1", checked=_NOTES),
    dict(system="GPT-3 175B, 32 examples in context", task="wsc", metric="accuracy", value=80.1, split="test",
         source="Brown et al. 2020, section 3.7 (SuperGLUE): '80.1% in the few-shot setting'",
         checked="text quoted in EleutherAI/lm-evaluation-harness issue #22"),
    dict(system="GPT-3 175B, 32 examples in context", task="boolq", metric="accuracy", value=77.5, split="dev",
         source="Brown et al. 2020, few-shot result on the SuperGLUE dev set", checked=_LLMBOX),
    dict(system="GPT-3 175B, 32 examples in context", task="cb", metric="accuracy", value=82.1, split="dev",
         source="Brown et al. 2020, few-shot result on the SuperGLUE dev set", checked=_LLMBOX),
    dict(system="PET, ALBERT-xxlarge-v2 (223M), 32 examples + unlabeled", task="rte", metric="accuracy", value=67.2,
         split="test", source="Schick & Schuetze 2021, Table 1", checked=_NOTES),
    dict(system="PET, ALBERT-xxlarge-v2 (223M), 32 examples + unlabeled", task="cb", metric="accuracy", value=87.2,
         split="test", source="Schick & Schuetze 2021, Table 1", checked=_NOTES),
    dict(system="PET, ALBERT-xxlarge-v2 (223M), 32 examples + unlabeled", task="rte", metric="accuracy", value=69.8,
         split="dev", source="Schick & Schuetze 2021, Table 1",
         checked="quoted in timoschick/pet issue #48, whose author reads it as the dev-set number"),
    dict(system="iPET, ALBERT-xxlarge-v2 (223M), 32 examples + unlabeled", task="rte", metric="accuracy", value=70.8,
         split="test", source="Schick & Schuetze 2021, Table 1", checked=_NOTES),
    dict(system="iPET, ALBERT-xxlarge-v2 (223M), 32 examples + unlabeled", task="cb", metric="accuracy", value=88.8,
         split="test", source="Schick & Schuetze 2021, Table 1", checked=_NOTES),
]


def get_fewglue_task(name) -> FewGlueTask:
    if isinstance(name, FewGlueTask):
        return name
    key = str(name).lower().replace("-", "").replace("_", "")
    if key not in FEWGLUE_TASKS:
        raise ValueError(f"unknown FewGLUE task {name!r}; known tasks: {', '.join(FEWGLUE_TASKS)}")
    return FEWGLUE_TASKS[key]


# ---------------------------------------------------------------------------------------------------------------------
# patterns and verbalizers (PET's, from timoschick/pet pet/pvp.py, plus the tiny-attention reference pattern)
# ---------------------------------------------------------------------------------------------------------------------

def _nli_pattern(example: dict, pattern_id: int, three_way: bool) -> tuple[list, list]:
    # only the premise is shortenable: PET also marks the hypothesis, and cuts the *last* shortenable part first, which
    # in patterns 4 and 5 would delete the hypothesis before touching the premise
    premise = Text(example["premise"])
    hypothesis = Text(_strip_final_punct(example["hypothesis"]), shortenable=False)
    if pattern_id == 0:
        return ['"', hypothesis, '" ?'], [MASK, ', "', premise, '"']
    if pattern_id == 1:
        return [hypothesis, "?"], [MASK, ",", premise]
    if pattern_id == 2:
        return ['"', hypothesis, '" ?'], [MASK, '. "', premise, '"']
    if pattern_id == 3:
        return [hypothesis, "?"], [MASK, ".", premise]
    if pattern_id == 4:
        question = " true, false or neither? answer:" if three_way else " True or False? answer:"
        return [premise, " question: ", Text(example["hypothesis"], False), question, MASK], []
    if pattern_id == REFERENCE_PATTERN:  # cindermond/tiny-attn train_few_shot.py: premise + "?[MASK]. " + hypothesis
        return [premise, "?", MASK, ".", Text(example["hypothesis"], False)], []
    raise ValueError(f"no pattern {pattern_id} for {'cb' if three_way else 'rte'}")


def _boolq_pattern(example: dict, pattern_id: int) -> tuple[list, list]:
    passage, question = Text(example["passage"]), Text(example["question"], False)  # cut the passage, not the question
    if pattern_id < 2:
        return [passage, ". Question: ", question, "? Answer: ", MASK, "."], []
    if pattern_id < 4:
        return [passage, ". Based on the previous passage, ", question, "?", MASK, "."], []
    if pattern_id < 6:
        return ["Based on the following passage, ", question, "?", MASK, ".", passage], []
    raise ValueError(f"no pattern {pattern_id} for boolq")


def _multirc_pattern(example: dict, pattern_id: int) -> tuple[list, list]:
    passage, question, answer = Text(example["paragraph"]), example["question"], example["answer"]
    if pattern_id == 0:
        return [passage, ". Question: ", question, "? Is it ", answer, "?", MASK, "."], []
    if pattern_id == 1:
        return [passage, ". Question: ", question, '? Is the correct answer "', answer, '"?', MASK, "."], []
    if pattern_id == 2:
        return [passage, ". Based on the previous passage, ", question, '? Is "', answer, '" a correct answer?',
                MASK, "."], []
    if pattern_id == 3:
        return [passage, question, "- [", MASK, "]", answer], []
    raise ValueError(f"no pattern {pattern_id} for multirc")


def _wic_pattern(example: dict, pattern_id: int) -> tuple[list, list]:
    s1, s2, word = Text(example["sentence1"]), Text(example["sentence2"]), example["word"]
    if pattern_id == 0:
        return ['"', s1, '" / "', s2, '" Similar sense of "' + word + '"?', MASK, "."], []
    if pattern_id == 1:
        return [s1, s2, "Does " + word + " have the same meaning in both sentences?", MASK], []
    if pattern_id == 2:
        return [word, ' . Sense (1) (a) "', s1, '" (', MASK, ') "', s2, '"'], []
    raise ValueError(f"no pattern {pattern_id} for wic")


def copa_choices(example: dict) -> list[str]:
    """COPA's two answers as PET inserts them: first letter lower-cased, final punctuation removed."""
    return [_strip_final_punct(_lower_first(example[k])) for k in ("choice1", "choice2")]


def _copa_pattern(example: dict, pattern_id: int, num_masks: int) -> tuple[list, list]:
    premise = Text(_strip_final_punct(example["premise"]))
    c1, c2 = copa_choices(example)
    joiner = "because" if example["question"] == "cause" else ", so"
    if pattern_id == 0:
        return ['"', c1, '" or "', c2, '"?', premise, joiner, Mask(num_masks), "."], []
    if pattern_id == 1:
        return [c1, "or", c2, "?", premise, joiner, Mask(num_masks), "."], []
    raise ValueError(f"no pattern {pattern_id} for copa")


def pattern(task, example: dict, pattern_id: int | None = None, num_masks: int = 1) -> tuple[list, list]:
    """PET's filled pattern for one example: (parts of text a, parts of text b); parts are str (pattern words),
    Text (example text) or Mask. `num_masks` is for COPA (the length of the longer answer in tokens)."""
    task = get_fewglue_task(task)
    pid = task.default_pattern if pattern_id is None else pattern_id
    if task.name in ("rte", "cb"):
        return _nli_pattern(example, pid, task.name == "cb")
    if task.name == "boolq":
        return _boolq_pattern(example, pid)
    if task.name == "multirc":
        return _multirc_pattern(example, pid)
    if task.name == "wic":
        return _wic_pattern(example, pid)
    if task.name == "copa":
        return _copa_pattern(example, pid, num_masks)
    raise NotImplementedError(f"{task.name}: {task.note}")


def verbalizer(task, pattern_id: int | None = None) -> tuple[str, ...]:
    """The word for each label id (PET's verbalizers; the pattern decides between Yes/No and true/false)."""
    task = get_fewglue_task(task)
    pid = task.default_pattern if pattern_id is None else pattern_id
    if task.name == "rte":
        return ("true", "false") if pid == 4 else ("Yes", "No")
    if task.name == "cb":
        return ("true", "false", "neither") if pid == 4 else ("Yes", "No", "Maybe")
    if task.name == "boolq":
        return ("No", "Yes") if pid % 2 == 0 else ("false", "true")
    if task.name == "multirc":
        return ("False", "True") if pid == 3 else ("No", "Yes")
    if task.name == "wic":
        return ("2", "b") if pid == 2 else ("No", "Yes")
    raise NotImplementedError(f"{task.name} has no single-token verbalizer ({task.kind}); "
                              + (task.note or "its answers are scored as token sequences"))


def render(parts_a: list, parts_b: list, mask_token: str = "[MASK]") -> str:
    """A readable string of a filled pattern (for display; the model input is built part by part, see ClozeEncoder)."""
    def one(parts):
        return " ".join(p.text if isinstance(p, Text) else " ".join([mask_token] * p.count) if isinstance(p, Mask)
                        else p.strip() for p in parts if not (isinstance(p, str) and not p.strip()))
    a, b = one(parts_a), one(parts_b)
    return f"{a} || {b}" if b else a


# ---------------------------------------------------------------------------------------------------------------------
# the classification-head path: plain text pairs
# ---------------------------------------------------------------------------------------------------------------------

def _mark(sentence: str, start: int, end: int) -> str:
    return f"{sentence[:start]}*{sentence[start:end]}*{sentence[end:]}"


def text_pairs(task, example: dict) -> list[tuple[str, str]]:
    """Inputs of the classification-head path: one (text_a, text_b) pair per example, one per answer for COPA."""
    task = get_fewglue_task(task)
    if task.name in ("rte", "cb"):
        return [(example["premise"], example["hypothesis"])]
    if task.name == "boolq":
        return [(example["question"], example["passage"])]
    if task.name == "multirc":
        return [(f"{example['question']} {example['answer']}", example["paragraph"])]
    if task.name == "wic":
        s1 = _mark(example["sentence1"], example["start1"], example["end1"])
        s2 = _mark(example["sentence2"], example["start2"], example["end2"])
        return [(f"{example['word']}: {s1}", s2)]
    if task.name == "copa":
        lead = "What was the cause?" if example["question"] == "cause" else "What happened as a result?"
        return [(f"{example['premise']} {lead}", choice) for choice in (example["choice1"], example["choice2"])]
    raise NotImplementedError(f"{task.name}: {task.note}")


# ---------------------------------------------------------------------------------------------------------------------
# cloze encoding and the verbalizer token check
# ---------------------------------------------------------------------------------------------------------------------

class VerbalizerError(ValueError):
    """A verbalizer word is not exactly one real token of the tokenizer."""


class ClozeEncoder:
    """Turns a filled pattern into model input ids, encoding each part on its own as PET does, so that every mask is
    one token at a known position and every verbalizer word is looked up the same way it is predicted.

    The special-token layout ([CLS] a [SEP] b [SEP], <s> a </s></s> b </s>, ...) is read off the tokenizer by
    encoding the mask token as a one- and two-text probe, so no tokenizer-specific code is needed."""

    def __init__(self, tokenizer, max_length: int = 256):
        if tokenizer.mask_token_id is None:
            raise ValueError(f"{type(tokenizer).__name__} has no mask token: the cloze path needs a masked-LM tokenizer")
        self.tokenizer, self.max_length, self.mask_id = tokenizer, max_length, tokenizer.mask_token_id
        self.special_ids = set(tokenizer.all_special_ids)
        if tokenizer.unk_token_id is not None:
            self.special_ids.add(tokenizer.unk_token_id)
        self._single = self._probe(tokenizer(tokenizer.mask_token, return_token_type_ids=True))
        self._pair = self._probe(tokenizer(tokenizer.mask_token, tokenizer.mask_token, return_token_type_ids=True))
        # byte-level BPE (RoBERTa, GPT-2) marks word starts by a leading space; PET passes add_prefix_space=True
        self._prefix_space = tokenizer.tokenize(" a") != tokenizer.tokenize("a")

    def _probe(self, encoding) -> dict:
        """Split a probe encoding at its mask tokens: the special tokens around the texts and their token types."""
        ids, types = list(encoding["input_ids"]), encoding.get("token_type_ids")
        where = [i for i, t in enumerate(ids) if t == self.mask_id]
        bounds = list(zip([0, *(i + 1 for i in where)], [*where, len(ids)]))
        return {
            "pieces": [ids[a:b] for a, b in bounds],
            "piece_types": [list(types[a:b]) for a, b in bounds] if types is not None else None,
            "text_types": [types[i] for i in where] if types is not None else None,
        }

    def encode_text(self, text: str) -> list[int]:
        if self._prefix_space and not text.startswith(" "):
            text = " " + text
        # verbose=False: a long passage is cut to max_length later, the tokenizer need not warn about its length
        return list(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def word_id(self, word: str) -> int:
        """The single token id of a verbalizer word, encoded as it is predicted (a word of its own); raises
        VerbalizerError if it is several tokens, or unknown / special."""
        ids = self.encode_text(word)
        pieces = self.tokenizer.convert_ids_to_tokens(ids)
        if len(ids) != 1:
            raise VerbalizerError(f"verbalizer word {word!r} is {len(ids)} tokens for {type(self.tokenizer).__name__} "
                                  f"({pieces}); a verbalizer must be exactly one token")
        if ids[0] in self.special_ids:
            raise VerbalizerError(f"verbalizer word {word!r} maps to the special/unknown token {pieces[0]!r} "
                                  f"(id {ids[0]}); every label would get the same score")
        return ids[0]

    def _parts_to_ids(self, parts: list) -> list[list]:
        """[ids, shortenable, is_mask] per non-empty part."""
        out = []
        for part in parts:
            if isinstance(part, Mask):
                out.append([[self.mask_id] * part.count, False, True])
            elif isinstance(part, Text):
                if part.text:
                    out.append([self.encode_text(part.text), part.shortenable, False])
            elif part:
                out.append([self.encode_text(part), False, False])
        return out

    @staticmethod
    def _shortenable(parts) -> int:
        return sum(len(ids) for ids, short, _ in parts if short)

    def _truncate(self, a: list, b: list, budget: int) -> None:
        """PET's rule: take tokens off the end of the last shortenable part of whichever text has more shortenable
        tokens, until everything fits."""
        excess = sum(len(p[0]) for p in a) + sum(len(p[0]) for p in b) - budget
        while excess > 0:
            side = a if self._shortenable(a) > self._shortenable(b) else b  # ties: b, as PET
            candidates = [p for p in side if p[1] and p[0]]
            if not candidates:
                raise ValueError(f"the parts that may not be shortened (pattern words, masks, questions, answers) "
                                 f"alone exceed max_length={self.max_length}")
            part = candidates[-1]
            # one text at a time, never below the other text's shortenable length (PET removes token by token)
            other = self._shortenable(b if side is a else a)
            cut = max(1, min(excess, len(part[0]), self._shortenable(side) - other))
            part[0] = part[0][:len(part[0]) - cut]
            excess -= cut

    def encode(self, parts_a: list, parts_b: list | None = None) -> dict:
        """input_ids, token_type_ids (if the tokenizer has them) and the positions of the mask tokens."""
        a, b = self._parts_to_ids(parts_a), self._parts_to_ids(parts_b or [])
        template = self._pair if b else self._single
        self._truncate(a, b, self.max_length - sum(map(len, template["pieces"])))
        texts = [a, b] if b else [a]
        typed = template["piece_types"] is not None
        input_ids, types, masks = [], [], []
        for k, text in enumerate(texts):
            input_ids += template["pieces"][k]
            if typed:
                types += template["piece_types"][k]
            for ids, _, is_mask in text:
                if is_mask:
                    masks += range(len(input_ids), len(input_ids) + len(ids))
                input_ids += ids
                if typed:
                    types += [template["text_types"][k]] * len(ids)
        input_ids += template["pieces"][len(texts)]
        out = {"input_ids": input_ids, "mask_positions": masks}
        if typed:
            types += template["piece_types"][len(texts)]
            out["token_type_ids"] = types
        return out


def verbalizer_token_ids(tokenizer, task, pattern_id: int | None = None) -> list[int]:
    """One token id per label for a task's verbalizer; raises VerbalizerError naming the offending word if any word
    is not exactly one real (known, non-special) token."""
    encoder = tokenizer if isinstance(tokenizer, ClozeEncoder) else ClozeEncoder(tokenizer)
    return [encoder.word_id(w) for w in verbalizer(task, pattern_id)]


def reference_lookup(tokenizer, word: str) -> int:
    """The look-up the tiny-attention reference code uses at evaluation: the bare string as a vocabulary entry,
    without SentencePiece's word-start marker. Kept to show the bug (paper notes 3.2): for an ALBERT vocabulary
    that holds "▁yes" but not "yes" this is the unknown token for every label."""
    return tokenizer.convert_tokens_to_ids(word.lower() if getattr(tokenizer, "do_lower_case", False) else word)


# ---------------------------------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------------------------------

def resolve_fewglue_dir(data_dir=None) -> Path | None:
    """The mirror root (the folder that contains fewglue/), or None for the hub.

    Same rules as data.resolve_data_dir (an explicit data_dir wins over $TINYATTN_DATA; an empty value counts as
    unset; the fewglue/ folder itself is accepted), but it looks for fewglue/ rather than glue/."""
    source = "data_dir argument"
    if data_dir is None or str(data_dir) == "":
        data_dir, source = os.environ.get(DATA_ENV) or None, f"${DATA_ENV}"
    if data_dir is None:
        return None
    path = Path(data_dir).expanduser().resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"FewGLUE data dir {path} (from the {source}) does not exist. Point {DATA_ENV} or "
                                f"data_dir= at the folder that contains fewglue/<task>/<split>.parquet (e.g. "
                                f"shared/data), or leave both unset to use the hub.")
    if (path / "fewglue").is_dir():
        return path
    if path.name == "fewglue":
        return path.parent
    raise FileNotFoundError(f"data dir {path} (from the {source}) has no fewglue/ subfolder; point {DATA_ENV} or "
                            f"data_dir= at the folder that contains fewglue/<task>/<split>.parquet.")


def split_path(root: Path, task, split: str) -> Path:
    if split not in SPLIT_FILES:
        raise ValueError(f"unknown FewGLUE split {split!r}; splits: {', '.join(SPLIT_FILES)}")
    return root / "fewglue" / get_fewglue_task(task).name / SPLIT_FILES[split]


def inventory(data_dir=None) -> list[dict]:
    """What the mirror holds: one row per task and split with its status ("ok" / "missing") and row count."""
    from pyarrow.parquet import ParquetFile

    root = resolve_fewglue_dir(data_dir)
    if root is None:
        raise ValueError(f"no local mirror configured (data_dir / ${DATA_ENV}); the inventory lists a mirror's files")
    rows = []
    for name in FEWGLUE_TASKS:
        for split in SPLIT_FILES:
            path = split_path(root, name, split)
            ok = path.is_file()
            rows.append({"task": name, "split": split, "status": "ok" if ok else "missing",
                         "rows": ParquetFile(path).metadata.num_rows if ok else None,
                         "file": str(path.relative_to(root))})
    return rows


def missing_splits(task, data_dir=None, splits=tuple(SPLIT_FILES)) -> list[str]:
    """The splits of `task` the configured mirror lacks ([] when the hub is used)."""
    root = resolve_fewglue_dir(data_dir)
    return [] if root is None else [s for s in splits if not split_path(root, task, s).is_file()]


def load_fewglue(task, data_dir=None, splits=("train", "validation"), strict: bool = False):
    """The FewGLUE splits of a task as a DatasetDict: "train" (the 32 examples; MultiRC: their 154 answer rows),
    "unlabeled", "validation" (= the SuperGLUE validation set, where results are reported).

    A split the mirror lacks is left out with a MissingSplitWarning (or a FileNotFoundError if strict), so a task
    whose unlabeled set is missing still loads; ask `missing_splits` or `inventory` what is there."""
    from datasets import DatasetDict, load_dataset

    task = get_fewglue_task(task)
    splits = (splits,) if isinstance(splits, str) else tuple(splits)
    for s in splits:
        if s not in SPLIT_FILES:
            raise ValueError(f"unknown FewGLUE split {s!r}; splits: {', '.join(SPLIT_FILES)}")
    root = resolve_fewglue_dir(data_dir)
    if root is None:
        return _load_from_hub(task, splits, strict)
    present = [s for s in splits if split_path(root, task, s).is_file()]
    missing = [s for s in splits if s not in present]
    if missing:
        message = (f"FewGLUE {task.name}: split(s) {', '.join(missing)} not in the mirror at {root} "
                   f"(fewglue/{task.name}/ has: {', '.join(sorted(p.stem for p in (root / 'fewglue' / task.name).glob('*.parquet'))) or 'nothing'}); "
                   f"see shared/data/MANIFEST.md for why.")
        if strict:
            raise FileNotFoundError(message)
        warnings.warn(message + " Continuing without it.", MissingSplitWarning, stacklevel=2)
    return DatasetDict({s: load_dataset("parquet", data_files={s: str(split_path(root, task, s))}, split=s)
                        for s in present})


def _load_from_hub(task: FewGlueTask, splits, strict: bool):
    from datasets import DatasetDict, load_dataset

    out, missing = {}, []
    for s in splits:
        try:
            if s == "validation":
                out[s] = load_dataset(HUB_SUPERGLUE, task.name, split="validation")
            elif s == "train":
                out[s] = load_dataset(HUB_FEWGLUE, task.name, split="train")
            else:
                missing.append(s)
        except Exception as err:  # offline, renamed, gated: say which split and why, keep going
            if strict:
                raise
            missing.append(f"{s} ({type(err).__name__}: {err})")
    if missing:
        message = f"FewGLUE {task.name}: could not get {', '.join(missing)} from the hub."
        if strict:
            raise FileNotFoundError(message)
        warnings.warn(message, MissingSplitWarning, stacklevel=3)
    return DatasetDict(out)


def question_ids(task, dataset) -> list | None:
    """MultiRC's grouping for EM: one (paragraph, question) id per answer row; None for other tasks."""
    if get_fewglue_task(task).name != "multirc":
        return None
    return [(i["paragraph"], i["question"]) for i in dataset["idx"]]


# ---------------------------------------------------------------------------------------------------------------------
# the command line: tinyattn-lab fewglue
# ---------------------------------------------------------------------------------------------------------------------

@dataclass
class FewShotArgs:
    """Training settings for the 32-example runs. Defaults follow the tiny-attention reference few-shot recipe
    (paper notes 3.2: batch size 1, lr 1e-3, weight decay 0.02, constant schedule, 20 epochs, clip 1.0), with the
    data order reshuffled every epoch (the reference's shuffle was a no-op)."""

    epochs: int = 20
    batch_size: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.02
    schedule: str = "constant"  # constant | linear | cosine
    warmup_steps: int = 0
    max_grad_norm: float = 1.0
    max_length: int = 256
    eval_batch_size: int = 64
    loss: str = "labels"  # cloze only: "labels" = PET's CE over the verbalizer tokens; "vocab" = reference's full-vocab CE
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5])


def add_parser(sub) -> None:
    """The `fewglue` subcommand (cli.build_parser calls this)."""
    d = FewShotArgs()
    p = sub.add_parser("fewglue", help="train tiny attention on FewGLUE's 32 examples, several seeds",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                       description="Train a tiny-attention adapter on the 32 FewGLUE examples of a SuperGLUE task and "
                                   "score it on the SuperGLUE validation set, once per seed (mean and spread).")
    p.add_argument("--task", help=f"FewGLUE task: {', '.join(TRAINABLE_TASKS)} (wsc, record: see --list)")
    p.add_argument("--list", action="store_true", help="show which FewGLUE files the mirror has, then exit")
    p.add_argument("--output", default="runs/fewglue-{task}", help="folder for results.json")
    p.add_argument("--model", default="minilm", help="HF encoder name or path; 'minilm' is the embedded one")
    p.add_argument("--path", choices=["auto", "cloze", "head"], default="auto",
                   help="cloze = PET-style MLM (needs a pretrained MLM head); head = classification head; "
                        "auto = cloze if the backbone has a pretrained MLM head, else head")
    p.add_argument("--data-dir", default=None, help=f"folder containing fewglue/ (default: ${DATA_ENV}, else the hub)")
    p.add_argument("--seeds", type=int, nargs="+", default=d.seeds, help="one run per seed")
    p.add_argument("--pattern-id", type=int, default=None, help="cloze pattern (default: the task's default)")
    p.add_argument("--train-mlm-head", action="store_true",
                   help="cloze: also train the MLM head's transform/bias (and ALBERT's embedding projection), "
                        "as the reference code does; default: adapter only")
    p.add_argument("--num-heads", type=int, default=1, help="adapter heads")
    p.add_argument("--head-dim", type=int, default=1, help="adapter head width")
    p.add_argument("--epochs", type=int, default=d.epochs, help="passes over the 32 examples")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="training batch size")
    p.add_argument("--lr", type=float, default=d.lr, help="AdamW learning rate")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help="AdamW weight decay")
    p.add_argument("--schedule", choices=["constant", "linear", "cosine"], default=d.schedule, help="lr schedule")
    p.add_argument("--max-length", type=int, default=d.max_length, help="truncate inputs to this many tokens")
    p.add_argument("--loss", choices=["labels", "vocab"], default=d.loss,
                   help="cloze loss: CE over the verbalizer tokens (PET) or over the whole vocabulary (reference)")
    p.add_argument("--eval-size", type=int, default=None,
                   help="score a fixed random subset of the validation set (MultiRC: of its questions)")


def run_command(args) -> int:
    """Entry point of `tinyattn-lab fewglue` (cli._run dispatches here)."""
    if args.list:
        rows = inventory(args.data_dir)
        width = max(len(r["file"]) for r in rows)
        for r in rows:
            rows_text = f"{r['rows']:>6,d} rows" if r["rows"] is not None else "   MISSING"
            print(f"{r['file']:<{width}}  {rows_text}")
        return 0
    if not args.task:
        raise ValueError("give --task (one of: " + ", ".join(TRAINABLE_TASKS) + ") or --list")
    from .cloze import run_fewglue
    from .config import TinyAttnConfig

    train_args = FewShotArgs(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                             weight_decay=args.weight_decay, schedule=args.schedule, max_length=args.max_length,
                             loss=args.loss, seeds=list(args.seeds))
    output = args.output.format(task=get_fewglue_task(args.task).name)
    result = run_fewglue(args.task, path=args.path, model_name=args.model, data_dir=args.data_dir,
                         config=TinyAttnConfig(num_heads=args.num_heads, head_dim=args.head_dim), args=train_args,
                         pattern_id=args.pattern_id, train_mlm_head=args.train_mlm_head, eval_size=args.eval_size,
                         output_dir=output)
    summary = result["summary"]
    print(f"{result['task']} ({result['path']} path, {result['model']}), {len(result['runs'])} seeds, "
          f"{result['eval_examples']} validation rows:")
    for name, stats in summary.items():
        print(f"  {name:<10} mean {100 * stats['mean']:.1f}  std {100 * stats['std']:.1f}  "
              f"min {100 * stats['min']:.1f}  max {100 * stats['max']:.1f}")
    print(json.dumps({"majority_baseline": result["majority_baseline"]}))
    print(f"wrote {output}/results.json")
    return 0
