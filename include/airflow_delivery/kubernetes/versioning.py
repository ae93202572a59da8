"""Spinnaker's versioned objects: ``<name>-vNNN``, choosing versions, dynamic targets and pruning.

Highlander and red/black deploy each release as a new object (``api-v004``) beside the previous ones
and move traffic by label, so a rollback is "send traffic back to ``api-v003``". ConfigMaps and
Secrets are versioned the same way and the pod templates are rewritten to reference the new names,
so rolling back a workload also rolls back its configuration (a plain ``kubectl rollout undo``
cannot: the ConfigMap it reads has already changed).

Versions run ``v000`` to ``v999`` and wrap; "newest" therefore means newest by creation time (then by
number), never the largest number. An identical manifest reuses its existing version instead of
creating a copy (compared by the content hash stored in an annotation). Objects are plain dicts in
the API's JSON shape (camelCase, e.g. ``metadata.creationTimestamp``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from airflow_delivery.kubernetes.manifests import (
    CONTAINER_LISTS,
    CONTENT_HASH_ANNOTATION,
    DELIVERY_PREFIX,
    POD_SPEC_PATHS,
    Manifest,
    content_hash,
    label_value,
    pod_spec,
)

MAX_VERSION = 999
VERSION_LABEL = f"{DELIVERY_PREFIX}/version"
CLUSTER_LABEL = f"{DELIVERY_PREFIX}/cluster"
SEQUENCE_ANNOTATION = f"{DELIVERY_PREFIX}/sequence"
VERSIONED_ANNOTATION = "strategy.delivery.airflow.apache.org/versioned"
MAX_VERSION_HISTORY_ANNOTATION = "strategy.delivery.airflow.apache.org/max-version-history"
# Spinnaker versions these kinds unless told otherwise; strategies add Deployments.
DEFAULT_VERSIONED_KINDS = frozenset({"ConfigMap", "Secret", "ReplicaSet", "Pod"})
CONFIG_KINDS = ("ConfigMap", "Secret")
# Workloads whose selector gets the version label, so two versions never select each other's pods.
_SELECTOR_KINDS = frozenset({"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"})

Criteria = Literal["newest", "second_newest", "oldest", "largest", "smallest"]
CRITERIA: tuple[str, ...] = ("newest", "second_newest", "oldest", "largest", "smallest")

_VERSIONED_RE = re.compile(r"^(?P<base>.+)-v(?P<version>\d{3})$")


class VersioningError(ValueError):
    """A versioning request cannot be satisfied; the message says what to change."""


class TargetNotFoundError(LookupError):
    """No object matches a dynamic target; the message lists what exists."""


# --------------------------------------------------------------------------------------------
# Names


def versioned_name(base: str, version: int) -> str:
    """``api`` + 4 -> ``api-v004``."""
    if not 0 <= version <= MAX_VERSION:
        raise VersioningError(f"version {version} is out of range: versions run from 0 to {MAX_VERSION}")
    name = f"{base}-v{version:03d}"
    if len(name) > 253:
        raise VersioningError(f"versioned name {name!r} is longer than 253 characters: shorten {base!r}")
    return name


def parse_versioned_name(name: str) -> tuple[str, int] | None:
    """``api-v004`` -> ``("api", 4)``; None for a name without a version suffix."""
    match = _VERSIONED_RE.match(name)
    return (match["base"], int(match["version"])) if match else None


def is_versioned(
    manifest: Mapping[str, Any], versioned_kinds: Iterable[str] = DEFAULT_VERSIONED_KINDS
) -> bool:
    """Whether to version this manifest: its ``strategy.delivery.airflow.apache.org/versioned``
    annotation (``"true"``/``"false"``) wins, otherwise its kind decides."""
    annotations = (manifest.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(VERSIONED_ANNOTATION)
    if value is not None:
        text = str(value).strip().lower()
        if text not in ("true", "false"):
            raise VersioningError(
                f"{manifest.get('kind')} {(manifest.get('metadata') or {}).get('name')!r}: annotation "
                f"{VERSIONED_ANNOTATION}={value!r} must be 'true' or 'false'"
            )
        return text == "true"
    return manifest.get("kind") in frozenset(versioned_kinds)


def max_version_history(manifest: Mapping[str, Any]) -> int | None:
    """The ``strategy.delivery.airflow.apache.org/max-version-history`` annotation, validated."""
    annotations = (manifest.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(MAX_VERSION_HISTORY_ANNOTATION)
    if value is None:
        return None
    try:
        number = int(str(value))
    except ValueError:
        number = 0
    if number < 1:
        raise VersioningError(
            f"{manifest.get('kind')} {(manifest.get('metadata') or {}).get('name')!r}: annotation "
            f"{MAX_VERSION_HISTORY_ANNOTATION}={value!r} must be a whole number of at least 1"
        )
    return number


def version_selector(base: str) -> str:
    """Label selector listing every version of ``base`` (what the deploy labels them with)."""
    return f"{CLUSTER_LABEL}={label_value(base)}"


# --------------------------------------------------------------------------------------------
# Existing versions


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


@dataclass(frozen=True)
class VersionedObject:
    """One existing version of a cluster of versioned objects."""

    name: str
    base: str
    version: int
    created: datetime | None
    replicas: int
    content_hash: str | None
    object: Mapping[str, Any]

    @property
    def sort_key(self) -> tuple[datetime, int]:
        return (self.created or datetime.min.replace(tzinfo=UTC), self.version)


def versions_of(
    objects: Iterable[Mapping[str, Any]], base: str, *, kind: str | None = None
) -> list[VersionedObject]:
    """The versions of ``base`` among ``objects`` (API dicts), oldest first."""
    found = []
    for obj in objects:
        if kind is not None and obj.get("kind") not in (None, kind):
            continue
        metadata = obj.get("metadata") or {}
        parsed = parse_versioned_name(str(metadata.get("name", "")))
        if parsed is None or parsed[0] != base:
            continue
        replicas = (obj.get("spec") or {}).get("replicas")
        found.append(
            VersionedObject(
                name=str(metadata["name"]),
                base=base,
                version=parsed[1],
                created=_parse_time(metadata.get("creationTimestamp")),
                replicas=int(replicas) if isinstance(replicas, int) else 1,
                content_hash=(metadata.get("annotations") or {}).get(CONTENT_HASH_ANNOTATION),
                object=obj,
            )
        )
    return sorted(found, key=lambda v: v.sort_key)


@dataclass(frozen=True)
class VersionChoice:
    version: int
    name: str
    reused: bool  # an existing version has identical content: re-apply it instead of a new copy


def choose_version(
    base: str, existing: Iterable[Mapping[str, Any]], content: str | None = None
) -> VersionChoice:
    """The version to deploy ``base`` as: the existing one with the same content hash, else the
    one after the newest (wrapping after v999, skipping numbers still in use)."""
    versions = versions_of(existing, base)
    if content is not None:
        for candidate in reversed(versions):
            if candidate.content_hash == content:
                return VersionChoice(candidate.version, candidate.name, reused=True)
    if not versions:
        return VersionChoice(0, versioned_name(base, 0), reused=False)
    taken = {v.version for v in versions}
    if len(taken) > MAX_VERSION:
        raise VersioningError(
            f"all {MAX_VERSION + 1} versions of {base!r} exist: delete old ones "
            f"(set {MAX_VERSION_HISTORY_ANNOTATION} or max_version_history to prune them)"
        )
    version = versions[-1].version
    while True:
        version = (version + 1) % (MAX_VERSION + 1)
        if version not in taken:
            return VersionChoice(version, versioned_name(base, version), reused=False)


def select_target(
    objects: Iterable[Mapping[str, Any]], base: str, criteria: str, *, kind: str | None = None
) -> Mapping[str, Any]:
    """Spinnaker's dynamic target: the ``newest``, ``second_newest``, ``oldest``, ``largest`` or
    ``smallest`` (by ``spec.replicas``; ties go to the newer) version of ``base``."""
    if criteria not in CRITERIA:
        raise ValueError(f"unknown target criteria {criteria!r}: expected one of {', '.join(CRITERIA)}")
    versions = versions_of(objects, base, kind=kind)
    what = f"{kind + ' ' if kind else ''}{base!r}"
    if not versions:
        raise TargetNotFoundError(f"no version of {what} exists (looked for names like '{base}-v000')")
    if criteria == "newest":
        return versions[-1].object
    if criteria == "oldest":
        return versions[0].object
    if criteria == "second_newest":
        if len(versions) < 2:
            raise TargetNotFoundError(
                f"{what} has only one version ({versions[0].name}): there is no second newest"
            )
        return versions[-2].object
    # max()/min() keep the first of equals; scanning newest first makes ties go to the newer version.
    if criteria == "largest":
        return max(reversed(versions), key=lambda v: v.replicas).object
    return min(reversed(versions), key=lambda v: v.replicas).object


def prune_candidates(
    objects: Iterable[Mapping[str, Any]],
    base: str,
    max_version_history: int,
    *,
    kind: str | None = None,
    protect: Iterable[str] = (),
) -> list[Mapping[str, Any]]:
    """Versions beyond the newest ``max_version_history`` (which counts the one just deployed),
    oldest first; names in ``protect`` (e.g. the version serving traffic) are never returned."""
    if not isinstance(max_version_history, int) or max_version_history < 1:
        raise ValueError(f"max_version_history={max_version_history!r}: keep at least 1 version")
    protected = set(protect)
    versions = versions_of(objects, base, kind=kind)
    excess = versions[: max(0, len(versions) - max_version_history)]
    return [v.object for v in excess if v.name not in protected]


def older_versions(
    objects: Iterable[Mapping[str, Any]], base: str, current: str, *, kind: str | None = None
) -> list[Mapping[str, Any]]:
    """Every version of ``base`` except ``current``, newest first (what highlander disables and deletes)."""
    return [v.object for v in reversed(versions_of(objects, base, kind=kind)) if v.name != current]


# --------------------------------------------------------------------------------------------
# Config references in pod specs


@dataclass(frozen=True)
class ConfigReference:
    """A pod spec's reference to a ConfigMap or Secret, and where it is."""

    kind: str  # "ConfigMap" or "Secret"
    name: str
    path: str


