"""The `train`, `evaluate` and `count` subcommands of tinyattn-lab (cli.py adds and dispatches them).

    tinyattn-lab train --task sst2 --num-heads 4 --output runs/sst2-h4
    tinyattn-lab evaluate runs/sst2-h4/adapter
    tinyattn-lab count                       # the paper's 0.05% of RoBERTa-large, from its config alone
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields

from ..backbones import DEFAULT_MODEL
from ..config import PLACEMENTS, TinyAttnConfig
from ..data.glue import DATA_ENV, GLUE_TASKS
from .loop import TrainArgs

_DATA_HELP = f"folder of a local GLUE mirror in the HF layout (default: ${DATA_ENV}, else the hub)"


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train an adapter on a GLUE task", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.set_defaults(run=run_train)
    p.add_argument("--task", required=True, help=f"GLUE task: {', '.join(GLUE_TASKS)}")
    p.add_argument("--output", required=True, help="run folder: metrics.json, adapter/, checkpoint/ (resumed if present)")
    p.add_argument("--model", default=DEFAULT_MODEL, help="HF encoder name or path; 'minilm' is the embedded one")
    p.add_argument("--data-dir", default=None, help=_DATA_HELP)
    adapter = p.add_argument_group("adapter (TinyAttnConfig)")
    adapter.add_argument("--num-heads", type=int, default=1, help="attention heads (experts) per adapter")
    adapter.add_argument("--head-dim", type=int, default=1, help="width of each head (1 = tiny attention)")
    adapter.add_argument("--placement", choices=PLACEMENTS, default="after_attention", help="where the adapter sits")
    adapter.add_argument("--layers", type=int, nargs="+", default=None, help="layer indices to adapt (default: all)")
    adapter.add_argument("--dropout", type=float, default=0.1, help="dropout on the adapter's attention probabilities")
    adapter.add_argument("--init-scale", type=float, default=0.0, help="std of the output projection at init")
    adapter.add_argument("--linear-head", action="store_true", help="the paper's linear head on the first token")
    train = p.add_argument_group("training (TrainArgs)")
    defaults = TrainArgs()
    train.add_argument("--epochs", type=int, default=defaults.epochs, help="passes over the training set")
    train.add_argument("--batch-size", type=int, default=defaults.batch_size, help="training batch size")
    train.add_argument("--lr", type=float, default=defaults.lr, help="AdamW learning rate")
    train.add_argument("--weight-decay", type=float, default=defaults.weight_decay, help="AdamW weight decay")
    train.add_argument("--warmup-ratio", type=float, default=defaults.warmup_ratio, help="share of steps warming up")
    train.add_argument("--schedule", choices=["linear", "cosine", "constant"], default=defaults.schedule,
                       help="learning-rate decay after warmup")
    train.add_argument("--evals-per-epoch", type=int, default=defaults.evals_per_epoch, help="dev evaluations per epoch")
    train.add_argument("--seed", type=int, default=defaults.seed, help="random seed (data order, init, dropout)")
    train.add_argument("--stop-after-steps", type=int, default=None, help="stop early and leave a checkpoint to resume")
    train.add_argument("--mixed-precision", choices=["auto", "no", "bf16", "fp16"], default="auto",
                       help="auto = bf16 on a GPU that has it, else fp32")
    train.add_argument("--group-by-length", action=argparse.BooleanOptionalAction, default=defaults.group_by_length,
                       help="batches of similar length, shuffled; dev sets sorted by length (less padding)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar (one line per evaluation remains)")
    data = p.add_argument_group("data")
    data.add_argument("--train-size", type=int, default=None, help="random training subset of this size (default: all)")
    data.add_argument("--eval-size", type=int, default=None, help="random dev subset of this size (default: all)")
    data.add_argument("--max-length", type=int, default=128, help="truncate inputs to this many tokens")


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="score a saved adapter on its task's dev set")
    p.set_defaults(run=run_evaluate)
    p.add_argument("adapter", help="folder with adapter_config.json + adapter_model.safetensors")
    p.add_argument("--data-dir", default=None, help=_DATA_HELP)
    p.add_argument("--split", default=None, help="split to score (default: the task's dev split(s))")
    p.add_argument("--eval-size", type=int, default=None, help="random subset of this size (default: all)")
    p.add_argument("--model", default=None, help="backbone (default: the one recorded in the adapter)")


def _add_count(sub) -> None:
    p = sub.add_parser("count", help="trainable share of RoBERTa-large with tiny attention, from its config alone")
    p.set_defaults(run=run_count)
    p.add_argument("--num-heads", type=int, default=1, help="attention heads per adapter")
    p.add_argument("--head-dim", type=int, default=1, help="width of each head")


def add_parsers(sub) -> None:
    _add_train(sub)
    _add_evaluate(sub)
    _add_count(sub)


def run_train(args) -> int:
    from . import jobs  # heavy imports only once the arguments are known

    config = TinyAttnConfig(num_heads=args.num_heads, head_dim=args.head_dim, placement=args.placement,
                            layers=args.layers, dropout=args.dropout, init_scale=args.init_scale,
                            linear_head=args.linear_head)
    names = {f.name for f in fields(TrainArgs)}
    train_args = TrainArgs(**{k: v for k, v in vars(args).items() if k in names}, progress=not args.no_progress)
    metrics = jobs.train_adapter(args.task, args.output, config, train_args, args.model, args.data_dir,
                                 args.train_size, args.eval_size, args.max_length)
    best = {k: v for k, v in metrics["best"].items() if k not in ("step", "epoch", "loss")}
    print(f"best dev {json.dumps(best)} at step {metrics['best']['step']}; "
          f"{metrics['train_examples_per_second']:.1f} train examples/s; wrote {args.output}/metrics.json")
    return 0


def run_evaluate(args) -> int:
    from . import jobs

    print(json.dumps(jobs.evaluate_adapter(args.adapter, args.data_dir, args.split, args.eval_size, args.model),
                     indent=2))
    return 0


def run_count(args) -> int:
    from ..budget import roberta_large_budget
    from ..counting import format_count

    print(f"RoBERTa-large, tiny attention ({args.num_heads} head(s) of width {args.head_dim}), linear head:")
    print(format_count(roberta_large_budget(args.num_heads, args.head_dim)))
    return 0
