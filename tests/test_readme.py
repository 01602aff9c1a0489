"""The README's code is real: its Python example runs, and the output it shows in comments is what it prints."""

import re
import shlex
from pathlib import Path

from tinyattn_lab.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def test_readme_example_runs_and_prints_what_it_shows(tmp_path, monkeypatch, capsys, minilm_path):
    block = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    shown = [line[2:] for line in block.splitlines() if line.startswith("# ")]
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed == shown
    assert sorted(p.name for p in (tmp_path / "my-adapter").iterdir()) == [
        "adapter_config.json", "adapter_model.safetensors"]


def test_readme_count_output_matches_the_cli(capsys):
    from tinyattn_lab.cli import main

    main(["count"])
    for line in capsys.readouterr().out.splitlines():
        assert f"# {line}" in README


def test_every_documented_command_parses():
    """Oracle: the CLI's own parser. Each `tinyattn-lab ...` line in a bash block of the README and docs/ must parse
    (options renamed in the code and not in the docs fail here); `...` placeholders and `--help` lines are skipped."""
    parser = build_parser()
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    commands = []
    for page in pages:
        for block in re.findall(r"```bash\n(.*?)```", page.read_text(), flags=re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split("#", 1)[0].strip()
                if line.startswith("tinyattn-lab ") and "..." not in line and "--help" not in line:
                    commands.append((page.name, line))
    assert len(commands) >= 10
    for page, line in commands:
        try:
            parser.parse_args(shlex.split(line)[1:])
        except SystemExit:
            raise AssertionError(f"{page}: `{line}` does not parse") from None
