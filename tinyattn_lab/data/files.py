"""Your own data: a task built from a CSV, TSV, JSON, JSON Lines or Parquet file of labelled texts.

`file_task` reads the training file (through `datasets`, local files only), checks the columns and decides what the
labels are: strings or integers make a classification task whose label names are kept sorted (label id = position
in that list), floats a regression task (asked for with regression=True, or inferred when some value is not a whole
number). The result, a `FileTask`, has the fields of a `GlueTask` (text_keys, num_labels, metrics, main_metric,
eval_splits), so the training loop, the metrics and `encode` need no special case. `file_splits` gives its train
and validation rows in GLUE's column layout (the text columns and `label` as an id); without a validation file a
seeded share of the training file is held out. `FileTask.record()` goes into the adapter's config, so the adapter
can be scored again and can name its predictions. Notebook: notebooks/03_train_on_glue.ipynb.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from datasets import ClassLabel, DatasetDict, Value

READERS = {".csv": ("csv", {}), ".tsv": ("csv", {"delimiter": "\t"}), ".json": ("json", {}),
           ".jsonl": ("json", {}), ".parquet": ("parquet", {})}
HOLDOUT_SEED = 0  # the held-out rows do not depend on the training seed, so `evaluate` finds the same ones


def read_table(path):
    """The rows of one local data file as a Dataset, or a one-line error saying what is wrong with the file."""
    from datasets import load_dataset
    from datasets.exceptions import DatasetsError
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    path = Path(path).expanduser()
    if path.suffix.lower() not in READERS:
        raise ValueError(f"{path}: unknown file type {path.suffix or '(none)'!r}; use one of {', '.join(READERS)}.")
    if not path.is_file():
        raise FileNotFoundError(f"No file {path.resolve()}: check the path.")
    builder, options = READERS[path.suffix.lower()]
    bars = not are_progress_bars_disabled()
    disable_progress_bars()  # no "Generating rows split" bar for a file of kilobytes
    try:
        table = load_dataset(builder, data_files={"rows": str(path.resolve())}, split="rows", **options)
    except (DatasetsError, ValueError, OSError, TypeError) as err:
        if "corresponds to no data" in str(err):  # datasets' words for a file without rows
            raise ValueError(f"{path} has no rows: give a file with a header and labelled rows.") from None
        reason = str(err.__cause__ or err).strip().splitlines()[0]
        raise ValueError(f"Cannot read {path} as {builder.upper()}: {reason}. Check the file's format.") from None
    finally:
        if bars:
            enable_progress_bars()
    if len(table) == 0:
        raise ValueError(f"{path} has no rows: give a file with a header and labelled rows.")
    return table


def check_columns(table, text_keys, label_column, path) -> None:
    """The text and label columns (label_column None: only the texts) exist, else name the ones that do, and every
    text is a string."""
    missing = [c for c in [*text_keys, label_column] if c is not None and c not in table.column_names]
    if missing:
        raise ValueError(f"{path} has no column(s) {', '.join(map(repr, missing))}; its columns are "
                         f"{', '.join(map(repr, table.column_names))}. Pass the right --text-column/--label-column.")
    for key in text_keys:
        texts = list(table[key])
        bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
        if bad is not None:
            raise ValueError(f"{path}: row {bad + 1} of the text column {key!r} is {texts[bad]!r}, not a text; "
                             f"fill it or drop the row.")


@dataclass(frozen=True)
class FileTask:
    """A classification or regression task read from files; `source` says where (and is enough to rebuild it)."""

    name: str
    text_keys: tuple  # one text column, or two (a pair)
    label_column: str
    label_names: tuple | None  # None for regression; else sorted, label id = index
    source: dict = field(default_factory=dict)  # train_file, validation_file, holdout, holdout_seed
    eval_splits: tuple = ("validation",)
    unlabeled = None  # every row of a file is labelled (GLUE's test rows carry -1)

    @property
    def num_labels(self) -> int:
        return 1 if self.label_names is None else len(self.label_names)

    @property
    def is_regression(self) -> bool:
        return self.label_names is None

    @property
    def metrics(self) -> tuple:
        if self.is_regression:
            return ("pearson", "spearman")
        return ("accuracy", "macro_f1", "matthews") if self.num_labels == 2 else ("accuracy", "macro_f1")

    @property
    def main_metric(self) -> str:
        return self.metrics[0]

    def record(self) -> dict:
        return {**asdict(self), "text_keys": list(self.text_keys), "eval_splits": list(self.eval_splits),
                "label_names": None if self.label_names is None else list(self.label_names)}

    @classmethod
    def from_record(cls, record: dict) -> "FileTask":
        names = record["label_names"]
        return cls(record["name"], tuple(record["text_keys"]), record["label_column"],
                   None if names is None else tuple(names), dict(record["source"]))

    def describe(self) -> str:
        """What the labels were taken to be, and where the validation rows come from (printed by `train`)."""
        if self.is_regression:
            kind = f"regression on {self.label_column!r} ({self.source['label_kind']})"
        else:
            kind = (f"{self.num_labels} classes in {self.label_column!r} ({self.source['label_kind']}): "
                    f"{', '.join(map(str, self.label_names))}")
        source = self.source
        if source["validation_file"]:
            held = f"validation rows from {source['validation_file']}"
        else:
            rest = source["train_rows"] - source["holdout"]
            held = (f"{source['holdout']} of the {source['train_rows']} rows of {source['train_file']} held out "
                    f"for validation (seed {source['holdout_seed']}), the other {rest} train")
        return f"{self.name}: {kind}; {held}"


def _label_kind(feature, values, regression):
    """(is it regression, why) for a label column; refuses what is ambiguous or impossible."""
    text = isinstance(feature, Value) and feature.dtype in ("string", "large_string")
    if isinstance(feature, ClassLabel) or text:
        if regression:
            raise ValueError("--regression needs numeric labels, but the label column holds strings.")
        return False, "string labels"
    numeric = isinstance(feature, Value) and feature.dtype.startswith(("int", "uint", "float", "bool"))
    if not numeric:
        raise ValueError(f"Labels must be strings, integers or floats; the label column is {feature}.")
    if regression is not None:
        return regression, "--regression" if regression else "classification asked for"
    if not feature.dtype.startswith("float"):
        return False, "integer labels"
    if any(v != int(v) for v in values):
        return True, "inferred: float labels with fractions"
    raise ValueError("The labels are floats with whole values only (e.g. 0.0, 1.0): pass --regression for a "
                     "regression task, or write them as integers (or strings) for classification.")


def file_task(train_file, validation_file=None, text_column: str = "text", text_pair_column: str | None = None,
              label_column: str = "label", regression: bool | None = None, holdout: float | None = None,
              name: str | None = None) -> FileTask:
    """Read `train_file`, check its columns and labels, and return the task it defines (see the module docstring).
    holdout: without a validation file, the share (0 < holdout < 1) or number (>= 1) of training rows held out
    (default 0.1); with one, nothing is held out, so a holdout is refused rather than ignored."""
    if validation_file is not None and holdout is not None:
        raise ValueError("--holdout splits the training file when there is no --validation-file; pass one or the "
                         "other.")
    holdout = 0.1 if holdout is None else holdout
    if validation_file is None and not (0 < holdout < 1 or (holdout >= 1 and float(holdout).is_integer())):
        raise ValueError(f"holdout must be a share between 0 and 1 or a whole number of rows, got {holdout!r}.")
    table = read_table(train_file)
    text_keys = (text_column,) if text_pair_column is None else (text_column, text_pair_column)
    check_columns(table, text_keys, label_column, train_file)
    feature, values = table.features[label_column], list(table[label_column])
    if any(v is None for v in values):
        raise ValueError(f"{train_file}: row {values.index(None) + 1} has no label in {label_column!r}; "
                         f"fill it or drop the row.")
    is_regression, why = _label_kind(feature, values, regression)
    if isinstance(feature, ClassLabel):
        values = [feature.int2str(v) for v in values]
    label_names = None if is_regression else tuple(sorted(set(values)))
    if label_names is not None and len(label_names) < 2:
        raise ValueError(f"{train_file}: every row has the label {label_names[0]!r}; a classifier needs two or more.")
    rows = len(table)
    held = 0 if validation_file else (round(holdout * rows) if holdout < 1 else int(holdout))
    if not validation_file and not 1 <= held < rows:
        raise ValueError(f"{train_file} has {rows} rows: cannot hold out {held} for validation and train on the "
                         f"rest; pass a smaller --holdout or a --validation-file.")
    source = {"train_file": str(Path(train_file).expanduser().resolve()), "train_rows": rows,
              "validation_file": str(Path(validation_file).expanduser().resolve()) if validation_file else None,
              "holdout": held, "holdout_seed": HOLDOUT_SEED, "label_kind": why}
    task = FileTask(name or Path(train_file).stem, text_keys, label_column, label_names, source)
    if validation_file:
        file_rows(task, validation_file)  # its columns and labels are checked now, before anything is trained
    return task


def file_rows(task: FileTask, path):
    """All rows of `path` in GLUE's layout for `task`: its text columns and `label` (an id, or a float)."""
    table = read_table(path)
    check_columns(table, task.text_keys, task.label_column, path)
    feature, values = table.features[task.label_column], list(table[task.label_column])
    if isinstance(feature, ClassLabel):
        values = [feature.int2str(v) for v in values]
    if task.is_regression:
        if not (isinstance(feature, Value) and feature.dtype.startswith(("int", "uint", "float"))):
            raise ValueError(f"{path}: the regression labels in {task.label_column!r} must be numbers, not {feature}.")
        labels = [None if v is None else float(v) for v in values]
    else:
        ids = {name: i for i, name in enumerate(task.label_names)}
        unknown = sorted({str(v) for v in values if v not in ids})
        if unknown:
            raise ValueError(f"{path}: label(s) {', '.join(unknown)} in {task.label_column!r} never occur in the "
                             f"training file, whose labels are {', '.join(map(str, task.label_names))}; fix or "
                             f"drop those rows.")
        labels = [ids[v] for v in values]
    if None in labels:
        raise ValueError(f"{path}: row {labels.index(None) + 1} has no label in {task.label_column!r}.")
    return table.select_columns(list(task.text_keys)).add_column(
        "label", labels, feature=Value("float32" if task.is_regression else "int64"))


