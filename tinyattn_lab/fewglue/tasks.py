"""The FewGLUE task table, and the published few-shot numbers (GPT-3, PET, iPET) to set beside ours.

One FewGlueTask per SuperGLUE task: its kind (how an answer is scored), its label names in the ids of the Hugging Face
`super_glue` dataset, how many PET patterns it has and its official metrics (metrics.py). Only the "labels" and
"choices" tasks are trained; WSC and ReCoRD get loading and metrics only (their `note` says why).
Paper notes 3.2 and 4.3; notebook: notebooks/08_fewglue.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data.glue import lookup_task
from .metrics import METRICS


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
    return lookup_task(name, FEWGLUE_TASKS, "FewGLUE")