def _reference_slots(spec: dict[str, Any], base_path: str) -> Iterator[tuple[str, dict[str, Any], str, str]]:
    """(kind, holder dict, key holding the name, path) for every config reference of a pod spec."""
    for index, volume in enumerate(_dicts(spec.get("volumes"))):
        path = f"{base_path}.volumes[{index}]"
        if isinstance(volume.get("configMap"), dict):
            yield "ConfigMap", volume["configMap"], "name", f"{path}.configMap.name"
        if isinstance(volume.get("secret"), dict):
            yield "Secret", volume["secret"], "secretName", f"{path}.secret.secretName"
        projected = volume.get("projected")
        if isinstance(projected, dict):
            for s_index, source in enumerate(_dicts(projected.get("sources"))):
                s_path = f"{path}.projected.sources[{s_index}]"
                if isinstance(source.get("configMap"), dict):
                    yield "ConfigMap", source["configMap"], "name", f"{s_path}.configMap.name"
                if isinstance(source.get("secret"), dict):
                    yield "Secret", source["secret"], "name", f"{s_path}.secret.name"
    for index, pull_secret in enumerate(_dicts(spec.get("imagePullSecrets"))):
        yield "Secret", pull_secret, "name", f"{base_path}.imagePullSecrets[{index}].name"
    for list_name in CONTAINER_LISTS:
        for c_index, container in enumerate(_dicts(spec.get(list_name))):
            c_path = f"{base_path}.{list_name}[{c_index}]"
            for e_index, env_from in enumerate(_dicts(container.get("envFrom"))):
                if isinstance(env_from.get("configMapRef"), dict):
                    yield (
                        "ConfigMap",
                        env_from["configMapRef"],
                        "name",
                        f"{c_path}.envFrom[{e_index}].configMapRef.name",
                    )
                if isinstance(env_from.get("secretRef"), dict):
                    yield (
                        "Secret",
                        env_from["secretRef"],
                        "name",
                        f"{c_path}.envFrom[{e_index}].secretRef.name",
                    )
            for e_index, env in enumerate(_dicts(container.get("env"))):
                value_from = env.get("valueFrom")
                if not isinstance(value_from, dict):
                    continue
                e_path = f"{c_path}.env[{e_index}].valueFrom"
                if isinstance(value_from.get("configMapKeyRef"), dict):
                    yield "ConfigMap", value_from["configMapKeyRef"], "name", f"{e_path}.configMapKeyRef.name"
                if isinstance(value_from.get("secretKeyRef"), dict):
                    yield "Secret", value_from["secretKeyRef"], "name", f"{e_path}.secretKeyRef.name"


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def config_references(manifest: Mapping[str, Any]) -> list[ConfigReference]:
    """Every ConfigMap/Secret a workload's pod spec reads (volumes, projected volumes, env,
    envFrom, imagePullSecrets), e.g. for "find artifacts from resource"."""
    spec = pod_spec(manifest)
    if spec is None:
        return []
    base_path = ".".join(POD_SPEC_PATHS[str(manifest["kind"])])
    return [
        ConfigReference(kind, str(holder[key]), path)
        for kind, holder, key, path in _reference_slots(spec, base_path)
        if isinstance(holder.get(key), str)
    ]


