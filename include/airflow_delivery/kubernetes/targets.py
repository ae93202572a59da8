"""Which object a manifest stage acts on: a named object, or a dynamic target of a versioned cluster.

Spinnaker's patch, scale, delete, undo and find-artifacts stages name their object either statically
(``manifestName: "deployment web"``) or dynamically: "the ``second_newest`` ReplicaSet of cluster
``web``", resolved at run time among the versions ``web-v000``, ``web-v001``... (see ``versioning``).
Written here once, pure (no Airflow, no client), so the operators, the stage specs and the tests share
one parser with one set of error messages.

Accepted forms:

* ``"deployment web"`` / ``"Deployment web"``: Spinnaker's ``manifestName`` (kind, space, name);
* ``{"kind": "Deployment", "name": "web", "namespace": "prod", "api_version": "apps/v1"}``;
* ``{"kind": "ReplicaSet", "cluster": "web", "criteria": "second_newest", "namespace": "prod"}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_delivery.kubernetes.versioning import CRITERIA, TargetNotFoundError, select_target

__all__ = ["KIND_ALIASES", "ManifestTarget", "TargetError", "TargetNotFoundError", "canonical_kind"]

# Spinnaker writes kinds in lower case ("deployment web", "replicaSet web-v002"); the API is case-sensitive.
KIND_ALIASES: dict[str, str] = {
    kind.lower(): kind
    for kind in (
        "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod", "Service", "ConfigMap",
        "Secret", "Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceAccount", "Namespace",
        "NetworkPolicy", "PersistentVolumeClaim", "VirtualService", "DestinationRule", "HTTPRoute", "Gateway",
    )
}
_FIELDS = frozenset({"kind", "name", "namespace", "api_version", "cluster", "criteria"})


class TargetError(ValueError):
    """A target is malformed; the message says which field and what to write instead."""


def canonical_kind(kind: str) -> str:
    """``deployment`` -> ``Deployment``; unknown kinds are returned unchanged (custom resources)."""
    return KIND_ALIASES.get(kind.lower(), kind)


@dataclass(frozen=True)
class ManifestTarget:
    """A static (``name``) or dynamic (``cluster`` + ``criteria``) target of kind ``kind``.

    ``namespace`` ``None`` means the connection's default namespace.
    """

    kind: str
    name: str | None = None
    namespace: str | None = None
    api_version: str | None = None
    cluster: str | None = None
    criteria: str | None = None

    def __post_init__(self) -> None:
        if not self.kind or not isinstance(self.kind, str):
            raise TargetError("target: kind is missing; write e.g. {kind: Deployment, name: web}")
        if (self.name is None) == (self.cluster is None):
            raise TargetError(
                f"target {self.kind}: give exactly one of name (a fixed object) or cluster + criteria "
                "(a version chosen at run time)"
            )
        if self.cluster is not None and self.criteria not in CRITERIA:
            raise TargetError(
                f"target {self.kind} of cluster {self.cluster!r}: criteria {self.criteria!r} must be one of "
                f"{', '.join(CRITERIA)}"
            )
        if self.name is not None and self.criteria is not None:
            raise TargetError(f"target {self.kind} {self.name!r}: criteria only applies with cluster, not name")
        for key in ("name", "cluster", "namespace", "api_version"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise TargetError(f"target {self.kind}: {key} {value!r} must be a non-empty string")

    @classmethod
    def parse(cls, spec: str | Mapping[str, Any] | ManifestTarget, *, namespace: str | None = None) -> ManifestTarget:
        """A target from its text or mapping form; ``namespace`` fills in when the spec names none."""
        if isinstance(spec, ManifestTarget):
            target = spec
        elif isinstance(spec, str):
            words = spec.split()
            if len(words) != 2:
                raise TargetError(
                    f"target {spec!r}: write 'KIND NAME' (e.g. 'deployment web') or a mapping with kind and name "
                    "or kind, cluster and criteria"
                )
            target = cls(kind=canonical_kind(words[0]), name=words[1])
        elif isinstance(spec, Mapping):
            unknown = sorted(set(spec) - _FIELDS)
            if unknown:
                raise TargetError(f"target: unknown keys {unknown}; valid keys are {sorted(_FIELDS)}")
            kind = spec.get("kind")
            if not isinstance(kind, str) or not kind:
                raise TargetError(f"target {dict(spec)!r}: kind is missing; write e.g. {{kind: Deployment, name: web}}")
            target = cls(
                kind=canonical_kind(kind),
                name=spec.get("name"),
                namespace=spec.get("namespace"),
                api_version=spec.get("api_version"),
                cluster=spec.get("cluster"),
                criteria=spec.get("criteria"),
            )
        else:
            raise TargetError(f"target must be 'KIND NAME' or a mapping, got {type(spec).__name__}")
        if target.namespace is None and namespace:
            target = ManifestTarget(**{**target.as_dict(), "namespace": namespace})
        return target

    @property
    def dynamic(self) -> bool:
        return self.cluster is not None

    def as_dict(self) -> dict[str, Any]:
        """The mapping form (``parse`` round-trips it); keys with ``None`` are left out."""
        keys = ("kind", "name", "namespace", "api_version", "cluster", "criteria")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}

    def describe(self) -> str:
        where = f" in namespace {self.namespace}" if self.namespace else ""
        if self.dynamic:
            return f"the {str(self.criteria).replace('_', ' ')} {self.kind} of cluster {self.cluster!r}{where}"
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}"

    def resolve(self, objects: Iterable[Mapping[str, Any]]) -> Mapping[str, Any]:
        """The object a dynamic target means among ``objects`` (API dicts of this kind and namespace).

        Raises ``TargetNotFoundError`` (listing what exists) when no version matches.
        """
        if not self.dynamic:
            raise TargetError(f"{self.describe()} is not a dynamic target: there is nothing to resolve")
        return select_target(objects, str(self.cluster), str(self.criteria), kind=self.kind)