def file_splits(task: FileTask) -> DatasetDict:
    """{"train", "validation"} in GLUE's layout: the validation file, or the seeded held-out rows."""
    rows = file_rows(task, task.source["train_file"])
    if task.source["validation_file"]:
        return DatasetDict(train=rows, validation=file_rows(task, task.source["validation_file"]))
    split = rows.train_test_split(test_size=task.source["holdout"], seed=task.source["holdout_seed"])
    return DatasetDict(train=split["train"], validation=split["test"])


def texts_from_file(path, text_keys) -> list:
    """Inputs to predict: a .txt file's non-empty lines, or the text column(s) of a table (pairs as tuples)."""
    path = Path(path).expanduser()
    if path.suffix.lower() == ".txt":
        if not path.is_file():
            raise FileNotFoundError(f"No file {path.resolve()}: check the path.")
        try:
            lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        except UnicodeDecodeError as err:
            raise ValueError(f"Cannot read {path} as UTF-8 text ({err.reason}); save it as UTF-8.") from None
        if len(text_keys) == 2:
            raise ValueError(f"The adapter reads pairs of texts ({', '.join(text_keys)}): give a table with those "
                             f"columns, not a text file.")
        return [line for line in lines if line]
    table = read_table(path)
    check_columns(table, text_keys, None, path)
    columns = [list(table[k]) for k in text_keys]
    return columns[0] if len(columns) == 1 else list(zip(*columns))


def adapter_task(document: dict):
    """The task a saved adapter was trained on: a FileTask from its recorded data, else a GLUE task by name."""
    from .glue import get_task

    return FileTask.from_record(document["data"]) if "data" in document else get_task(document["task"])
