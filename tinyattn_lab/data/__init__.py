"""Data: GLUE tasks from a local mirror or the hub, tokenisation and batching, and the official metrics.

It may import the core; training, baselines and fewglue import it, never the reverse.
    glue.py      the nine GLUE tasks, the data-dir rule (argument, else $TINYATTN_DATA), loading, encoding, collating
    metrics.py   GLUE's metrics, predictions from logits, the trivial (majority / mean) baseline
"""
