"""Every course notebook follows one skeleton (README "The notebook course"), checked on the committed files.

Title "# NN · ...", a header citing the paper with "Time" and "You need"; a first code cell that installs on Colab and
prints versions; right after it the one cell tagged `parameters`, whose every typed assignment papermill can read
(`Optional[X]`, not `X | None`; no second `=` on a line); "What to notice" and "Exercises" at the end; a results.json;
committed without outputs (nbstripout). The executed smoke runs live in test_notebooks_*.py and test_notebook_*.py.
"""

from __future__ import annotations

import ast

import nbformat
import papermill
import pytest

from notebook_runner import NOTEBOOKS

COMMON_PARAMETERS = {"smoke", "model_name", "data_dir", "output_dir"}
# What a notebook adds to the skeleton: papers it must cite, parameters it must take, words its prose must contain.
EXTRA = {
    "01": dict(parameters={"num_heads", "head_dim", "seed"}),
    "02": dict(parameters={"num_heads", "placement"}),
    "03": dict(parameters={"task", "pair_task", "lr", "epochs"}),
    "04": dict(parameters={"task", "num_heads", "example"}),
    "05": dict(parameters={"num_heads", "expand_noise", "spreads"}),
    "06": dict(parameters={"max_heads", "head_dims", "placements"}),
    "07": dict(cites={"2106.09685", "1902.00751"}, parameters={"tasks", "methods", "budget", "seeds"},
               prose={"LoRA paper's Table 2", "unverified"}),
    "08": dict(cites={"2009.07118", "2005.14165"}, parameters={"tasks", "seeds", "path"}, prose={"dev", "test"}),
    "09": dict(parameters={"decoder", "placement", "num_heads"}, prose={"tiny random", "causal"}),
}
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))


def _parameters_cell(nb):
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one code cell must be tagged `parameters`"
    return tagged[0]


def _typed_names(source: str) -> set[str]:
    return {n.target.id for n in ast.parse(source).body if isinstance(n, ast.AnnAssign)}


def test_every_notebook_has_its_row():
    assert {p.name[:2] for p in PATHS} == set(EXTRA)


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", "kernelspec must be python3 (papermill, CI)"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"cell {i}: run `nbstripout {path.name}`"
    assert "widgets" not in nb.metadata, f"widget state is stored: run `nbstripout {path.name}`"


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_house_style(path):
    nb = nbformat.read(path, as_version=4)
    extra = EXTRA[path.name[:2]]
    first, code_cells = nb.cells[0], [c for c in nb.cells if c.cell_type == "code"]
    assert first.cell_type == "markdown" and first.source.startswith(f"# {path.name[:2]} · "), "title first"
    for needed in {"Time", "You need", *(f"arxiv.org/abs/{a}" for a in {"2211.01979", *extra.get("cites", ())})}:
        assert needed in first.source, f"the header does not mention {needed!r}"
    install = code_cells[0].source
    assert '"google.colab" in sys.modules' in install and "%pip install" in install
    assert "%matplotlib inline" in install and "version(" in install
    assert code_cells[1] is _parameters_cell(nb), "the parameters cell comes right after the install cell"
    missing = (COMMON_PARAMETERS | extra["parameters"]) - _typed_names(code_cells[1].source)
    assert not missing, f"the parameters cell lacks typed {missing}"
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for needed in {"## What to notice", "## Exercises", *extra.get("prose", ())}:
        assert needed in prose, f"the prose does not mention {needed!r}"
    assert any("results.json" in c.source for c in code_cells)


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_papermill_reads_every_parameter_with_its_type(path):
    """`papermill --help-notebook` and Colab's form rely on this parse; a line it skips silently loses a parameter."""
    typed = _typed_names(_parameters_cell(nbformat.read(path, as_version=4)).source)
    seen = papermill.inspect_notebook(str(path))
    assert set(seen) == typed
    assert all(p["inferred_type_name"] not in ("None", "") and p["help"] for p in seen.values())
