"""PET's patterns and verbalizers for FewGLUE (timoschick/pet pet/pvp.py), plus the tiny-attention reference pattern.

A pattern rewrites an example as a cloze question: two lists of parts (text a, text b), each part a pattern word (str),
example text (Text; `shortenable` text is what truncation cuts) or mask tokens (Mask). A verbalizer gives the word
predicted at the mask for each label ("Yes"/"No"/"Maybe"). COPA has no verbalizer: its answers are inserted whole
(copa_choices) and scored over several masks. cloze_encoder.py turns a filled pattern into input ids.
Paper notes 3.2; notebook: notebooks/08_fewglue.ipynb.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from .tasks import get_fewglue_task


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


REFERENCE_PATTERN = 5  # RTE/CB: the tiny-attention code's own pattern, premise?[MASK]. hypothesis


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
    """A readable string of a filled pattern (for display; the model input is built part by part, see
    cloze_encoder.ClozeEncoder)."""
    def one(parts):
        return " ".join(p.text if isinstance(p, Text) else " ".join([mask_token] * p.count) if isinstance(p, Mask)
                        else p.strip() for p in parts if not (isinstance(p, str) and not p.strip()))
    a, b = one(parts_a), one(parts_b)
    return f"{a} || {b}" if b else a
