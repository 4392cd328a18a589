"""sweepkit.records: the tolerant run.json reader, the mapping to the manifest record, the rank
annotation and the containment check."""

import os

import pytest

from sweepkit.records import (
    RUN_RECORD,
    has_run_record,
    is_inside,
    job_run_id,
    manifest_record,
    read_run_record,
    with_ranks,
)


def test_read_run_record_is_none_for_missing_corrupt_non_object_or_linked(tmp_path):
    job = tmp_path / "0"
    job.mkdir()
    assert read_run_record(job) is None and not has_run_record(job)  # missing
    (job / RUN_RECORD).write_text('{"status": "runn')  # torn
    assert read_run_record(job) is None
    (job / RUN_RECORD).write_text("[1, 2]")  # not an object
    assert read_run_record(job) is None
    (job / RUN_RECORD).write_text('{"status": "complete"}')
    assert read_run_record(job) == {"status": "complete"} and has_run_record(job)
    linked = tmp_path / "1"
    linked.mkdir()
    os.symlink(job / RUN_RECORD, linked / RUN_RECORD)
    assert read_run_record(linked) is None and not has_run_record(linked)  # a link is not read


def test_manifest_record_maps_run_json_fields(tmp_path):
    run = {
        "status": "complete",
        "run_name": "mlp_003",
        "job_num": 3,
        "metric_name": "val_loss",
        "best_value": 0.25,
        "best_epoch": 4,
        "epoch": 6,
        "max_epochs": 10,
        "best_values": {"val_loss": 0.25, "n_params": 100.0},
        "checkpoint": "/x/best_model.pth",
        "params": {"lr": 0.1},
        "test": {"mse": 0.3},
        "started_at": 1.0,
        "ended_at": 2.0,
    }
    record = manifest_record(tmp_path, tmp_path / "3", run)
    assert record["run_id"] == "3" and record["run_name"] == "mlp_003"
    assert (record["metric_value"], record["best_epoch"], record["epochs_run"]) == (0.25, 4, 6)
    assert record["metric_values"] == run["best_values"]
    assert record["source_checkpoint"] == "/x/best_model.pth" and record["status"] == "complete"
    empty = manifest_record(tmp_path, tmp_path / "7", {})
    assert empty["run_name"] == "7" and empty["params"] == {} and empty["status"] is None
    assert "metric_values" not in empty and empty["metric_value"] is None
    assert job_run_id(tmp_path, tmp_path, {"run_name": "single"}) == "single"


def test_with_ranks_marks_ranked_and_unranked_runs():
    records = [{"run_id": "0", "source_config": "/s/0/config.yaml"}, {"run_id": "1"}]
    top = [{"run_id": "1", "rank": 1, "checkpoint": "best_models/rank_01_b_best_model.pth", "config": None}]
    out = with_ranks(records, top)
    assert out[0] == {
        "run_id": "0",
        "source_config": "/s/0/config.yaml",
        "rank": None,
        "checkpoint": None,
        "config": "/s/0/config.yaml",
    }
    assert out[1]["rank"] == 1 and out[1]["checkpoint"].endswith("best_model.pth")
    assert "on_front" not in out[0] and records[0] == {"run_id": "0", "source_config": "/s/0/config.yaml"}
    assert [r["on_front"] for r in with_ranks(records, top, front=[{"run_id": "0"}])] == [True, False]


@pytest.mark.parametrize("inside", [True, False])
def test_is_inside_resolves_links(tmp_path, inside):
    root, other = tmp_path / "root", tmp_path / "other"
    (root / "job").mkdir(parents=True)
    other.mkdir()
    assert is_inside(root, root) and is_inside(root / "job" / "missing.pth", root)
    assert not is_inside(other, root) and not is_inside(root / ".." / "other", root)
    link = root / "link"
    os.symlink(root / "job" if inside else other, link)
    assert is_inside(link, root) is inside  # a link that leads out of the root is outside
    assert is_inside(link.parent, root)  # its directory is inside either way
