import pytest

from director.errors import InputError
from director.memory.events import EventLog, read_events, repair
from director.records import RunFinished, StageStarted


def test_events_are_numbered_timestamped_and_read_back(tmp_path):
    log = EventLog(tmp_path / "events.jsonl")
    log.append(StageStarted(stage="develop"))
    log.append(RunFinished(status="completed", seconds=1.5))
    events = read_events(tmp_path / "events.jsonl")
    assert [e.seq for e in events] == [1, 2]
    assert events[0].ts.endswith("+00:00") and events[1].status == "completed"


def test_a_reopened_log_continues_the_numbering(tmp_path):
    EventLog(tmp_path / "e.jsonl").append(StageStarted(stage="a"))
    EventLog(tmp_path / "e.jsonl").append(StageStarted(stage="b"))
    assert [e.seq for e in read_events(tmp_path / "e.jsonl")] == [1, 2]


def test_a_torn_last_line_is_skipped_then_repaired(tmp_path):
    path = tmp_path / "events.jsonl"
    EventLog(path).append(StageStarted(stage="develop"))
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"type": "stage_started", "stage": "bi')
    assert len(read_events(path)) == 1
    assert repair(path) is True
    assert path.read_text(encoding="utf-8").endswith("\n")
    assert repair(path) is False
    EventLog(path).append(StageStarted(stage="bible"))
    assert [e.stage for e in read_events(path)] == ["develop", "bible"]


def test_a_corrupt_line_in_the_middle_is_an_error_that_says_what_to_do(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"type": "nope"}\n{"type": "stage_started", "stage": "x"}\n')
    with pytest.raises(InputError, match=r"events.jsonl:1 is not a valid event"):
        read_events(path)


def test_missing_log_is_reported(tmp_path):
    with pytest.raises(InputError, match="No event log"):
        read_events(tmp_path / "events.jsonl")


def test_a_duplicated_line_is_read_once(tmp_path):
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    log.append(StageStarted(stage="develop"))
    log.append(StageStarted(stage="beats"))
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text(lines[0] + lines[1] + lines[1] + lines[0], encoding="utf-8")
    assert [(e.seq, e.stage) for e in read_events(path)] == [(1, "develop"), (2, "beats")]
    EventLog(path).append(StageStarted(stage="bible"))  # numbering carries on after the copies
    assert [e.seq for e in read_events(path)] == [1, 2, 3]


@pytest.mark.parametrize(
    "version, fragment",
    [(2, "schema v2; this director reads v1"), ("1", "unknown event schema version '1'")],
)
def test_an_event_of_an_unknown_schema_version_is_refused(tmp_path, version, fragment):
    import json

    path = tmp_path / "events.jsonl"
    EventLog(path).append(StageStarted(stage="develop"))
    newer = {"v": version, "seq": 2, "ts": "", "type": "stage_started", "stage": "x"}
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(newer) + "\n")
    with pytest.raises(InputError, match=fragment):
        read_events(path)


def test_a_log_that_is_not_utf8_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"type": "stage_started"}\n\xff\xfe\x00garbage\n')
    with pytest.raises(InputError, match="is not UTF-8 text"):
        read_events(path)


def test_a_grouped_log_syncs_once_per_step_and_at_once_for_what_a_crash_must_not_lose(
    tmp_path, monkeypatch
):
    import os

    from director.records import JobSubmitted

    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real(fd))
    log = EventLog(tmp_path / "events.jsonl", grouped=True)
    for stage in ("develop", "bible", "shot list"):
        log.append(StageStarted(stage=stage))
    assert synced == []  # written and flushed: another process reads them already
    assert [e.stage for e in read_events(log.path)] == ["develop", "bible", "shot list"]
    log.sync()
    log.sync()  # nothing new: no second fsync
    assert len(synced) == 1
    log.append(
        JobSubmitted(shot_id="s1", kind="keyframe", job_id="t1", backend="b", model="m", job={})
    )
    assert len(synced) == 2  # a paid job's id is on disk before anything waits on it
    log.sync()
    assert len(synced) == 2
    EventLog(tmp_path / "plain.jsonl").append(StageStarted(stage="develop"))
    assert len(synced) == 3  # an ungrouped log syncs every event
