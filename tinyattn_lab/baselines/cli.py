"""The `compare` and `glue` subcommands of tinyattn-lab (cli.py adds and dispatches them).

    tinyattn-lab compare --task sst2 rte --methods tiny_attention lora:r=16 --lr lora=5e-4,1e-3 --output out/cmp
    tinyattn-lab glue --method tiny_attention --budget cpu --output out/glue

A budget preset (specs.BUDGETS) with per-field overrides, method specs with optional learning rates, then
compare.compare or compare.glue_sweep; prints the Markdown table.
"""

from __future__ import annotations

from dataclasses import replace

from . import compare
from .report import format_table
from .specs import BUDGETS, DEFAULT_CACHE, DEFAULT_METHODS, Budget, MethodSpec, get_budget, parse_method


def _add_budget_args(p) -> None:
    g = p.add_argument_group("budget (a preset, then overrides)")
    g.add_argument("--budget", default="cpu", choices=list(BUDGETS), help="preset: " + " | ".join(BUDGETS))
    g.add_argument("--train-size", type=int, default=None, help="training examples per task (0 = all)")
    g.add_argument("--eval-size", type=int, default=None, help="dev examples per task (0 = all)")
    g.add_argument("--epochs", type=int, default=None)
    g.add_argument("--batch-size", type=int, default=None)
    g.add_argument("--max-length", type=int, default=None)
    g.add_argument("--evals-per-epoch", type=int, default=None)
    g.add_argument("--seeds", type=int, nargs="+", default=None)
    g.add_argument("--lr-points", type=int, choices=[1, 2, 3], default=None,
                   help="points of each method's lr grid: 1 middle, 2 middle+high, 3 all")
    p.add_argument("--model", default="minilm", help="HF encoder name or path; 'minilm' is the embedded one")
    p.add_argument("--data-dir", default=None, help="folder of the local GLUE mirror (default: $TINYATTN_DATA)")
    p.add_argument("--cache", default=str(DEFAULT_CACHE), help="run cache folder (reruns train only what is new)")
    p.add_argument("--output", required=True, help="path prefix of the outputs: PREFIX.json, .csv, .png/.md")


def _budget_from(args) -> Budget:
    changes = {k: getattr(args, k) for k in ("epochs", "batch_size", "max_length", "evals_per_epoch", "lr_points")}
    if args.seeds:
        changes["seeds"] = tuple(args.seeds)
    budget = get_budget(args.budget, **changes)
    for name in ("train_size", "eval_size"):
        value = getattr(args, name)
        if value is not None:
            budget = replace(budget, **{name: value or None})
    return budget


def add_parsers(sub) -> None:
    """The `compare` and `glue` subcommands of tinyattn-lab (cli.py calls this)."""
    from argparse import ArgumentDefaultsHelpFormatter as _Formatter

    from .methods import METHODS

    p = sub.add_parser("compare", help="train several methods fairly on GLUE tasks and plot the frontier",
                       description=compare.__doc__.split("\n\n")[0], formatter_class=_Formatter)
    p.set_defaults(run=run_cli)
    p.add_argument("--task", "--tasks", dest="tasks", nargs="+", required=True, help="GLUE task(s)")
    p.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS),
                   help=f"method[:key=value,...]; known: {', '.join(METHODS)}")
    p.add_argument("--lr", action="append", default=[], metavar="METHOD=LR,LR",
                   help="override a method's learning rates, e.g. --lr lora=5e-4,1e-3")
    p.add_argument("--no-probe", action="store_true", help="skip the systems probe (memory, latency, examples/s)")
    _add_budget_args(p)
    g = sub.add_parser("glue", help="one method over every GLUE task available: the GLUE table and average",
                       formatter_class=_Formatter)
    g.set_defaults(run=run_cli)
    g.add_argument("--method", default="tiny_attention", help="method[:key=value,...]")
    g.add_argument("--task", "--tasks", dest="tasks", nargs="+", default=None, help="default: every task available")
    _add_budget_args(g)


def _with_lrs(specs: list[MethodSpec], overrides: list[str]) -> list[MethodSpec]:
    table = {}
    for item in overrides:
        name, sep, values = item.partition("=")
        if not sep:
            raise ValueError(f"--lr takes METHOD=LR,LR; got {item!r}.")
        table[name] = tuple(float(v) for v in values.split(","))
    unknown = set(table) - {s.label for s in specs} - {s.name for s in specs}
    if unknown:
        raise ValueError(f"--lr names method(s) not in --methods: {sorted(unknown)}.")
    return [replace(s, lrs=table.get(s.label, table.get(s.name))) for s in specs]


def run_cli(args) -> int:
    """Entry point of `tinyattn-lab compare` and `tinyattn-lab glue` (cli._run dispatches here)."""
    budget = _budget_from(args)
    if args.command == "compare":
        specs = _with_lrs([parse_method(m) for m in args.methods], args.lr)
        result = compare.compare(args.tasks, specs, budget, args.model, args.data_dir, args.cache, args.output,
                                 probes=not args.no_probe)
        print(format_table(result))
        print(f"wrote {args.output}.json, .csv, .png")
    else:
        document = compare.glue_sweep(args.method, budget, args.tasks, args.model, args.data_dir, args.cache,
                                      args.output)
        print(document["table_markdown"])
        print(f"wrote {args.output}.json, .csv, .md")
    return 0
