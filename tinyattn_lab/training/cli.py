"""The `train`, `evaluate`, `predict` and `count` subcommands of tinyattn-lab (cli.py adds and dispatches them).

    tinyattn-lab train --task sst2 --num-heads 4 --output runs/sst2-h4
    tinyattn-lab train --train-file reviews.csv --text-column review --label-column sentiment --output runs/mine
    tinyattn-lab evaluate runs/sst2-h4/adapter
    tinyattn-lab predict runs/mine/adapter "A wonderful film." "Dull and far too long."
    tinyattn-lab count                       # the paper's 0.05% of RoBERTa-large, from its config alone
"""

from __future__ import annotations

import argparse
import json

from ..backbones import DEFAULT_MODEL
from ..config import TinyAttnConfig
from ..data.glue import DATA_ENV, GLUE_TASKS
from .loop import TrainArgs
from .options import add_dataclass_options, dataclass_from_options

_DATA_HELP = f"folder of a local GLUE mirror in the HF layout (default: ${DATA_ENV}, else the hub)"


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train an adapter on a GLUE task or on your own data file",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.set_defaults(run=run_train)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--task", help=f"GLUE task: {', '.join(GLUE_TASKS)}")
    what.add_argument("--train-file", help="your own labelled texts: .csv, .tsv, .json, .jsonl or .parquet")
    p.add_argument("--output", required=True, help="run folder: metrics.json, adapter/, checkpoint/ (resumed if present)")
    p.add_argument("--model", default=DEFAULT_MODEL, help="HF encoder name or path; 'minilm' is the embedded one")
    p.add_argument("--data-dir", default=None, help=_DATA_HELP)
    own = p.add_argument_group("your own data (with --train-file)")
    own.add_argument("--validation-file", default=None, help="validation rows, same columns (default: hold out)")
    own.add_argument("--text-column", default=None, help="column with the text (default: 'text')")
    own.add_argument("--text-pair-column", default=None, help="column with a second text, for pairs")
    own.add_argument("--label-column", default=None, help="column with the label (default: 'label')")
    own.add_argument("--regression", action="store_const", const=True, default=None,
                     help="float labels are a regression target (inferred when some label has a fraction)")
    own.add_argument("--holdout", type=float, default=None,
                     help="without --validation-file: share (< 1) or number of rows held out (default: 0.1)")
    add_dataclass_options(p.add_argument_group("adapter (TinyAttnConfig)"), TinyAttnConfig)
    train = p.add_argument_group("training (TrainArgs)")
    add_dataclass_options(train, TrainArgs, skip=("progress",))
    train.add_argument("--no-progress", action="store_true", help="no progress bar (one line per evaluation remains)")
    data = p.add_argument_group("data")
    data.add_argument("--train-size", type=int, default=None, help="random training subset of this size (default: all)")
    data.add_argument("--eval-size", type=int, default=None, help="random dev subset of this size (default: all)")
    data.add_argument("--max-length", type=int, default=128, help="truncate inputs to this many tokens")


_OWN_DATA = ("validation_file", "text_column", "text_pair_column", "label_column", "regression", "holdout")


def own_data_task(args):
    """The FileTask of --train-file and its options (read and checked now), or None for a --task run."""
    given = {k: getattr(args, k) for k in _OWN_DATA if getattr(args, k) is not None}
    if args.task is not None:
        if given:
            raise ValueError(f"--{next(iter(given)).replace('_', '-')} goes with --train-file, not --task.")
        return None
    from ..data.files import file_task

    return file_task(args.train_file, **given)


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="score a saved adapter on its task's dev set")
    p.set_defaults(run=run_evaluate)
    p.add_argument("adapter", help="folder with adapter_config.json + adapter_model.safetensors")
    p.add_argument("--data-dir", default=None, help=_DATA_HELP)
    p.add_argument("--split", default=None, help="split to score (default: the task's dev split(s))")
    p.add_argument("--eval-size", type=int, default=None, help="random subset of this size (default: all)")
    p.add_argument("--model", default=None, help="backbone (default: the one recorded in the adapter)")
    p.add_argument("--file", default=None, help="score all rows of this file (adapters trained on your own data)")


def _add_predict(sub) -> None:
    p = sub.add_parser("predict", help="label your own sentences with a saved adapter (one JSON line each)")
    p.set_defaults(run=run_predict)
    p.add_argument("adapter", help="folder with adapter_config.json + adapter_model.safetensors")
    p.add_argument("texts", nargs="*", help="sentences to label")
    p.add_argument("--file", default=None, help="one text per line (.txt), or a table with the training columns")
    p.add_argument("--model", default=None, help="backbone (default: the one recorded in the adapter)")


def _add_count(sub) -> None:
    p = sub.add_parser("count", help="trainable share of RoBERTa-large with tiny attention, from its config alone")
    p.set_defaults(run=run_count)
    p.add_argument("--num-heads", type=int, default=1, help="attention heads per adapter")
    p.add_argument("--head-dim", type=int, default=1, help="width of each head")


def add_parsers(sub) -> None:
    _add_train(sub)
    _add_evaluate(sub)
    _add_predict(sub)
    _add_count(sub)


def run_train(args) -> int:
    config = dataclass_from_options(TinyAttnConfig, args)  # the dataclasses check the options
    train_args = dataclass_from_options(TrainArgs, args, progress=not args.no_progress)
    task = own_data_task(args)
    if task is not None:
        print(task.describe())
    from . import jobs  # heavy imports only once the arguments are known

    metrics = jobs.train_adapter(task or args.task, args.output, config, train_args, args.model, args.data_dir,
                                 args.train_size, args.eval_size, args.max_length)
    best = {k: v for k, v in metrics["best"].items() if k not in ("step", "epoch", "loss")}
    print(f"best dev {json.dumps(best)} at step {metrics['best']['step']}; "
          f"{metrics['train_examples_per_second']:.1f} train examples/s; wrote {args.output}/metrics.json")
    return 0


def run_evaluate(args) -> int:
    from . import jobs

    print(json.dumps(jobs.evaluate_adapter(args.adapter, args.data_dir, args.split, args.eval_size, args.model,
                                           file=args.file), indent=2))
    return 0


def run_predict(args) -> int:
    from ..data.files import adapter_task, texts_from_file
    from ..saving import read_adapter_config
    from .predict import predict

    texts = list(args.texts)
    if args.file is not None:
        texts += texts_from_file(args.file, adapter_task(read_adapter_config(args.adapter)).text_keys)
    for row in predict(args.adapter, texts, args.model):
        print(json.dumps(row))
    return 0


def run_count(args) -> int:
    from ..budget import roberta_large_budget
    from ..counting import format_count

    print(f"RoBERTa-large, tiny attention ({args.num_heads} head(s) of width {args.head_dim}), linear head:")
    print(format_count(roberta_large_budget(args.num_heads, args.head_dim)))
    return 0
