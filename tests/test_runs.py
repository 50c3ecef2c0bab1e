from datetime import UTC, datetime

import pytest

from director.errors import InputError, RunNotFound
from director.memory.events import EventLog
from director.memory.runs import (
    create_run,
    ensure_writable,
    list_runs,
    new_run_id,
    resolve_run,
    validate_run_id,
)
from director.records import RunFinished, RunStarted


@pytest.mark.parametrize("bad", ["../x", "a/b", "..", "", ".hidden", "a\\b", "x" * 81, "名字"])
def test_unsafe_run_ids_are_refused(bad):
    with pytest.raises(InputError, match="not safe"):
        validate_run_id(bad)


def test_generated_ids_are_safe_for_any_logline():
    when = datetime(2026, 11, 22, 1, 2, 3, tzinfo=UTC)
    for logline in ["In 2075 the last human", "2075年，地球上最后一个人类", "../../etc/passwd"]:
        run_id = new_run_id(logline, 7, when)
        assert validate_run_id(run_id) == run_id
        assert run_id.startswith("20261122-010203-")


def test_an_existing_run_id_is_refused(tmp_path):
    create_run(tmp_path, "film-1")
    with pytest.raises(InputError, match="already exists"):
        create_run(tmp_path, "film-1")


def test_an_unwritable_runs_folder_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(InputError, match="Cannot write to the runs folder"):
        ensure_writable(blocker / "runs")


def test_runs_are_found_by_id_or_path_and_listed(tmp_path):
    paths = create_run(tmp_path, "film-1")
    log = EventLog(paths.events)
    log.append(RunStarted(run_id="film-1", logline="a garden", options={}, versions={}))
    log.append(RunFinished(status="completed", seconds=3.0))
    assert resolve_run("film-1", tmp_path).root == paths.root.resolve()
    assert resolve_run(str(paths.root), tmp_path / "elsewhere").root == paths.root.resolve()
    [summary] = list_runs(tmp_path)
    assert (summary.run_id, summary.status, summary.seconds) == ("film-1", "completed", 3.0)
    with pytest.raises(RunNotFound):
        resolve_run("film-2", tmp_path)
