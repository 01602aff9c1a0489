"""The README's code is real: its Python example runs, and the output it shows in comments is what it prints."""

import re
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


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
