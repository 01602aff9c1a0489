"""FewGLUE: loading (with the mirror's gaps), patterns and verbalizers (one real token each), the official SuperGLUE
metrics against hand-computed values, and the cloze path on tiny random masked LMs (a short run lowers the loss).

Everything runs offline on tiny random models; the only real assets are the mirror (skipped without it) and the
embedded MiniLM's WordPiece tokenizer. ALBERT's SentencePiece vocabulary is not available offline, so the
word-start-marker problem of the reference code is shown on a small SentencePiece-style (Unigram + Metaspace)
vocabulary built in place.
"""

from __future__ import annotations

import json
import string
import warnings

import numpy as np
import pytest
import torch

from tinyattn_lab.fewglue.cloze import ClozeModel, NoMLMHeadError, cloze_features, load_masked_lm
from tinyattn_lab.fewglue.cloze_encoder import ClozeEncoder, VerbalizerError, reference_lookup, verbalizer_token_ids
from tinyattn_lab.config import TinyAttnConfig
from tinyattn_lab.fewglue.data import (MissingSplitWarning, eval_subset, inventory, load_fewglue, missing_splits,
                                       question_ids, resolve_fewglue_dir)
from tinyattn_lab.fewglue.head import HeadModel, head_features, text_pairs
from tinyattn_lab.fewglue.run import majority_baseline, run_fewglue
from tinyattn_lab.fewglue.tasks import FEWGLUE_TASKS, TRAINABLE_TASKS, get_fewglue_task
from tinyattn_lab.fewglue.train import FewShotArgs, collate, few_shot_loss, predict_scores, train_few_shot
from tinyattn_lab.fewglue.patterns import MASK, REFERENCE_PATTERN, Text, copa_choices, pattern, verbalizer
from tinyattn_lab.fewglue.metrics import (fewglue_metrics, multirc_metrics, normalize_answer, record_metrics,
                                          task_score, token_f1)

from conftest import tiny_config

VAL_ROWS = {"boolq": 3270, "cb": 56, "copa": 100, "multirc": 4848, "rte": 277, "wic": 638, "wsc": 104}
MIRROR_GAPS = {("boolq", "unlabeled"), ("cb", "unlabeled"), ("rte", "unlabeled"), ("record", "unlabeled"),
               ("record", "validation")}  # shared/data/MANIFEST.md


@pytest.fixture(scope="module")
def wordpiece(minilm_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="module")
def sentencepiece():
    """An ALBERT tokenizer (Unigram + Metaspace, lower-casing) over a tiny vocabulary that, like ALBERT's, holds
    the verbalizer words only with the word-start marker: "▁yes", not "yes"."""
    from transformers import AlbertTokenizer

    words = ["▁yes", "▁no", "▁true", "▁false", "▁the", "▁cat", "▁sat", "▁mat", "▁on", "▁?", "?", "▁.", ".", "▁,", ","]
    chars = ["▁", *string.ascii_lowercase, *("▁" + c for c in string.ascii_lowercase)]
    vocab = ([(p, 0.0) for p in ("<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]")]
             + [(w, -2.0) for w in words] + [(c, -8.0) for c in chars])
    return AlbertTokenizer(vocab=vocab)


@pytest.fixture(scope="module")
def tiny_mlm(wordpiece):
    """A 2-layer random BERT masked LM over MiniLM's WordPiece vocabulary."""
    from transformers import BertForMaskedLM

    torch.manual_seed(0)
    config = tiny_config("bert")
    config.vocab_size, config.max_position_embeddings = len(wordpiece), 128
    return BertForMaskedLM(config).eval()


@pytest.fixture(scope="module")
def rte(mirror_dir):
    return load_fewglue("rte", mirror_dir)


