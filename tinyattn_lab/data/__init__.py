"""Data: GLUE tasks from a local mirror or the hub, tasks from your own files, tokenisation and batching, and the official metrics.

It may import the core; training, baselines and fewglue import it, never the reverse.
    glue.py      the nine GLUE tasks, the data-dir rule (argument, else $TINYATTN_DATA), loading, encoding, collating
    files.py     your own data: a FileTask from a CSV/TSV/JSON/JSONL/Parquet file, its labels, held-out split, record
    metrics.py   GLUE's metrics (and macro-F1), predictions from logits, the trivial (majority / mean) baseline
"""
