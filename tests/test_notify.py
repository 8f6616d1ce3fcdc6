"""Notifications through apprise: `notify test`, config.toml targets, the back-off of an
unreachable target, and the URL kept secret. A real receiver on 127.0.0.1 behind an apprise
json:// URL; a closed port for a target that cannot be reached."""

from __future__ import annotations

import time

import pytest

from conftest import modules_after, run_cli
from tui_support import make_app, screen_text, sync, wait_for
from notify_receiver import Receiver, closed_port
from launcher.sentinel import notify

TOKEN = "tok3nS3cr3tXYZ"


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_notify_test_says_in_one_line_that_the_message_arrived(receiver):
    url = receiver.url(f"hook/{TOKEN}")
    result = run_cli("notify", "test", url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"delivered to json://127.0.0.1:{receiver.port}\n" and not result.stderr
    [message] = receiver.messages
    assert message["path"] == f"/hook/{TOKEN}" and message["title"] == "frcnn-tui: test"
    assert "test message" in message["message"]


def test_notify_test_of_an_unreachable_target_says_why_in_one_line():
    port = closed_port()
    result = run_cli("notify", "test", f"json://127.0.0.1:{port}/{TOKEN}")
    assert result.returncode == 1 and not result.stderr
    assert result.stdout.startswith(f"not delivered to json://127.0.0.1:{port}: ")
    assert len(result.stdout.splitlines()) == 1 and TOKEN not in result.stdout


def test_notify_test_uses_the_configured_targets(receiver, frcnn_home):
    (frcnn_home / "config").mkdir(parents=True, exist_ok=True)
    (frcnn_home / "config" / "config.toml").write_text(f'notify = ["{receiver.url(TOKEN)}"]\n'
                                                       'notify_events = ["finished", "failed"]\n')
    result = run_cli("notify", "test", "--json")
    assert result.returncode == 0, result.stderr
    assert f'"target": "json://127.0.0.1:{receiver.port}"' in result.stdout and TOKEN not in result.stdout
    assert len(receiver.messages) == 1
    assert notify.configured()[0].kinds == ("finished", "failed")


@pytest.mark.parametrize("args, config, expected", [
    (["notify", "test"], None, "no notification target"),
    (["notify", "test", "not-a-url"], None, "without scheme://"),
    (["notify", "test", f"nosuchservice://{TOKEN}/x"], None, "nosuchservice://… is not a URL apprise knows"),
    (["notify", "test"], 'notify = 5\n', "'notify' must be a list of apprise URLs"),
    (["notify", "test"], 'notify = ["json://h/"]\nnotify_events = ["finished", "nope"]\n', "'notify_events' must be"),
    (["notify", "test"], 'notify = [\n', "config.toml"),
    (["launch", "--preset", "demo-cpu", "--cpu", "--notify", f"{TOKEN}"], None, "without scheme://"),
])
def test_bad_notify_input_is_one_line_and_exit_2(args, config, expected, frcnn_home):
    if config is not None:
        (frcnn_home / "config").mkdir(parents=True, exist_ok=True)
        (frcnn_home / "config" / "config.toml").write_text(config)
    result = run_cli(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1 and expected in result.stderr, result.stderr
    assert TOKEN not in result.stdout + result.stderr and "Traceback" not in result.stderr


def test_a_target_that_comes_back_is_retried_with_back_off_until_it_arrives():
    port = closed_port()
    gave_up = []
    notifier = notify.Notifier([notify.Target(f"json://127.0.0.1:{port}/{TOKEN}")],
                               lambda *a: gave_up.append(a), base_s=0.5, tries=6)
    notifier.start()
    start = time.monotonic()
    notifier.submit({"kind": "finished", "job": "j", "text": "done", "details": {}})
    deadline = time.monotonic() + 20
    while not notifier.attempts and time.monotonic() < deadline:  # the first try fails: nothing listens yet
        time.sleep(0.02)
    assert notifier.attempts == 1 and not notifier.delivered
    receiver = Receiver(port)
    try:
        notifier.drain(time.monotonic() + 20)
        assert [m["message"] for m in receiver.messages] == ["done"] and not gave_up
        assert notifier.attempts >= 2 and time.monotonic() - start >= 0.5  # on a retry, after the back-off
    finally:
        receiver.close()


def test_an_unreachable_target_is_given_up_after_its_tries_and_said_once():
    port = closed_port()
    gave_up = []
    notifier = notify.Notifier([notify.Target(f"json://127.0.0.1:{port}/{TOKEN}")],
                               lambda target, event, tries, reason: gave_up.append((target.name, tries, reason)),
                               base_s=0.1, tries=3)
    notifier.start()
    start = time.monotonic()
    notifier.submit({"kind": "failed", "job": "j", "text": "boom", "details": {}})
    notifier.submit({"kind": "lr-after-resume", "job": "j", "text": "not a default kind", "details": {}})
    notifier.drain(time.monotonic() + 20)
    assert [(name, tries) for name, tries, _ in gave_up] == [(f"json://127.0.0.1:{port}", 3)]
    assert time.monotonic() - start >= 0.1 + 0.2  # back-off: 0.1 s, then 0.2 s
    assert TOKEN not in gave_up[0][2]


@pytest.mark.parametrize("url, shown", [
    (f"json://127.0.0.1:8080/{TOKEN}", "json://127.0.0.1:8080"),
    (f"json://user:{TOKEN}@hooks.example.com/x", "json://hooks.example.com"),
    (f"tgram://123456:{TOKEN}/987", "tgram://…"),
    (f"discord://4174216298/{TOKEN}", "discord://…"),
    (f"ntfy://{TOKEN}", "ntfy://…"),
    (f"slack://{TOKEN}/B/C", "slack://…"),
])
def test_a_url_is_shown_by_its_scheme_and_plain_host_only(url, shown):
    assert notify.redact(url) == shown
    assert TOKEN not in notify.scrub(f"error sending to {url}: refused", url)


def test_apprise_is_not_imported_at_start_up():
    loaded = modules_after("import tui.entry, launcher.cli.main, launcher.jobs.local, launcher.jobs.summary")
    assert "apprise" not in loaded



@sync
async def test_the_plan_screens_notify_field_is_masked_and_reaches_the_launch(fake_gpus, monkeypatch):
    from textual.widgets import Input, Static

    from recorded_inspection import use_recorded_inspection
    from tui.screens.plan import PlanScreen

    use_recorded_inspection(monkeypatch)
    fake_gpus("eight")
    url = f"json://127.0.0.1:8080/{TOKEN}"
    app = make_app()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        app.open_plan("r50-fpn-1x")
        await wait_for(pilot, lambda: isinstance(app.screen, PlanScreen) and app.screen.cpu is not None,
                       what="the plan screen")
        screen = app.screen
        field = screen.query_one("#notify", Input)
        field.focus()
        await pilot.press(*"ntfy://x")  # a second target, typed
        field.value = f"{url} {field.value}"
        await pilot.pause()
        assert screen.build_request().notify == [url, "ntfy://x"]
        assert notify.plan_entry(screen.build_request()) == {"notify": [url, "ntfy://x"]}  # what plan.json keeps
        assert TOKEN not in screen_text(app) and "json://" not in screen_text(app)  # masked
        field.value = f"not-a-url-{TOKEN}"
        await wait_for(pilot, lambda: "notify takes an apprise URL" in str(screen.query_one("#lr-view", Static).content),
                       what="the bad URL's error")
        assert TOKEN not in screen_text(app)
