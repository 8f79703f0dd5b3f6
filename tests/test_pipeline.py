"""The whole study on the ``tiny`` preset: shape, resume, refusals."""

import json
import os

import pytest

from molap_np import pipeline
from molap_np.cli import main
from molap_np.tasks import TASK_NAMES

pytestmark = pytest.mark.slow

STRATEGIES = ("molap", "no_pretraining", "separate", "dni", "joint")


def _without_timing(results):
    return {k: v for k, v in results.items() if k != "timing"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny") / "run"
    results = pipeline.run_pipeline("tiny", str(out), seed=3, workers=2, verbose=False)
    return out, results


def test_tiny_run_writes_report_and_documented_json(tiny_run):
    out, results = tiny_run
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results))
    assert on_disk["seed"] == 3 and on_disk["preset"] == "tiny"
    for name in STRATEGIES:
        entry = on_disk["strategies"][name]
        assert isinstance(entry["trainable_params"], int)
        assert entry["trainable_params"] > 0 and entry["updates"] > 0
        for task in pipeline.PRESETS["tiny"]["tasks"]:
            scores = entry["tasks"][task]
            assert 0.0 <= scores["paper_accuracy"] <= 1.0
            assert 0.0 <= scores["strict_accuracy"] <= 1.0
    for key in ("perturbations", "generalisation", "timing"):
        assert on_disk[key]
    learned = on_disk["perturbations"]["learned"]
    assert set(learned["strategies"]) | set(learned["left_out"]) == {
        "molap_cca",
        *STRATEGIES,
    }
    stages = on_disk["timing"]["stages"]
    assert [stages[s]["units"] for s in stages] == [6, 6, 1]
    assert on_disk["timing"]["resumed"] is False
    report = (out / "report.md").read_text()
    assert "## Robustness" in report and "## Generalisation" in report
    for line in report.splitlines():
        if line.startswith("!["):
            target = line[line.index("(") + 1 : line.index(")")]
            assert (out / target).is_file(), target


def test_interrupted_run_resumes_to_the_same_results(tiny_run, tmp_path, monkeypatch):
    _, reference = tiny_run
    out = str(tmp_path / "run")

    def interrupted(*args, **kwargs):
        raise RuntimeError("simulated interruption")

    monkeypatch.setattr(pipeline, "generalisation_unit", interrupted)
    with pytest.raises(RuntimeError, match="simulated"):
        pipeline.run_pipeline("tiny", out, seed=3, workers=1, verbose=False)
    assert not os.path.exists(os.path.join(out, "results.json"))
    finished = os.listdir(os.path.join(out, "units"))
    assert any(name.startswith("strategy-") for name in finished)

    monkeypatch.undo()
    # Serial after parallel: the results may not depend on the worker count.
    resumed = pipeline.run_pipeline("tiny", out, seed=3, workers=1, verbose=False)
    assert _without_timing(resumed) == _without_timing(reference)
    assert resumed["timing"]["resumed"] is True


def test_other_arguments_against_a_run_folder_are_refused(tiny_run):
    out, _ = tiny_run
    before = (out / "results.json").read_bytes()
    with pytest.raises(pipeline.RunFolderError, match="seed"):
        pipeline.run_pipeline("tiny", str(out), seed=4, verbose=False)
    assert (out / "results.json").read_bytes() == before


def test_unwritable_folder_and_unknown_preset_fail_clearly(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(pipeline.RunFolderError, match="cannot create"):
        pipeline.run_pipeline("tiny", str(blocker / "run"), verbose=False)
    with pytest.raises(ValueError, match="quick"):
        pipeline.run_pipeline("fast", str(tmp_path / "x"), verbose=False)
    with pytest.raises(SystemExit):
        main(["run", "--preset", "fast"])
    assert "invalid choice" in capsys.readouterr().err


def test_presets_name_every_task():
    assert pipeline.PRESETS["quick"]["tasks"] == list(TASK_NAMES)
    assert pipeline.PRESETS["paper"]["tasks"] == list(TASK_NAMES)
