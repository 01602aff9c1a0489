"""Command-line options derived from a dataclass: one `--field-name` per field, its help and choices from the field's
metadata, its type and default from the field itself (TinyAttnConfig, TrainArgs). The dataclass's __post_init__ then
checks the values, so the command line and Python refuse the same things with the same message.
Notebook: notebooks/03_train_on_glue.ipynb (the recipe these options set).
"""

from __future__ import annotations

import argparse
import typing
from dataclasses import MISSING, fields


def _scalar(hint):
    """int for `int`, `int | None` and `list[int] | None`; (the scalar type, whether it is a list)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)] if typing.get_args(hint) else []
    if typing.get_origin(hint) in (list, tuple):
        return args[0], True
    if args:  # X | None
        return _scalar(args[0])
    return hint, False


def add_dataclass_options(group, cls, skip=()) -> list[str]:
    """Add an option per field of `cls` (not in `skip`) to an argparse group; returns the field names added."""
    hints = typing.get_type_hints(cls)
    added = []
    for f in fields(cls):
        if f.name in skip:
            continue
        kind, many = _scalar(hints[f.name])
        default = f.default if f.default is not MISSING else f.default_factory()
        flag = "--" + f.name.replace("_", "-")
        if kind is bool:  # a switch; one that is on by default also gets its --no- form
            action = argparse.BooleanOptionalAction if default else "store_true"
            group.add_argument(flag, action=action, default=default, help=f.metadata["help"])
        else:
            group.add_argument(flag, type=kind, nargs="+" if many else None, default=default,
                               choices=f.metadata.get("choices"), help=f.metadata["help"])
        added.append(f.name)
    return added


def dataclass_from_options(cls, args, **overrides):
    """`cls` built from the parsed options that have its fields' names (and `overrides`)."""
    names = {f.name for f in fields(cls)}
    return cls(**{**{k: v for k, v in vars(args).items() if k in names}, **overrides})
