"""End to end on the real embedded backbone and real SST-2 (the README's main job, smaller): the CLI trains an
adapter on a training subset, and it must score well above the majority class on the FULL SST-2 dev set; the saved
adapter, scored again by `tinyattn-lab evaluate`, must reproduce the best dev metric exactly."""

import json

import pytest
import torch

from tinyattn_lab.cli import main
from tinyattn_lab.data.glue import load_glue
from tinyattn_lab.data.metrics import majority_baseline


@pytest.mark.slow
def test_cli_trains_sst2_above_majority_and_evaluate_reproduces_it(tmp_path, mirror_dir, minilm_path, capsys):
    run = tmp_path / "sst2"
    code = main(["train", "--task", "sst2", "--output", str(run), "--data-dir", str(mirror_dir),
                 "--train-size", "3000", "--evals-per-epoch", "2", "--lr", "3e-3", "--no-progress"])
    assert code == 0
    metrics = json.loads((run / "metrics.json").read_text())
    dev_labels = load_glue("sst2", mirror_dir, splits=["validation"])["validation"]["label"]
    majority = majority_baseline("sst2", list(dev_labels))["accuracy"]
    assert metrics["eval_examples"] == {"validation": 872}  # the full dev set
    assert metrics["best"]["accuracy"] > majority + 0.2, (metrics["best"], majority)  # about 0.79 vs 0.51
    assert metrics["parameters"]["trainable"] == metrics["parameters"]["adapter"] + metrics["parameters"]["head"]
    assert metrics["train_examples_per_second"] > 0
    assert sorted(p.name for p in (run / "adapter").iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]

    capsys.readouterr()
    assert main(["evaluate", str(run / "adapter"), "--data-dir", str(mirror_dir)]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["accuracy"] == pytest.approx(metrics["best"]["accuracy"], abs=1e-12)


@pytest.mark.slow
def test_interrupted_run_resumes_from_its_checkpoint(tmp_path, mirror_dir, minilm_path):
    """--stop-after-steps leaves a checkpoint; the same command again finishes the run from there."""
    run = tmp_path / "rte"
    argv = ["train", "--task", "rte", "--output", str(run), "--data-dir", str(mirror_dir), "--train-size", "64",
            "--eval-size", "32", "--batch-size", "16", "--evals-per-epoch", "2", "--no-progress"]
    assert main([*argv, "--stop-after-steps", "2"]) == 0
    first = json.loads((run / "metrics.json").read_text())
    assert (first["finished"], first["steps"]) == (False, 2)
    assert main(argv) == 0
    second = json.loads((run / "metrics.json").read_text())
    assert (second["finished"], second["steps"]) == (True, 4)
    assert [h["step"] for h in second["history"]] == [2, 4]  # step 2 was evaluated once, before the interruption


@pytest.mark.slow
def test_same_seed_same_adapter(tmp_path, mirror_dir, minilm_path):
    """Oracle: an exact round trip; --seed fixes the adapter's and the head's initialisation, the data order and the
    dropout, so two runs give identical weights whatever the random state before them, and another seed does not."""
    from safetensors.torch import load_file

    def trained(name, seed):
        run = tmp_path / name
        assert main(["train", "--task", "rte", "--output", str(run), "--data-dir", str(mirror_dir), "--train-size",
                     "32", "--eval-size", "16", "--batch-size", "16", "--evals-per-epoch", "1", "--seed", str(seed),
                     "--no-progress"]) == 0
        return load_file(run / "adapter" / "adapter_model.safetensors")

    first, again, other = trained("a", 7), trained("b", 7), trained("c", 8)
    assert first.keys() == again.keys() == other.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)
