"""The campaign runner (baselines/campaign.py), its report and the two scripts, on a tiny random BERT and 16 real
GLUE examples (skipped without the mirror): the first-seed protocol in a process pool, resume, partial reports."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_compare import TINY

from tinyattn_lab.baselines import compare
from tinyattn_lab.baselines.campaign import collect, run_campaign
from tinyattn_lab.baselines.campaign_report import (campaign_document, format_campaign, trivial_baselines,
                                                   write_campaign)
from tinyattn_lab.baselines.report import plot_frontier
from tinyattn_lab.baselines.specs import get_budget, parse_method
from tinyattn_lab.baselines.stats import paired_difference

REPO = Path(__file__).resolve().parents[1]
METHODS = ["tiny_attention", "bitfit"]


def test_campaign_protocol_resume_and_report(tiny_backbone, mirror_dir, tmp_path):
    """Oracles: the protocol's run list (2 rates on seed 0, seed 1 at the better), the cache files' bytes on a second
    call, and the paired difference recomputed from the cached records."""
    cache, specs = tmp_path / "cache", [parse_method(m) for m in METHODS]
    assert len(run_campaign(["rte"], METHODS, TINY, tiny_backbone, mirror_dir, cache, time_limit=0)) == 6
    assert not (cache / "runs").exists()  # out of time before the first run: nothing trained, all 6 missing
    assert run_campaign(["rte"], METHODS, TINY, tiny_backbone, mirror_dir, cache) == []
    records, missing = collect(["rte"], specs, TINY, tiny_backbone, cache)
    files = sorted((cache / "runs").glob("*.json"))
    assert not missing and len(records) == len(files) == 6
    for spec in specs:
        mine = [r for r in records if r["label"] == spec.label]
        first = [r for r in mine if r["seed"] == 0]
        assert sorted(r["lr"] for r in first) == spec.learning_rates(TINY)
        best = max(first, key=lambda r: r["best_main"])["lr"]
        assert [r["lr"] for r in mine if r["seed"] == 1] == [best]
    before = {f: f.read_bytes() for f in files}
    assert run_campaign(["rte"], METHODS, TINY, tiny_backbone, mirror_dir, cache) == []
    assert {f: f.read_bytes() for f in sorted((cache / "runs").glob("*.json"))} == before  # nothing retrained

    trivial = trivial_baselines(["rte"], TINY, tiny_backbone, mirror_dir)
    document = campaign_document(records, [], ["rte"], [s.label for s in specs], TINY, trivial,
                                 model_name=tiny_backbone)
    rows = document["per_task"]["rte"]["methods"]
    scores = {label: {r["seed"]: 100 * r["best_main"] for r in records if r["label"] == label
                      and r["lr"] == rows[label]["best_lr"]} for label in METHODS}
    expected = paired_difference([scores["tiny_attention"][s] for s in (0, 1)], [scores["bitfit"][s] for s in (0, 1)])
    assert rows["bitfit"]["vs_reference"]["low"] == pytest.approx(expected["low"])
    assert rows["bitfit"]["vs_reference"]["mean"] == pytest.approx(expected["mean"])
    assert "vs_reference" not in rows["tiny_attention"] and document["complete"]
    for label in METHODS:  # the budget's rule, by hand on the cached scores
        mine, floor = list(scores[label].values()), trivial["rte"]
        assert rows[label]["learns"] == (min(mine) > floor and sum(mine) / 2 - floor > max(mine) - min(mine))
    train, evals, _ = compare._task_data("rte", tiny_backbone, mirror_dir, TINY)
    majority = max(set(train["labels"]), key=list(train["labels"]).count)
    dev = list(evals["validation"]["labels"])
    assert trivial["rte"] == pytest.approx(100 * dev.count(majority) / len(dev))  # by hand

    # a lost seed-1 run: the report says so
    lost = next(r for r in records if r["label"] == "bitfit" and r["seed"] == 1)
    (cache / "runs" / f"{lost['key']}.json").unlink()
    records, missing = collect(["rte"], specs, TINY, tiny_backbone, cache)
    assert missing == [("rte", "bitfit", lost["lr"], 1)]
    partial = campaign_document(records, missing, ["rte"], METHODS, TINY, trivial)
    assert not partial["complete"] and not partial["per_task"]["rte"]["methods"]["bitfit"]["complete"]
    paths = write_campaign(partial, tmp_path / "out")
    table = paths[2].read_text()
    assert "Partial: 1 runs" in table and "(partial)" in table and "nan" not in table
    assert next(line for line in table.splitlines() if line.startswith("| bitfit ")).endswith(" | one seed |")
    assert json.loads(paths[0].read_text())["missing_runs"] == [["rte", "bitfit", lost["lr"], 1]]
    dashed = [line for line in plot_frontier(partial, "rte", trivial).axes[0].lines if line.get_linestyle() == "--"]
    assert [list(line.get_ydata()) for line in dashed] == [[trivial["rte"]] * 2]  # the figure's floor line
    nothing_yet = campaign_document([], missing, ["rte"], METHODS, TINY, trivial)  # a task no run has reached
    assert format_campaign(nothing_yet).startswith(f"### rte (accuracy; trivial baseline {trivial['rte']:.1f}; not yet")


@pytest.mark.slow
def test_process_pool_matches_one_process(tiny_backbone, mirror_dir, tmp_path):
    """Oracle: the same campaign trained in this process; 2 spawned workers give the same runs, metric for metric."""
    inline, pooled = tmp_path / "inline", tmp_path / "pooled"
    assert run_campaign(["rte"], METHODS, TINY, tiny_backbone, mirror_dir, inline) == []
    assert run_campaign(["rte"], METHODS, TINY, tiny_backbone, mirror_dir, pooled, workers=2) == []
    specs = [parse_method(m) for m in METHODS]
    key = lambda records: {r["key"]: r["history"] for r in records}  # noqa: E731
    assert key(collect(["rte"], specs, TINY, tiny_backbone, pooled)[0]) == key(
        collect(["rte"], specs, TINY, tiny_backbone, inline)[0])


def test_gpu_script_runs_on_cpu(tiny_backbone, mirror_dir, tmp_path):
    """Oracle: the protocol's 2 runs (smoke: 1 rate, 1 seed) per method, in the files the script writes."""
    out = tmp_path / "gpu"
    command = [sys.executable, str(REPO / "benchmarks" / "compare_gpu.py"), "--budget", "smoke", "--tasks", "rte",
               "--methods", *METHODS, "--workers", "1", "--model", tiny_backbone, "--data-dir", str(mirror_dir),
               "--cache", str(tmp_path / "cache"), "--output", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    document = json.loads(out.with_suffix(".json").read_text())
    assert document["complete"] and document["tasks"] == ["rte"]
    assert set(document["per_task"]["rte"]["methods"]) == set(METHODS)
    assert len(list((tmp_path / "cache" / "runs").glob("*.json"))) == 2
    for suffix in (".csv", ".md", ".png"):
        assert out.with_suffix(suffix).is_file()


@pytest.mark.parametrize("bad", [["--methods", "nosuch"], ["--tasks", "qqp"], ["--budget", "nosuch"]])
def test_campaign_script_refuses_bad_names_in_one_line(bad):
    """Oracle: argparse's usage error, exit code 2, and no traceback, before any run or report."""
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "compare_medium.py"), "--report-only", *bad],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 2 and "Traceback" not in done.stderr and not done.stdout
    assert done.stderr.strip().splitlines()[-1].startswith("compare_medium.py: error: ")


def test_medium_budget_is_per_task():
    assert get_budget("medium", "rte").train_size is None and get_budget("medium", "sst2").train_size
    assert {get_budget("medium", t).seeds for t in ("sst2", "cola", "stsb", "mrpc", "rte")} == {(0, 1, 2)}
    with pytest.raises(ValueError, match="per task"):
        get_budget("medium")
    assert get_budget("gpu-full").train_size is None and get_budget("gpu-full").sweep == "first-seed"