def _example(task):
    return {
        "rte": {"premise": "The cat sat on the mat.", "hypothesis": "A cat sat.", "label": 0, "idx": 0},
        "cb": {"premise": "The cat sat on the mat.", "hypothesis": "A cat sat.", "label": 2, "idx": 0},
        "boolq": {"passage": "The cat sat on the mat.", "question": "did the cat sit", "label": 1, "idx": 0},
        "wic": {"word": "sit", "sentence1": "Sit down.", "sentence2": "They sit on boards.", "start1": 0, "end1": 3,
                "start2": 5, "end2": 8, "label": 0, "idx": 0},
        "multirc": {"paragraph": "The cat sat on the mat.", "question": "Where did the cat sit?", "answer": "the mat",
                    "label": 1, "idx": {"paragraph": 0, "question": 0, "answer": 0}},
        "copa": {"premise": "The cat sat on the mat.", "choice1": "The mat was soft.", "choice2": "It rained.",
                 "question": "cause", "label": 0, "idx": 0},
    }[task]


# ------------------------------------------------------------------------------------------------ task table
def test_task_table():
    assert set(FEWGLUE_TASKS) == {"boolq", "cb", "copa", "multirc", "record", "rte", "wic", "wsc"}
    assert set(TRAINABLE_TASKS) == {"boolq", "cb", "copa", "multirc", "rte", "wic"}
    assert FEWGLUE_TASKS["cb"].metrics == ("accuracy", "f1_macro")
    assert FEWGLUE_TASKS["multirc"].metrics == ("f1a", "em") and FEWGLUE_TASKS["record"].metrics == ("f1", "em")
    for name in ("wsc", "record"):  # loading and metrics only, and they say why
        assert not FEWGLUE_TASKS[name].trainable and FEWGLUE_TASKS[name].note
    assert get_fewglue_task("Bool-Q") is FEWGLUE_TASKS["boolq"]
    with pytest.raises(ValueError, match="unknown FewGLUE task"):
        get_fewglue_task("sst2")


