"""Cloze encoding: a filled pattern (patterns.py) as input ids with its mask positions (ClozeEncoder, with PET's
truncation), and the check that each verbalizer word is exactly one real token (`verbalizer_token_ids`).
`reference_lookup` keeps the tiny-attention reference code's look-up, which misses SentencePiece's word-start marker
(paper notes 3.2). Notebook: notebooks/08_fewglue.ipynb.
"""

from __future__ import annotations

from .patterns import Mask, Text, verbalizer


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
