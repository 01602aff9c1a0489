"""The `tinyattn-lab fewglue` command (add_parsers / run_command; the top cli.py dispatches here), and a map of the FewGLUE code.

FewGLUE (Schick & Schütze 2021, "It's Not Just Size That Matters") is SuperGLUE with 32 labelled training examples
per task (plus unlabeled sets); results are reported on the SuperGLUE validation sets ("dev") or the test server.
The tiny-attention paper's second claim is that its adapter, trained on these 32 examples, is "comparable to GPT-3 and
PET" (paper notes 3.2 and 4.3).

  tasks.py            the task table (FewGlueTask) and the published GPT-3 / PET numbers to set beside ours
  data.py             loading from the local Parquet mirror or the hub, the mirror's gaps, validation subsets
  metrics.py          SuperGLUE's official metrics and task score
  patterns.py         PET's patterns and verbalizers (the cloze questions)
  cloze_encoder.py    a filled pattern -> input ids and mask positions; the one-real-token verbalizer check
  cloze.py            the cloze path (ClozeModel)
  head.py             the classification-head path (HeadModel)
  train.py            training on the 32 examples and scoring (FewShotArgs, train_few_shot, score)
  run.py              run_fewglue: one task over several seeds, summarised in results.json

Two ways to train on the 32 examples:
  cloze  PET's way for a masked LM: the input is rewritten as a cloze question ("<hypothesis>? [MASK], <premise>")
         and the MLM head's scores for one verbalizer word per label ("Yes"/"No"/"Maybe") are the class logits.
         Each verbalizer word must be exactly one real token of the tokenizer (checked in cloze_encoder.py, see
         `verbalizer_token_ids`): the reference code's look-up is suspect on this point (paper notes 3.2).
  head   a fresh classification head on the first token, for backbones without a pretrained MLM head
         (the embedded MiniLM has none); same 32 examples, same adapter.

Notebook: notebooks/08_fewglue.ipynb.
"""

from __future__ import annotations

import argparse
import json

from ..data.glue import DATA_ENV
from .data import inventory
from .tasks import TRAINABLE_TASKS, get_fewglue_task
from .train import FewShotArgs


def add_parsers(sub) -> None:
    """The `fewglue` subcommand (cli.build_parser calls this)."""
    d = FewShotArgs()
    p = sub.add_parser("fewglue", help="train tiny attention on FewGLUE's 32 examples, several seeds",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                       description="Train a tiny-attention adapter on the 32 FewGLUE examples of a SuperGLUE task and "
                                   "score it on the SuperGLUE validation set, once per seed (mean and spread).")
    p.set_defaults(run=run_command)
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
    from .run import run_fewglue
    from ..config import TinyAttnConfig

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