def rewrite_config_references(
    manifests: Sequence[Manifest], renames: Mapping[tuple[str, str, str], str]
) -> list[Manifest]:
    """Point pod specs at renamed ConfigMaps/Secrets.

    ``renames`` maps ``(kind, namespace, old name)`` to the new name; ``namespace`` is ``""`` for
    manifests without one. Only references in the same namespace are rewritten.
    """
    result = []
    for manifest in manifests:
        manifest = copy.deepcopy(manifest)
        spec = pod_spec(manifest)
        if spec is not None:
            namespace = str((manifest.get("metadata") or {}).get("namespace") or "")
            for kind, holder, key, _ in _reference_slots(spec, ""):
                new = renames.get((kind, namespace, str(holder.get(key))))
                if new is not None:
                    holder[key] = new
        result.append(manifest)
    return result


# --------------------------------------------------------------------------------------------
# Versioning a deploy


def versioned_content_hash(manifest: Mapping[str, Any]) -> str:
    """Hash of what makes a version: the manifest without its name and without our run-specific
    annotations (run id, stage, ...), so re-deploying identical content reuses the version."""
    body = copy.deepcopy(dict(manifest))
    metadata = body.setdefault("metadata", {})
    metadata.pop("name", None)
    annotations = {
        k: v
        for k, v in (metadata.get("annotations") or {}).items()
        if not k.startswith(f"{DELIVERY_PREFIX}/")
    }
    metadata["annotations"] = annotations
    return content_hash([body])


