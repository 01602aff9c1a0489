"""The `tinyattn-lab` command: a thin dispatcher; each subcommand lives with its concern.

    tinyattn-lab train | evaluate | predict | count   training/cli.py
    tinyattn-lab compare | glue                baselines/cli.py
    tinyattn-lab fewglue                       fewglue/cli.py
    tinyattn-lab course                        course.py

Each of those modules has `add_parsers(sub)`, which registers its subcommands with `set_defaults(run=handler)`.
Bad input (a ValueError, a missing file, an unsupported model, ...) ends with one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys

from . import course
from .baselines import cli as baselines_cli
from .fewglue import cli as fewglue_cli
from .training import cli as training_cli

COMMAND_MODULES = (training_cli, course, baselines_cli, fewglue_cli)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tinyattn-lab", description="Tiny-attention adapters for HF encoders.")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, NotImplementedError, KeyError, OSError) as err:
        print(f"tinyattn-lab {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
