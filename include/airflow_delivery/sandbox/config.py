"""How a sandbox behaves: controller timings and which images or commands misbehave.

Tests keep timings short (pods Ready after 0.2 s); the demo uses the defaults, which look more like a
real cluster without making anyone wait long.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SandboxConfig:
    """Behaviour knobs; every field can also be changed at runtime through ``PUT /sandbox/config``.

    Image patterns are shell globs matched against the full image reference (``registry/app:tag``),
    e.g. ``"*:broken"`` or ``"example.com/app:v2*"``.
    """

    ready_after: float = 2.0
    """Seconds from a pod's creation until its containers run and it becomes Ready."""
    broken_images: list[str] = field(default_factory=list)
    """Images whose pull fails: pods stay Pending with ErrImagePull / ImagePullBackOff."""
    unready_images: list[str] = field(default_factory=list)
    """Images that run but whose readiness check always fails: pods Running but never Ready."""
    failing_job_images: list[str] = field(default_factory=list)
    """Images whose containers exit 1 when run by a Job (a command ``exit N`` does the same)."""
    job_duration: float | None = None
    """Seconds a Job's pod runs before it terminates; ``None`` means ``ready_after``."""
    tick: float = 0.05
    """How often controllers re-check time-based progress (readiness, deadlines) when nothing changes."""
    event_history: int = 20000
    """Watch events kept for ``resourceVersion`` resume; older resume points get 410 Expired."""

    def __post_init__(self) -> None:
        if self.ready_after < 0:
            raise ValueError(f"ready_after must be >= 0 seconds, got {self.ready_after!r}")
        if self.tick <= 0:
            raise ValueError(f"tick must be > 0 seconds, got {self.tick!r}")
        if self.job_duration is not None and self.job_duration < 0:
            raise ValueError(f"job_duration must be >= 0 seconds or None, got {self.job_duration!r}")

    @property
    def effective_job_duration(self) -> float:
        return self.ready_after if self.job_duration is None else self.job_duration

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update (the admin endpoint); unknown keys are refused, naming the valid ones."""
        valid = set(self.__dataclass_fields__)
        unknown = sorted(set(changes) - valid)
        if unknown:
            raise ValueError(f"unknown sandbox config keys {unknown}; valid keys are {sorted(valid)}")
        for key, value in changes.items():
            setattr(self, key, value)
        self.__post_init__()

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def image_matches(image: str, patterns: list[str]) -> bool:
    """True when ``image`` matches one of the glob ``patterns``."""
    return any(fnmatch.fnmatchcase(image, pattern) for pattern in patterns)