@dataclass(frozen=True)
class VersionAssignment:
    kind: str
    namespace: str
    base: str
    name: str
    version: int
    reused: bool


@dataclass
class VersioningResult:
    manifests: list[Manifest]
    assignments: list[VersionAssignment]

    def name_of(self, kind: str, base: str, namespace: str = "") -> str:
        for a in self.assignments:
            if (a.kind, a.base, a.namespace) == (kind, base, namespace):
                return a.name
        raise KeyError(f"{kind} {base!r} was not versioned")


def _label_version(manifest: Manifest, version_label: str, cluster_label: str) -> None:
    metadata = manifest.setdefault("metadata", {})
    metadata["labels"] = {
        **(metadata.get("labels") or {}),
        VERSION_LABEL: version_label,
        CLUSTER_LABEL: cluster_label,
    }
    kind = manifest.get("kind")
    if kind == "Pod" or kind not in POD_SPEC_PATHS:
        return
    spec = manifest.get("spec")
    if not isinstance(spec, dict):
        return
    template_holder: Any = manifest
    for key in POD_SPEC_PATHS[str(kind)][:-1]:
        template_holder = template_holder.get(key) if isinstance(template_holder, dict) else None
    if isinstance(template_holder, dict):
        template_meta = template_holder.setdefault("metadata", {})
        template_meta["labels"] = {
            **(template_meta.get("labels") or {}),
            VERSION_LABEL: version_label,
            CLUSTER_LABEL: cluster_label,
        }
    if kind in _SELECTOR_KINDS:
        selector = spec.setdefault("selector", {})
        if isinstance(selector, dict):
            selector["matchLabels"] = {**(selector.get("matchLabels") or {}), VERSION_LABEL: version_label}


