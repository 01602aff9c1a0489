"""Execute a course notebook headlessly with papermill and read back what it computed.

Every notebook has a `parameters` cell with at least `smoke`, `data_dir` and `output_dir`, and writes
`<output_dir>/results.json`; tests assert on that file and on the figures (image/png outputs) in the executed notebook.
"""

import json
from pathlib import Path

import nbformat
import papermill

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def run_notebook(name: str, out_dir: Path, data_dir: Path, **parameters) -> tuple[nbformat.NotebookNode, dict]:
    """Run notebooks/<name> in smoke mode (unless told otherwise); returns (executed notebook, results.json)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {"smoke": True, "data_dir": str(data_dir), "output_dir": str(out_dir), **parameters}
    executed = out_dir / name
    papermill.execute_notebook(
        str(NOTEBOOKS / name), str(executed), parameters=params, kernel_name="python3", cwd=str(NOTEBOOKS),
        execution_timeout=600, start_timeout=120, progress_bar=False,
    )
    return nbformat.read(executed, as_version=4), json.loads((out_dir / "results.json").read_text())


def image_outputs(nb: nbformat.NotebookNode) -> int:
    """Number of figures that are real cell outputs (what a static renderer, Colab or GitHub shows)."""
    return sum("image/png" in output.get("data", {}) for cell in nb.cells if cell.cell_type == "code"
               for output in cell.get("outputs", []))


def html_outputs(nb: nbformat.NotebookNode) -> int:
    return sum("text/html" in output.get("data", {}) for cell in nb.cells if cell.cell_type == "code"
               for output in cell.get("outputs", []))
