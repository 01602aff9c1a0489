"""FewGLUE with the embedded MiniLM: tiny attention trained on the 32 examples of each task, several seeds.

    nice -n 10 python benchmarks/fewglue_minilm.py [--tasks cb rte copa wic] [--seeds 1 2 3 4 5]
                                                   [--eval-size boolq=1000 multirc=200] [--data-dir DIR]

The embedded MiniLM (all-MiniLM-L6-v2) ships without a masked-LM head, so this is the classification-head path of
fewglue_head.py: a fresh linear classifier on the pooled first token plus a tiny-attention adapter (1 head of width
1) in each of the 6 layers; everything else frozen. Recipe: the tiny-attention reference few-shot settings (batch size 1,
AdamW lr 1e-3, weight decay 0.02, constant schedule, 20 epochs, clip 1.0); no model selection, the last epoch is scored
once on the SuperGLUE validation set. Each seed changes the adapter and classifier initialisation, the data order and
dropout; the 32 training examples are FewGLUE's fixed ones.

Results go to benchmarks/results/fewglue-minilm.json (one entry per task, written after each task, so an interrupted run
keeps what it finished; a task already there with the same settings is skipped).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch  # noqa: E402

from tinyattn_lab.config import TinyAttnConfig  # noqa: E402
from tinyattn_lab.fewglue.run import run_fewglue  # noqa: E402
from tinyattn_lab.fewglue.train import FewShotArgs  # noqa: E402
from tinyattn_lab.saving import write_json  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "fewglue-minilm.json"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", nargs="+", default=["cb", "rte", "copa", "wic"])
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--eval-size", nargs="*", default=[], help="task=N: score a fixed random subset (MultiRC: questions)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--output", default=str(OUT))
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads; 1 by default: on a shared 2-core machine 2 threads measured 10-20x "
                        "slower per step than 1 (oversubscription)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    eval_sizes = {k: int(v) for k, v in (item.split("=") for item in args.eval_size)}
    out = Path(args.output)
    document = json.loads(out.read_text()) if out.exists() else {}
    document.setdefault("description", "FewGLUE (32 training examples per task), embedded MiniLM, tiny attention, "
                                       "classification-head path; scored on the SuperGLUE validation set (dev)")
    document.setdefault("tasks", {})
    train_args = FewShotArgs(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                             max_length=args.max_length, seeds=args.seeds)
    for task in args.tasks:
        settings = {"train_args": asdict(train_args), "eval_size": eval_sizes.get(task)}
        done = document["tasks"].get(task)
        if done and done.get("settings") == settings:
            print(f"{task}: already in {out}, skipped")
            continue
        started = time.time()
        result = run_fewglue(task, path="head", model_name="minilm", data_dir=args.data_dir,
                             config=TinyAttnConfig(), args=train_args, eval_size=eval_sizes.get(task),
                             progress=False)
        for run in result["runs"]:
            run["epoch_loss"] = [round(x, 5) for x in run["epoch_loss"]]
        result["settings"] = settings
        result["finished_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
        document["tasks"][task] = result
        out.parent.mkdir(parents=True, exist_ok=True)
        write_json(out, document)
        s = result["summary"]
        print(f"{task}: " + ", ".join(f"{k} {100 * v['mean']:.1f} ± {100 * v['std']:.1f}" for k, v in s.items())
              + f" | majority {100 * result['majority_baseline']['score']:.1f} | {time.time() - started:.0f} s",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