def apply_versions(
    manifests: Sequence[Manifest],
    existing: Iterable[Mapping[str, Any]],
    *,
    versioned_kinds: Iterable[str] = DEFAULT_VERSIONED_KINDS,
) -> VersioningResult:
    """Give each versioned manifest its ``-vNNN`` name and point pod specs at versioned configs.

    ``existing`` holds the live objects (API dicts) of the same kinds and namespace. ConfigMaps and
    Secrets are versioned first and the references to them rewritten, so a workload whose config
    changed gets new content (and so a new version) too. Each versioned object is labelled with its
    version and cluster (workload selectors and pod templates as well, so versions never share
    pods) and annotated with its content hash and sequence.
    """
    kinds = frozenset(versioned_kinds)
    existing = list(existing)
    ordered = sorted(range(len(manifests)), key=lambda i: manifests[i].get("kind") not in CONFIG_KINDS)
    result: list[Manifest] = [copy.deepcopy(m) for m in manifests]
    assignments: list[VersionAssignment] = []
    renames: dict[tuple[str, str, str], str] = {}
    for position in ordered:
        manifest = result[position]
        if not is_versioned(manifest, kinds):
            continue
        if renames:
            manifest = rewrite_config_references([manifest], renames)[0]
        kind = str(manifest.get("kind"))
        metadata = manifest.setdefault("metadata", {})
        base = str(metadata.get("name"))
        if parse_versioned_name(base) is not None:
            raise VersioningError(
                f"{kind} {base!r} already ends in a version suffix: name the manifest without '-vNNN'"
            )
        namespace = str(metadata.get("namespace") or "")
        same = [
            o
            for o in existing
            if o.get("kind") in (None, kind)
            and str((o.get("metadata") or {}).get("namespace") or "") in ("", namespace)
        ]
        digest = versioned_content_hash(manifest)
        choice = choose_version(base, same, digest)
        metadata["name"] = choice.name
        metadata["annotations"] = {
            **(metadata.get("annotations") or {}),
            CONTENT_HASH_ANNOTATION: digest,
            SEQUENCE_ANNOTATION: str(choice.version),
        }
        _label_version(manifest, f"v{choice.version:03d}", label_value(base))
        result[position] = manifest
        assignments.append(
            VersionAssignment(kind, namespace, base, choice.name, choice.version, choice.reused)
        )
        if kind in CONFIG_KINDS:
            renames[(kind, namespace, base)] = choice.name
    if renames:
        result = [m if is_versioned(m, kinds) else rewrite_config_references([m], renames)[0] for m in result]
    return VersioningResult(manifests=result, assignments=assignments)
