"""Start a pipeline when a branch of a git remote moves: polled with ``git ls-remote``, no webhook.

Polling needs no inbound connection, so it works for laptops and private clusters that the git host
cannot reach. Used in an ``AssetWatcher``: the last commit seen is kept in the 3.3 asset state store
and written BEFORE the event is yielded, so each commit starts exactly one run, also across triggerer
restarts. The first start records the current commit instead of starting a run for it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


class GitError(RuntimeError):
    """``git ls-remote`` failed; the message carries git's own explanation."""


async def remote_head(remote: str, branch: str, timeout: float = 60.0) -> str | None:
    """The commit ``branch`` points at on ``remote``, or None if the branch does not exist."""
    ref = f"refs/heads/{branch}"
    process = await asyncio.create_subprocess_exec(
        "git", "ls-remote", "--exit-code", remote, ref,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin:/usr/local/bin"},
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise GitError(f"git ls-remote {remote} timed out after {timeout:.0f}s") from None
    if process.returncode == 2:  # --exit-code: no matching ref
        return None
    if process.returncode != 0:
        raise GitError(f"git ls-remote {remote} {ref} failed: {err.decode(errors='replace').strip()}")
    for line in out.decode().splitlines():
        sha, _, name = line.partition("\t")
        if name == ref and _SHA.match(sha):
            return sha
    return None


class GitCommitTrigger(BaseEventTrigger):
    """Fire once per new commit at the head of ``branch`` on ``remote``.

    Payload: ``{"remote", "branch", "commit", "previous"}``.
    """

    def __init__(self, *, remote: str, branch: str = "main", poll_interval: float = 60.0) -> None:
        super().__init__()
        if not remote.strip():
            raise ValueError("remote must be a git URL or path")
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be positive, got {poll_interval!r}")
        self.remote = remote
        self.branch = branch
        self.poll_interval = poll_interval
        self._memory: dict[str, Any] = {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"remote": self.remote, "branch": self.branch, "poll_interval": self.poll_interval},
        )

    @property
    def _key(self) -> str:
        return f"git:{self.remote}#{self.branch}"

    async def _get(self) -> str | None:
        store = getattr(self, "asset_state_store", None)
        if store is None:
            return self._memory.get(self._key)
        value = await store.aget(self._key, None)
        return str(value) if value else None

    async def _set(self, commit: str) -> None:
        store = getattr(self, "asset_state_store", None)
        if store is None:
            self._memory[self._key] = commit
        else:
            await store.aset(self._key, commit)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        failures = 0
        while True:
            try:
                head = await remote_head(self.remote, self.branch)
            except GitError as error:
                failures += 1
                delay = min(self.poll_interval * 2**failures, 900.0)
                self.log.warning("%s; retrying in %.0fs", error, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            seen = await self._get()
            if head is not None and seen is None:
                await self._set(head)
                self.log.info("First start: %s %s is at %s; runs start for new commits only",
                              self.remote, self.branch, head[:12])
            elif head is not None and head != seen:
                await self._set(head)  # before yielding: at most one run per commit
                self.log.info("New commit on %s %s: %s", self.remote, self.branch, head[:12])
                yield TriggerEvent({"remote": self.remote, "branch": self.branch, "commit": head, "previous": seen})
            await asyncio.sleep(self.poll_interval)
