"""The TUI's event feed (tui/event_toasts.EventFeed) follows only jobs whose events.jsonl can
still grow, and still gets a sentinel's last event: real sentinels (python -m launcher.sentinel,
as launch.sh starts them) on run dirs in MMEngine's format, a real registry."""

from __future__ import annotations

import time

import psutil

from launcher import paths
from launcher.jobs import registry
from launcher.sentinel import events, presence
from test_identity import detached, entry, reap  # noqa: F401
from test_sentinel import logged_run, start_sentinel
from tui_support import add_job
from tui.event_toasts import EventFeed


def live_job(job_id: str, reap) -> tuple[registry.JobRecord, object]:  # noqa: F811
    """A running job (a sleeper carrying its marker) with its sentinel running."""
    leader = detached(["sleep", "300"], job_id)
    reap(leader)
    run_dir = logged_run(paths.runs_dir() / job_id, notify=[])
    record = entry(job_id, "demo-cpu", leader.pid, psutil.Process(leader.pid).create_time())
    assert record.run_path == run_dir
    _, sentinel = start_sentinel(run_dir, job_id, reap)
    return record, sentinel


def test_the_feed_lets_go_of_ended_jobs_gets_a_sentinels_last_event_and_follows_a_resumed_job(reap):  # noqa: F811
    old = add_job("20261207-040000-old1", status="succeeded")  # no sentinel: nothing writes its events
    live, sentinel = live_job("20261207-040000-live", reap)
    gone, gone_sentinel = live_job("20261207-040000-gone", reap)
    feed = EventFeed()
    assert feed.new_events() == []  # what is there already is not news
    assert feed.following() == {live.id, gone.id}

    gone_sentinel.kill()
    gone_sentinel.wait()
    assert presence.state(gone.run_path) == presence.GONE
    feed.new_events()
    assert feed.following() == {live.id}  # the job runs on, but nothing will write its events

    # The job ends: its sentinel writes 'finished', then says it ended. Looked at all along, the
    # event is seen once, whichever look the end falls between.
    (live.run_path / registry.EXIT_FILE).write_text("0\n")
    found = []
    while sentinel.poll() is None:
        found += feed.new_events()
        time.sleep(0.002)
    found += feed.new_events()
    assert [(e["kind"], e["name"]) for e in found] == [("finished", "demo-cpu")]
    assert feed.following() == set()
    assert feed.new_events() == []

    # A resume rewrites the entry: followed again, though the earlier sentinel.json says ended.
    time.sleep(0.01)
    (live.run_path / registry.EXIT_FILE).unlink()
    registry.save(live)
    feed.new_events()
    assert feed.following() == {live.id}
    events.append(live.run_path, "stalled", live.id, "no iteration for 10 min")
    assert [e["kind"] for e in feed.new_events()] == ["stalled"]
    assert old.id not in feed.following()
