"""The git watcher against a real local repository: baseline first, then one event per new commit."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest

from airflow_delivery.triggers.git import GitCommitTrigger, GitError, remote_head


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True, capture_output=True, text=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "app"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "commit", "-q", "--allow-empty", "-m", "first")
    return path


class Store:
    """Stands in for Airflow's asset state store API (aget/aset), which only exists in a triggerer."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = value


def test_serialize() -> None:
    trigger = GitCommitTrigger(remote="/srv/app.git", branch="release", poll_interval=5)
    assert trigger.serialize() == (
        "airflow_delivery.triggers.git.GitCommitTrigger",
        {"remote": "/srv/app.git", "branch": "release", "poll_interval": 5},
    )


def test_remote_head_and_errors(repo: Path, tmp_path: Path) -> None:
    assert asyncio.run(remote_head(str(repo), "main")) == git(repo, "rev-parse", "HEAD")
    assert asyncio.run(remote_head(str(repo), "nope")) is None
    with pytest.raises(GitError, match="failed"):
        asyncio.run(remote_head(str(tmp_path / "missing"), "main"))


def test_baseline_then_one_event_per_commit_surviving_a_restart(repo: Path) -> None:
    store = Store()

    async def scenario() -> list[dict[str, Any]]:
        events = []
        trigger = GitCommitTrigger(remote=str(repo), poll_interval=0.05)
        trigger.asset_state_store = store  # what the 3.3 triggerer injects
        runner = trigger.run()
        first_task = asyncio.ensure_future(runner.asend(None))
        await asyncio.sleep(0.3)
        assert not first_task.done(), "the first start must not fire for the existing commit"
        git(repo, "commit", "-q", "--allow-empty", "-m", "second")
        events.append((await asyncio.wait_for(first_task, 10)).payload)
        await runner.aclose()
        # A restarted trigger (new instance, same store) does not fire again for the same commit...
        again = GitCommitTrigger(remote=str(repo), poll_interval=0.05)
        again.asset_state_store = store
        runner = again.run()
        task = asyncio.ensure_future(runner.asend(None))
        await asyncio.sleep(0.3)
        assert not task.done()
        # ...but does for the next one.
        git(repo, "commit", "-q", "--allow-empty", "-m", "third")
        events.append((await asyncio.wait_for(task, 10)).payload)
        await runner.aclose()
        return events

    events = asyncio.run(scenario())
    assert [e["commit"] for e in events] == [git(repo, "rev-parse", "HEAD~1"), git(repo, "rev-parse", "HEAD")]
    assert events[1]["previous"] == events[0]["commit"]
