"""Run the whole notebook course headlessly: every notebook executed with papermill, then rendered to HTML.

    tinyattn-lab course --output runs/course            # smoke mode on a CPU, full runs on a GPU
    tinyattn-lab course --output runs/course --full     # whole tasks everywhere (slow on a CPU)

The run folder gets, per notebook, the executed .ipynb, its .html and its own output folder (results.json, adapters).
"""

from __future__ import annotations

import time
from pathlib import Path

from .data.glue import data_dir_setting


def add_parsers(sub) -> None:
    p = sub.add_parser("course", help="execute every notebook headlessly into a run folder (ipynb + html)")
    p.set_defaults(run=run_cli)
    p.add_argument("--output", default="runs/course", help="run folder")
    p.add_argument("--notebooks", default="notebooks", help="folder with the course notebooks")
    p.add_argument("--data-dir", default=None, help="local GLUE mirror (default: $TINYATTN_DATA, else the hub)")
    p.add_argument("--only", nargs="+", default=None, help="run only notebooks whose name contains one of these")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_true", help="small real subsets (~1 minute per notebook on a CPU)")
    mode.add_argument("--full", action="store_true", help="whole tasks (the default on a GPU)")


def run_course(output, notebooks="notebooks", data_dir=None, smoke: bool | None = None, only=None) -> list[dict]:
    """Execute the notebooks in order; returns one {notebook, seconds, html} record per notebook."""
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    output, notebooks = Path(output), Path(notebooks)
    paths = sorted(notebooks.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"No course notebooks (NN_name.ipynb) in {notebooks.resolve()}.")
    if only:
        chosen = [p for p in paths if any(str(key) in p.name for key in only)]
        if not chosen:
            raise ValueError(f"--only {' '.join(map(str, only))} matches none of the course notebooks; pick parts of "
                             f"these names: {', '.join(p.name for p in paths)}.")
        paths = chosen
    output.mkdir(parents=True, exist_ok=True)
    data_dir, _ = data_dir_setting(data_dir)
    if data_dir is not None:
        data_dir = str(Path(data_dir).expanduser().resolve())  # absolute: notebooks run in notebooks/
    records = []
    for path in paths:
        parameters = {"output_dir": str((output / path.stem).resolve())}
        if smoke is not None:
            parameters["smoke"] = smoke
        if data_dir is not None:
            parameters["data_dir"] = data_dir
        executed = output / path.name
        start = time.perf_counter()
        print(f"running {path.name} ...", flush=True)
        papermill.execute_notebook(str(path), str(executed), parameters=parameters, kernel_name="python3",
                                   cwd=str(notebooks), progress_bar=False)
        seconds = time.perf_counter() - start
        html, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
        executed.with_suffix(".html").write_text(html)
        print(f"  done in {seconds:.0f} s -> {executed.with_suffix('.html')}", flush=True)
        records.append({"notebook": path.name, "seconds": seconds, "html": str(executed.with_suffix(".html"))})
    return records


def run_cli(args) -> int:
    smoke = True if args.smoke else False if args.full else None
    run_course(args.output, args.notebooks, args.data_dir, smoke, args.only)
    return 0
