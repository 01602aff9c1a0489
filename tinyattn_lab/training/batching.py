"""Batches of similar length: shuffled length-grouped training batches and length-sorted evaluation.

With dynamic padding (data/glue.make_collator) a batch costs as much as its longest row times its size, so batches of
rows of similar length waste less compute on padding. Training keeps its randomness the way transformers'
`group_by_length` does: a seeded permutation is cut into megabatches of `megabatch` x batch_size rows, each megabatch is
sorted by length and cut into batches, and the order of all batches is shuffled. Evaluation needs no randomness: the
rows are sorted by length (GLUE's metrics do not depend on the order of the rows). Paper notes 3.1 (the training
recipe; this changes the cost, not the recipe). Notebook: 03_train_on_glue.
"""

from __future__ import annotations

import torch

MEGABATCH = 50  # batches per megabatch, as in transformers' LengthGroupedSampler


def row_lengths(dataset) -> list[int]:
    """Token count of every row (the length of its input_ids, before padding)."""
    if "input_ids" not in dataset.column_names:
        raise ValueError(f"Length grouping needs an input_ids column; the dataset has {dataset.column_names}. "
                         "Encode it first (data.glue.encode) or pass group_by_length=False.")
    return [len(ids) for ids in dataset["input_ids"]]


def grouped_batches(lengths: list[int], batch_size: int, generator: torch.Generator,
                    megabatch: int = MEGABATCH) -> list[list[int]]:
    """Every row index exactly once, in batches of similar length; the order is fixed by `generator`'s state.

    ceil(len / batch_size) batches, all full but one (the last batch of the last megabatch, shuffled somewhere).
    """
    order = torch.randperm(len(lengths), generator=generator).tolist()
    size = megabatch * batch_size  # a multiple of batch_size, so only the last megabatch leaves a short batch
    batches = []
    for start in range(0, len(order), size):
        group = sorted(order[start:start + size], key=lambda i: -lengths[i])  # stable: ties keep the random order
        batches += [group[i:i + batch_size] for i in range(0, len(group), batch_size)]
    shuffle = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffle]


def sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Row indices sorted by length (longest first, so an out-of-memory shows at once), cut into batches."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