# ------------------------------------------------------------------------------------------------ loading
def test_resolve_fewglue_dir(mirror_dir, monkeypatch, tmp_path):
    monkeypatch.delenv("TINYATTN_DATA", raising=False)
    assert resolve_fewglue_dir(None) is None  # the hub
    assert resolve_fewglue_dir(mirror_dir) == mirror_dir.resolve()
    assert resolve_fewglue_dir(mirror_dir / "fewglue") == mirror_dir.resolve()  # the fewglue/ folder itself
    monkeypatch.setenv("TINYATTN_DATA", str(mirror_dir))
    assert resolve_fewglue_dir(None) == mirror_dir.resolve()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_fewglue_dir(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no fewglue/ subfolder"):
        resolve_fewglue_dir(tmp_path)


def test_mirror_inventory_and_gaps(mirror_dir):
    rows = {(r["task"], r["split"]): r for r in inventory(mirror_dir)}
    assert {k for k, r in rows.items() if r["status"] == "missing"} == MIRROR_GAPS
    for task in FEWGLUE_TASKS:
        assert rows[(task, "train")]["rows"] == (154 if task == "multirc" else 32)
    for task, n in VAL_ROWS.items():
        assert rows[(task, "validation")]["rows"] == n
    assert missing_splits("record", mirror_dir) == ["unlabeled", "validation"]
    assert missing_splits("copa", mirror_dir) == []


@pytest.mark.parametrize("task", sorted(FEWGLUE_TASKS))
def test_load_every_task(mirror_dir, task):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_fewglue(task, mirror_dir, splits=("train", "unlabeled", "validation"))
    expected_missing = {s for t, s in MIRROR_GAPS if t == task}
    assert set(data) == {"train", "unlabeled", "validation"} - expected_missing
    messages = [str(w.message) for w in caught if issubclass(w.category, MissingSplitWarning)]
    if expected_missing:  # said clearly, once, naming the missing splits and what is there
        assert len(messages) == 1 and all(s in messages[0] for s in expected_missing)
        assert "MANIFEST.md" in messages[0]
    else:
        assert not messages
    t = FEWGLUE_TASKS[task]
    if "label" in data["train"].column_names:
        assert tuple(data["train"].features["label"].names) == t.label_names
        assert min(data["train"]["label"]) >= 0
    if "unlabeled" in data:
        assert set(data["unlabeled"]["label"]) == {-1}
    if task == "multirc":
        questions = {(i["paragraph"], i["question"]) for i in data["train"]["idx"]}
        assert len(questions) == 32 and len(data["train"]) == 154
    if task == "wsc":
        assert set(data["train"]["label"]) == {1}  # why WSC is not trained here (see its note)


def test_load_strict_and_bad_split(mirror_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="validation"):
        load_fewglue("record", mirror_dir, splits=("validation",), strict=True)
    with pytest.raises(ValueError, match="unknown FewGLUE split"):
        load_fewglue("rte", mirror_dir, splits=("test",))
    # a mirror without a validation set: training refuses before loading any model, and says what is missing
    (tmp_path / "fewglue" / "rte").mkdir(parents=True)
    (tmp_path / "fewglue" / "rte" / "train.parquet").symlink_to(mirror_dir / "fewglue" / "rte" / "train.parquet")
    with pytest.raises(FileNotFoundError, match="no validation set"):
        run_fewglue("rte", data_dir=tmp_path, progress=False)


def test_run_refuses_untrainable_tasks(mirror_dir):
    for task in ("record", "wsc"):
        with pytest.raises(NotImplementedError):
            run_fewglue(task, data_dir=mirror_dir)


# ------------------------------------------------------------------------------------------------ verbalizers
@pytest.mark.parametrize("task", [t for t in TRAINABLE_TASKS if FEWGLUE_TASKS[t].kind == "labels"])
def test_every_verbalizer_word_is_one_real_token(wordpiece, task):
    t = FEWGLUE_TASKS[task]
    special = set(wordpiece.all_special_ids)
    for pid in range(t.num_patterns):
        words = verbalizer(task, pid)
        assert len(words) == t.num_labels
        ids = verbalizer_token_ids(wordpiece, task, pid)
        assert len(set(ids)) == t.num_labels, f"{task} pattern {pid}: two labels share a token"
        for word, i in zip(words, ids):
            assert i not in special and i != wordpiece.unk_token_id
            assert wordpiece.convert_ids_to_tokens(i) == word.lower()  # uncased WordPiece: the word itself


@pytest.mark.parametrize("task", TRAINABLE_TASKS)
def test_patterns_encode_with_masks_in_place(wordpiece, task):
    encoder = ClozeEncoder(wordpiece, max_length=64)
    t = FEWGLUE_TASKS[task]
    example = _example(task)
    for pid in range(t.num_patterns):
        if t.kind == "choices":
            lengths = [len(encoder.encode_text(c)) for c in copa_choices(example)]
            enc = encoder.encode(*pattern(task, example, pid, num_masks=max(lengths)))
            assert len(enc["mask_positions"]) == max(lengths)
        else:
            enc = encoder.encode(*pattern(task, example, pid))
            assert len(enc["mask_positions"]) == 1
        ids = enc["input_ids"]
        assert [ids[i] for i in enc["mask_positions"]] == [wordpiece.mask_token_id] * len(enc["mask_positions"])
        assert ids.count(wordpiece.mask_token_id) == len(enc["mask_positions"])
        assert ids[0] == wordpiece.cls_token_id and ids[-1] == wordpiece.sep_token_id
        assert len(enc["token_type_ids"]) == len(ids) and len(ids) <= 64


def test_encoding_matches_the_tokenizer_on_plain_text(wordpiece):
    """With no mask and no truncation, part-by-part encoding gives what the tokenizer gives for the joined text."""
    encoder = ClozeEncoder(wordpiece)
    enc = encoder.encode([Text("The cat sat"), "on the mat ."], ["Did it ?"])
    reference = wordpiece("The cat sat on the mat .", "Did it ?")
    assert enc["input_ids"] == reference["input_ids"]
    assert enc["token_type_ids"] == reference["token_type_ids"]


def test_truncation_cuts_the_premise_keeps_mask_and_hypothesis(wordpiece):
    encoder = ClozeEncoder(wordpiece, max_length=24)
    premise = " ".join(["word"] * 200)
    example = {"premise": premise, "hypothesis": "The cat sat on the mat.", "label": 0}
    for pid in (0, 1, 4, REFERENCE_PATTERN):
        enc = encoder.encode(*pattern("rte", example, pid))
        text = wordpiece.decode(enc["input_ids"])
        assert len(enc["input_ids"]) == 24 and len(enc["mask_positions"]) == 1
        assert "the cat sat on the mat" in text, f"pattern {pid} lost the hypothesis: {text}"
    with pytest.raises(ValueError, match="exceed max_length"):
        ClozeEncoder(wordpiece, max_length=8).encode(["a b c d e f g h i j", MASK])


def test_verbalizer_check_rejects_unknown_and_multi_token_words(wordpiece, sentencepiece):
    encoder = ClozeEncoder(wordpiece)
    with pytest.raises(VerbalizerError, match="tokens"):
        encoder.word_id("unbelievableness")  # several word pieces
    with pytest.raises(VerbalizerError, match="special/unknown"):
        encoder.word_id("\u2603")  # a snowman: [UNK] in MiniLM's vocabulary
    sp = ClozeEncoder(sentencepiece)
    with pytest.raises(VerbalizerError, match="tokens"):
        sp.word_id("Maybe")  # not in the toy vocabulary: spelled out in pieces
    assert sentencepiece.convert_ids_to_tokens(sp.word_id("Yes")) == "▁yes"


def test_sentencepiece_word_start_marker_bug_of_the_reference(sentencepiece):
    """paper notes 3.2: the reference evaluates with the id of the bare string "yes" (no "▁" marker) and trains on
    the id of the label word tokenized in the filled text "premise?yes. hypothesis"."""
    unk = sentencepiece.unk_token_id
    # evaluation look-up: every label is <unk>, so every logit ties and every example counts as correct
    assert [reference_lookup(sentencepiece, w) for w in ("yes", "no")] == [unk, unk]
    # our look-up: the word as a word of its own, with the marker, one real token each
    ids = verbalizer_token_ids(sentencepiece, "rte", 0)
    assert sentencepiece.convert_ids_to_tokens(ids) == ["▁yes", "▁no"] and unk not in ids
    # training target of the reference: glued to "?" the word loses its marker and splits into pieces, so the label
    # is no longer one token at the mask's position
    masked = sentencepiece.tokenize("the cat sat?[MASK]. the mat")
    filled = sentencepiece.tokenize("the cat sat?yes. the mat")
    assert masked.count("[MASK]") == 1 and "▁yes" not in filled and len(filled) > len(masked)
    # our encoder puts the mask at a fixed position and the verbalizer is predicted there
    encoder = ClozeEncoder(sentencepiece)
    enc = encoder.encode(*pattern("rte", {"premise": "the cat sat", "hypothesis": "the mat", "label": 0},
                                  REFERENCE_PATTERN))
    assert [enc["input_ids"][i] for i in enc["mask_positions"]] == [sentencepiece.mask_token_id]


def test_text_pairs():
    assert text_pairs("rte", _example("rte")) == [("The cat sat on the mat.", "A cat sat.")]
    assert text_pairs("wic", _example("wic"))[0] == ("sit: *Sit* down.", "They *sit* on boards.")
    assert len(text_pairs("copa", _example("copa"))) == 2
    with pytest.raises(NotImplementedError):
        text_pairs("wsc", {})


# ------------------------------------------------------------------------------------------------ metrics
def test_accuracy_and_cb_macro_f1_by_hand():
    labels = [0, 0, 0, 1, 1, 2]
    preds = [0, 0, 1, 1, 2, 2]
    # per class: 0: P 2/2 R 2/3 F1 0.8; 1: P 1/2 R 1/2 F1 0.5; 2: P 1/2 R 1/1 F1 2/3
    got = fewglue_metrics("cb", preds, labels)
    assert got["accuracy"] == pytest.approx(4 / 6)
    assert got["f1_macro"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert task_score("cb", got) == pytest.approx((4 / 6 + (0.8 + 0.5 + 2 / 3) / 3) / 2)
    # a class that is never predicted and never present still counts (as 0) in CB's three-way average
    assert fewglue_metrics("cb", [0, 1], [0, 1])["f1_macro"] == pytest.approx(2 / 3)
    assert fewglue_metrics("rte", np.array([1, 0, 1]), torch.tensor([1, 1, 1])) == {"accuracy": pytest.approx(2 / 3)}


def test_multirc_f1a_and_em_by_hand():
    # question A: 3 options all right; question B: 2 options, one wrong; question C: 1 option, right
    questions = ["A", "A", "A", "B", "B", "C"]
    labels = [1, 0, 1, 1, 0, 0]
    preds = [1, 0, 1, 0, 0, 1]
    # F1a over options: TP 2, FP 1 (C), FN 1 (B) -> P 2/3, R 2/3, F1 2/3; EM: only A -> 1/3
    got = multirc_metrics(preds, labels, questions)
    assert got == {"f1a": pytest.approx(2 / 3), "em": pytest.approx(1 / 3)}
    assert fewglue_metrics("multirc", preds, labels, questions) == got
    with pytest.raises(ValueError, match="question"):
        fewglue_metrics("multirc", preds, labels)


def test_record_f1_and_em_by_hand():
    assert normalize_answer("The  Olimpija, Ljubljana!") == "olimpija ljubljana"
    # "Diego Costa" vs gold "Costa": P 1/2, R 1/1 -> F1 2/3, EM 0; second query exact after normalisation
    got = record_metrics(["Diego Costa", "the Blues"], [["Costa", "Chelsea"], ["Blues"]])
    assert got["f1"] == pytest.approx((2 / 3 + 1.0) / 2)
    assert got["em"] == pytest.approx(0.5)
    assert token_f1("a", "the") == 0.0  # both normalise to nothing shared
    with pytest.raises(ValueError):
        fewglue_metrics("record", [0], [0])


def test_metrics_refuse_bad_input():
    with pytest.raises(ValueError, match="-1"):
        fewglue_metrics("rte", [0, 1], [0, -1])
    with pytest.raises(ValueError, match="match"):
        fewglue_metrics("boolq", [0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="unknown"):
        fewglue_metrics("sst2", [0], [0])


# ------------------------------------------------------------------------------------------------ model support
def test_tinyattn_model_head_modules_option(tiny_mlm):
    """By default TinyAttnModel would copy a masked LM's head per adapter and train it, tied vocabulary included;
    head_modules=[] keeps it frozen and shared (the cloze path)."""
    import copy

    from tinyattn_lab import TinyAttnModel

    default = TinyAttnModel(copy.deepcopy(tiny_mlm), TinyAttnConfig())
    frozen_head = TinyAttnModel(copy.deepcopy(tiny_mlm), TinyAttnConfig(), head_modules=[])
    trainable = lambda m: sum(p.numel() for p in m.parameters() if p.requires_grad)  # noqa: E731
    adapter = sum(p.numel() for layer in frozen_head.tiny_layers for p in layer.parameters())
    assert trainable(frozen_head) == adapter == 2 * (3 * 16 + 4 * 16 + 3)
    assert trainable(default) > adapter + tiny_mlm.config.vocab_size * 16  # the decoder would train
    assert not any(p.requires_grad for p in frozen_head.model.cls.parameters())


def test_cloze_scores_are_mlm_log_probs_at_the_mask(tiny_mlm, wordpiece):
    model = ClozeModel(tiny_mlm)
    encoder = ClozeEncoder(wordpiece, 64)
    data = [_example("rte"), {**_example("rte"), "hypothesis": "The dog barked loudly all night.", "label": 1}]
    features = cloze_features("rte", data, encoder)
    batch = collate(features, wordpiece.pad_token_id)
    with torch.no_grad():
        scores = model(**batch)
        full = tiny_mlm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                        token_type_ids=batch["token_type_ids"]).logits.log_softmax(-1)
    ids = verbalizer_token_ids(wordpiece, "rte")
    for row, f in enumerate(features):
        expected = full[row, f["mask_positions"][0], ids]
        torch.testing.assert_close(scores[row], expected, atol=1e-5, rtol=1e-5)
    # PET's loss: cross-entropy over the verbalizer logits = cross-entropy over these log-probabilities
    logits = torch.stack([tiny_mlm(**{k: batch[k][r:r + 1] for k in ("input_ids", "attention_mask", "token_type_ids")}
                                   ).logits[0, f["mask_positions"][0], ids] for r, f in enumerate(features)])
    torch.testing.assert_close(few_shot_loss(scores, batch["labels"]),
                               torch.nn.functional.cross_entropy(logits, batch["labels"]), atol=1e-5, rtol=1e-5)


def test_copa_multi_mask_scores(tiny_mlm, wordpiece):
    model = ClozeModel(tiny_mlm)
    encoder = ClozeEncoder(wordpiece, 64)
    features = cloze_features("copa", [_example("copa")], encoder)
    f = features[0]
    assert [len(c) for c in f["candidates"]] == [len(encoder.encode_text(c)) for c in
                                                 copa_choices(_example("copa"))]
    batch = collate(features, wordpiece.pad_token_id)
    with torch.no_grad():
        scores = model(**batch)[0]
        full = tiny_mlm(**{k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}).logits[0]
    log_probs = full.log_softmax(-1)
    for c, ids in enumerate(f["candidates"]):  # sum of the answer's token log-probs at the first len(answer) masks
        expected = sum(log_probs[p, t] for p, t in zip(f["mask_positions"], ids))
        assert scores[c].item() == pytest.approx(expected.item(), abs=1e-4)


def test_short_cloze_training_lowers_the_loss(tiny_mlm, wordpiece, rte):
    import copy

    mlm = copy.deepcopy(tiny_mlm)
    model = ClozeModel(mlm)
    features = cloze_features("rte", rte["train"].select(range(8)), ClozeEncoder(wordpiece, 64))
    torch.manual_seed(0)
    model.tiny.add_adapter("a", TinyAttnConfig())
    model.activate("a")
    frozen = {n: p.detach().clone() for n, p in mlm.named_parameters() if "tinyattn" not in n}
    before = few_shot_loss(torch.tensor(predict_scores(model, features, wordpiece.pad_token_id)),
                           torch.tensor([f["label"] for f in features])).item()
    # 10 full-batch steps; a tiny random MLM (hidden 16) moves slowly, hence the large learning rate. Measured on
    # three random MLMs: 0.69 -> 0.58-0.61 (dropout off for both measurements, so they are deterministic)
    history = train_few_shot(model, features, FewShotArgs(epochs=10, batch_size=8, lr=1e-1, weight_decay=0.0),
                             seed=0, pad_id=wordpiece.pad_token_id)
    after = few_shot_loss(torch.tensor(predict_scores(model, features, wordpiece.pad_token_id)),
                          torch.tensor([f["label"] for f in features])).item()
    assert after < before - 0.03, (before, after, history["epoch_loss"])
    assert np.mean(history["epoch_loss"][-3:]) < history["epoch_loss"][0]
    for n, p in mlm.named_parameters():  # only the adapter moved
        if n in frozen:
            assert torch.equal(p, frozen[n]), n


def test_reference_trainable_set_on_albert(sentencepiece):
    """train_mlm_head=True is the reference code's trainable set: adapter + MLM head transform and bias + ALBERT's
    embedding projection; the decoder weight (tied to the input embeddings) stays frozen."""
    from transformers import AlbertForMaskedLM

    config = tiny_config("albert")
    config.vocab_size = len(sentencepiece)
    torch.manual_seed(0)
    mlm = AlbertForMaskedLM(config).eval()
    model = ClozeModel(mlm, train_mlm_head=True)
    model.tiny.add_adapter("a", TinyAttnConfig())
    model.activate("a")
    trainable = {n for n, p in mlm.named_parameters() if p.requires_grad}
    assert any("tinyattn" in n for n in trainable)
    assert {"predictions.dense.weight", "predictions.LayerNorm.weight", "predictions.bias",
            "albert.encoder.embedding_hidden_mapping_in.weight"} <= trainable
    assert not mlm.get_input_embeddings().weight.requires_grad
    d, e = config.hidden_size, config.embedding_size
    adapter = 3 * d + 4 * d + 3  # ALBERT shares one layer: one adapter
    extra = (d * e + e) + 2 * e + config.vocab_size + (e * d + d)  # dense, LayerNorm, output bias, projection
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == adapter + extra
    model.train_mlm_head = False
    model.activate("a")
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == adapter


def test_embedded_minilm_has_no_mlm_head(minilm_path):
    from tinyattn_lab.fewglue.cloze import has_mlm_head

    assert not has_mlm_head("minilm")
    with pytest.raises(NoMLMHeadError, match="--path head"):
        load_masked_lm("minilm")


# ------------------------------------------------------------------------------------------------ whole runs
def test_run_fewglue_cloze_on_a_tiny_mlm(mirror_dir, tiny_mlm, wordpiece, tmp_path):
    import copy

    args = FewShotArgs(epochs=1, batch_size=8, lr=1e-2, max_length=64, seeds=[1, 2])
    result = run_fewglue("cb", data_dir=mirror_dir, args=args, backbone=(copy.deepcopy(tiny_mlm), wordpiece),
                         eval_size=12, output_dir=tmp_path, progress=False)
    assert result["path"] == "cloze" and result["verbalizer"] == ["Yes", "No", "Maybe"]
    assert [r["seed"] for r in result["runs"]] == [1, 2] and result["eval_examples"] == 12
    assert set(result["summary"]) == {"accuracy", "f1_macro", "score"}
    assert result["zero_shot"] is not None and result["parameters"]["trainable"] == result["parameters"]["adapter"]
    assert result["selection"].startswith("none")
    assert json.loads((tmp_path / "results.json").read_text())["task"] == "cb"


def test_run_fewglue_head_path_and_multirc_subset(mirror_dir, wordpiece):
    from transformers import AutoModelForSequenceClassification

    config = tiny_config("bert", num_labels=2)
    config.vocab_size, config.max_position_embeddings = len(wordpiece), 512
    torch.manual_seed(0)
    backbone = AutoModelForSequenceClassification.from_config(config).eval()
    args = FewShotArgs(epochs=1, batch_size=32, max_length=64, seeds=[3])
    result = run_fewglue("multirc", data_dir=mirror_dir, args=args, backbone=(backbone, wordpiece), eval_size=5,
                         progress=False)
    assert result["path"] == "head" and result["zero_shot"] is None
    assert result["eval_subset"]["unit"] == "questions" and result["train_examples"] == 154
    assert set(result["summary"]) == {"f1a", "em", "score"}
    assert result["tinyattn"]["linear_head"] is True and result["parameters"]["head"] == 2 * 16 + 2


def test_head_path_copa_scores_each_answer(wordpiece):
    from transformers import AutoModelForSequenceClassification

    config = tiny_config("bert", num_labels=1)
    config.vocab_size = len(wordpiece)
    torch.manual_seed(0)
    model = HeadModel(AutoModelForSequenceClassification.from_config(config).eval())
    model.tiny.add_adapter("a", TinyAttnConfig(linear_head=True))
    model.activate("a")
    features = head_features("copa", [_example("copa"), {**_example("copa"), "label": 1}], wordpiece, 64)
    batch = collate(features, wordpiece.pad_token_id)
    assert batch["input_ids"].shape[0] == 4 and batch["num_choices"] == 2
    assert model(**batch).shape == (2, 2)


def test_majority_baseline_and_eval_subset(mirror_dir):
    data = load_fewglue("multirc", mirror_dir)
    sub = eval_subset("multirc", data["validation"], 10)
    questions = question_ids("multirc", sub)
    assert len(set(questions)) == 10  # whole questions, so EM stays defined
    assert eval_subset("multirc", data["validation"], 10)["idx"] == sub["idx"]  # fixed
    base = majority_baseline("multirc", data["train"], sub, questions)
    assert base["label"] == "False" and base["f1a"] == 0.0


def test_cli_lists_the_mirror(mirror_dir, capsys):
    from tinyattn_lab.cli import main

    assert main(["fewglue", "--list", "--data-dir", str(mirror_dir)]) == 0
    out = capsys.readouterr().out
    assert "fewglue/record/val.parquet" in out and "MISSING" in out and "fewglue/rte/val.parquet" in out
    assert main(["fewglue", "--data-dir", str(mirror_dir)]) == 2  # no --task: a clear error, not a traceback
    assert "--task" in capsys.readouterr().err


def test_fewglue_cli_options_documented():
    import argparse

    from tinyattn_lab.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["fewglue"]
    text = " ".join(sub.format_help().split())
    options = [a for a in sub._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]
    assert {"--task", "--list", "--seeds", "--path", "--data-dir", "--train-mlm-head", "--eval-size"} <= {
        o for a in options for o in a.option_strings}
    for action in options:
        assert action.help and " ".join(action.help.split()[:3]) in text, action.option_strings
