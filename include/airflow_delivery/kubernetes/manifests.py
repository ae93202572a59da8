"""Manifests as plain dicts: parse a YAML stream, validate it, and the small edits every deploy makes.

A manifest is the API's JSON shape (``apiVersion``, ``kind``, ``metadata``, ...) as a ``dict``: that is
what XCom stores, what the content hash covers and what the Kubernetes client sends, so no wrapper
type is needed. Every helper returns new manifests and never mutates its input, because the same
Bake output is read by several stages.

Parsing is strict on purpose: duplicate keys (the tell-tale of YAML injection) are errors, timestamps
stay strings (so manifests stay JSON), and every error names the document (number, source file,
line, kind/name when known) and the field. A stream with any bad document returns nothing.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any]

DELIVERY_PREFIX = "delivery.airflow.apache.org"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "airflow-delivery"
APP_LABEL = f"{DELIVERY_PREFIX}/app"
APP_ANNOTATION = f"{DELIVERY_PREFIX}/application"
PIPELINE_ANNOTATION = f"{DELIVERY_PREFIX}/pipeline"
RUN_ANNOTATION = f"{DELIVERY_PREFIX}/run-id"
STAGE_ANNOTATION = f"{DELIVERY_PREFIX}/stage"
ARTIFACTS_ANNOTATION = f"{DELIVERY_PREFIX}/artifacts"
CONTENT_HASH_ANNOTATION = f"{DELIVERY_PREFIX}/content-hash"

# Kinds whose objects live outside namespaces (core and common add-ons). Everything else is
# treated as namespaced, as the API does for custom resources unless told otherwise.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "CertificateSigningRequest",
        "ClusterIssuer",
        "ClusterRole",
        "ClusterRoleBinding",
        "ComponentStatus",
        "CSIDriver",
        "CSINode",
        "CustomResourceDefinition",
        "FlowSchema",
        "GatewayClass",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    }
)

# Where each workload kind keeps its pod spec, as a path of keys.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

_DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_API_VERSION_RE = re.compile(r"^([a-z0-9.-]+/)?v[0-9]+((alpha|beta)[0-9]+)?$")


# --------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True)
class DocumentRef:
    """Which document of which source an error is about (``number`` counts from 1, as editors do)."""

    number: int
    source: str | None = None
    line: int | None = None
    kind: str | None = None
    name: str | None = None
    item: int | None = None  # position inside a ``kind: List`` document

    def __str__(self) -> str:
        where = f"{self.source}, " if self.source else ""
        text = f"{where}document {self.number}"
        if self.line is not None:
            text += f" (line {self.line})"
        if self.item is not None:
            text += f" item {self.item}"
        if self.kind and self.name:
            text += f" {self.kind} {self.name!r}"
        elif self.kind:
            text += f" {self.kind}"
        return text


@dataclass(frozen=True)
class ManifestProblem:
    document: DocumentRef
    field: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.document}: {self.field}: {self.message}"
            if self.field
            else f"{self.document}: {self.message}"
        )


class ManifestError(ValueError):
    """One or more manifests are invalid; ``problems`` lists every one (document, field, what to do)."""

    def __init__(self, problems: Sequence[ManifestProblem]) -> None:
        self.problems = list(problems)
        if len(self.problems) == 1:
            text = f"invalid manifest: {self.problems[0]}"
        else:
            text = f"{len(self.problems)} invalid manifests:\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(text)


# --------------------------------------------------------------------------------------------
# Parsing


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys and keeps timestamps as strings.

    Duplicate keys are how injected text usually shows up (a value that smuggles ``image: evil``
    into a mapping that already has ``image``); PyYAML would silently keep the last one. Timestamps
    stay strings because manifests must stay JSON (XCom, hashing, the API).
    """


_StrictLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key: let the base constructor report it
            break
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r} (first at line {seen[key].start_mark.line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _yaml_error_message(exc: yaml.YAMLError) -> tuple[int | None, str]:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    text = f"{where}{context + ': ' if context else ''}{problem}"
    return line, f"invalid YAML at {text}"


def load_yaml_documents(text: str, *, source: str | None = None) -> list[tuple[DocumentRef, Any]]:
    """Every document of a YAML stream with where it starts; empty documents are skipped.

    Raises ``ManifestError`` for invalid YAML, naming the document and the line and column.
    """
    loader = _StrictLoader(text)
    documents: list[tuple[DocumentRef, Any]] = []
    number = 0
    try:
        while loader.check_node():
            number += 1
            node = loader.get_node()
            if node is None:
                continue
            data = loader.construct_document(node)
            if data is None:
                continue
            documents.append((DocumentRef(number=number, source=source, line=node.start_mark.line + 1), data))
    except yaml.YAMLError as exc:
        line, message = _yaml_error_message(exc)
        ref = DocumentRef(number=max(number, 1), source=source, line=line)
        raise ManifestError([ManifestProblem(ref, "", message)]) from None
    finally:
        loader.dispose()
    return documents


def parse_manifests(
    text: str,
    *,
    source: str | None = None,
    cluster_scoped_kinds: Iterable[str] = (),
    allow_generate_name: bool = False,
) -> list[Manifest]:
    """Parse a multi-document YAML stream into validated manifests (``kind: List`` is flattened).

    Every document is checked (see ``validate_manifest``) and all problems are reported together;
    if any document is bad, nothing is returned.
    """
    documents = load_yaml_documents(text, source=source)
    return validate_manifests(
        documents, cluster_scoped_kinds=cluster_scoped_kinds, allow_generate_name=allow_generate_name
    )


def load_manifest_file(path: str | Path, **options: Any) -> list[Manifest]:
    """``parse_manifests`` for a file; errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(
            [ManifestProblem(DocumentRef(1, str(path)), "", f"cannot read manifest file: {exc.strerror}")]
        ) from None
    return parse_manifests(text, source=str(path), **options)


def validate_manifests(
    documents: Iterable[tuple[DocumentRef, Any] | Any],
    *,
    cluster_scoped_kinds: Iterable[str] = (),
    allow_generate_name: bool = False,
    source: str | None = None,
) -> list[Manifest]:
    """Validate already-loaded documents (dicts, or ``(DocumentRef, dict)`` pairs) and return copies.

    Lists (``kind: List`` / ``*List`` with ``items``) are flattened; their items are reported as
    ``document N item M``. Raises ``ManifestError`` listing every problem.
    """
    cluster_scoped = CLUSTER_SCOPED_KINDS | frozenset(cluster_scoped_kinds)
    manifests: list[Manifest] = []
    problems: list[ManifestProblem] = []
    for index, entry in enumerate(documents):
        if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], DocumentRef):
            ref, data = entry
        else:
            ref, data = DocumentRef(number=index + 1, source=source), entry
        for item_ref, item in _flatten_lists(ref, data, problems):
            found = _problems_of(item, item_ref, cluster_scoped, allow_generate_name)
            if found:
                problems.extend(found)
            else:
                manifests.append(copy.deepcopy(item))
    if problems:
        raise ManifestError(problems)
    return manifests


def _flatten_lists(
    ref: DocumentRef, data: Any, problems: list[ManifestProblem]
) -> Iterator[tuple[DocumentRef, Any]]:
    kind = data.get("kind") if isinstance(data, dict) else None
    if not (isinstance(kind, str) and kind.endswith("List") and "items" in data):
        yield ref, data
        return
    items = data["items"]
    if not isinstance(items, list):
        problems.append(ManifestProblem(_with_kind(ref, kind, None), "items", "must be a list of manifests"))
        return
    for position, item in enumerate(items, start=1):
        yield DocumentRef(number=ref.number, source=ref.source, line=ref.line, item=position), item


def _with_kind(ref: DocumentRef, kind: str | None, name: str | None) -> DocumentRef:
    return DocumentRef(ref.number, ref.source, ref.line, kind, name, ref.item)


def _problems_of(
    data: Any, ref: DocumentRef, cluster_scoped: frozenset[str], allow_generate_name: bool
) -> list[ManifestProblem]:
    if not isinstance(data, dict):
        found = type(data).__name__
        return [ManifestProblem(ref, "", f"expected a mapping (a Kubernetes object), found a {found}")]
    kind = data.get("kind") if isinstance(data.get("kind"), str) else None
    metadata = data.get("metadata")
    name = (
        metadata.get("name") if isinstance(metadata, dict) and isinstance(metadata.get("name"), str) else None
    )
    ref = _with_kind(ref, kind, name)
    problems: list[ManifestProblem] = []

    def problem(field_path: str, message: str) -> None:
        problems.append(ManifestProblem(ref, field_path, message))

    api_version = data.get("apiVersion")
    if api_version is None or api_version == "":
        problem("apiVersion", "is missing: every object needs one, e.g. 'apps/v1' or 'v1'")
    elif not isinstance(api_version, str) or not _API_VERSION_RE.match(api_version):
        problem("apiVersion", f"{api_version!r} is not an API version such as 'apps/v1' or 'v1'")
    if data.get("kind") is None or data.get("kind") == "":
        problem("kind", "is missing: every object needs one, e.g. 'Deployment'")
    elif not isinstance(data["kind"], str) or not re.match(r"^[A-Z][A-Za-z0-9]*$", data["kind"]):
        problem(
            "kind", f"{data['kind']!r} is not a kind such as 'Deployment' (CamelCase, starting upper-case)"
        )
    if metadata is None:
        problem("metadata", "is missing: every object needs metadata.name")
        return problems
    if not isinstance(metadata, dict):
        problem("metadata", f"must be a mapping, found {type(metadata).__name__}")
        return problems
    _check_name(metadata, allow_generate_name, problem)
    _check_namespace(metadata, kind, cluster_scoped, problem)
    _check_string_map(metadata, "labels", problem, label_values=True)
    _check_string_map(metadata, "annotations", problem, label_values=False)
    return problems


def _check_name(metadata: dict[str, Any], allow_generate_name: bool, problem: Any) -> None:
    name = metadata.get("name")
    if name is None or name == "":
        generate = metadata.get("generateName")
        if allow_generate_name and isinstance(generate, str) and generate:
            return
        hint = " (or metadata.generateName)" if allow_generate_name else ""
        problem("metadata.name", f"is missing{hint}: every object needs a name")
        return
    if not isinstance(name, str):
        problem("metadata.name", f"must be a string, found {type(name).__name__} {name!r}")
    elif (
        len(name) > 253 or name in (".", "..") or "/" in name or "%" in name or any(c.isspace() for c in name)
    ):
        problem(
            "metadata.name",
            f"{name!r} is not a valid object name: use at most 253 lower-case letters, digits, '-' and '.'",
        )


def _check_namespace(
    metadata: dict[str, Any], kind: str | None, cluster_scoped: frozenset[str], problem: Any
) -> None:
    if "namespace" not in metadata or metadata["namespace"] in (None, ""):
        return
    namespace = metadata["namespace"]
    if kind in cluster_scoped:
        problem(
            "metadata.namespace", f"{kind} is cluster-scoped and has no namespace: remove metadata.namespace"
        )
    elif not isinstance(namespace, str) or len(namespace) > 63 or not _DNS_LABEL_RE.match(namespace):
        problem(
            "metadata.namespace",
            f"{namespace!r} is not a valid namespace: use at most 63 lower-case letters, digits and '-'",
        )


def _check_string_map(metadata: dict[str, Any], key: str, problem: Any, *, label_values: bool) -> None:
    if key not in metadata or metadata[key] is None:
        return
    mapping = metadata[key]
    if not isinstance(mapping, dict):
        problem(f"metadata.{key}", f"must be a mapping of strings, found {type(mapping).__name__}")
        return
    for name, value in mapping.items():
        where = f"metadata.{key}.{name}"
        if not isinstance(name, str) or not is_valid_qualified_name(name):
            problem(
                where,
                f"{name!r} is not a valid {key[:-1]} key: use [prefix/]name with letters, digits, '-', '_', '.'",
            )
            continue
        if not isinstance(value, str):
            problem(where, f"must be a string, found {type(value).__name__} {value!r}: quote it in YAML")
        elif label_values and not is_valid_label_value(value):
            problem(
                where,
                f"{value!r} is not a valid label value: at most 63 letters, digits, '-', '_' or '.', "
                "starting and ending with a letter or digit",
            )


def is_valid_label_value(value: str) -> bool:
    return len(value) <= 63 and _LABEL_VALUE_RE.match(value) is not None


def is_valid_qualified_name(key: str) -> bool:
    """A label or annotation key: ``[dns-subdomain/]name`` with ``name`` at most 63 characters."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN_RE.match(prefix)):
        return False
    return len(name) <= 63 and _LABEL_NAME_RE.match(name) is not None


# --------------------------------------------------------------------------------------------
# Identity, output, hashing


def manifest_id(manifest: Mapping[str, Any]) -> str:
    """``Kind namespace/name`` (or ``Kind name``) for logs and error messages."""
    metadata = manifest.get("metadata") or {}
    name = metadata.get("name") or metadata.get("generateName") or "?"
    namespace = metadata.get("namespace")
    return f"{manifest.get('kind', '?')} {namespace + '/' if namespace else ''}{name}"


def is_namespaced(kind: str, cluster_scoped_kinds: Iterable[str] = ()) -> bool:
    """False for cluster-scoped kinds (``Namespace``, ``ClusterRole``, ...), True otherwise."""
    return kind not in CLUSTER_SCOPED_KINDS and kind not in frozenset(cluster_scoped_kinds)


def canonical_json(manifests: Sequence[Mapping[str, Any]]) -> str:
    """Key-sorted, whitespace-free JSON: equal manifests always give equal text."""
    return json.dumps(
        list(manifests), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def content_hash(manifests: Sequence[Mapping[str, Any]]) -> str:
    """``sha256:<hex>`` of the canonical JSON of ``manifests`` (order matters; key order does not)."""
    return "sha256:" + hashlib.sha256(canonical_json(manifests).encode("utf-8")).hexdigest()


def dump_manifests(manifests: Sequence[Mapping[str, Any]]) -> str:
    """A ``---``-separated YAML stream, for ``kubectl``-style files and human review."""
    return yaml.safe_dump_all([dict(m) for m in manifests], sort_keys=False, default_flow_style=False)


def split_secrets(manifests: Sequence[Manifest]) -> tuple[list[Manifest], list[Manifest]]:
    """``(others, secrets)``: Secrets must not travel through XCom or logs, so callers set them apart."""
    others = [m for m in manifests if m.get("kind") != "Secret"]
    secrets = [m for m in manifests if m.get("kind") == "Secret"]
    return others, secrets


# --------------------------------------------------------------------------------------------
# Edits (each returns new manifests)


def with_namespace(
    manifests: Sequence[Manifest], namespace: str, *, cluster_scoped_kinds: Iterable[str] = ()
) -> list[Manifest]:
    """Namespace override: set ``metadata.namespace`` on namespaced kinds only.

    Cluster-scoped objects (``Namespace``, ``ClusterRole``, ...) are returned unchanged: giving them
    a namespace is an error for the API server.
    """
    if not isinstance(namespace, str) or len(namespace) > 63 or not _DNS_LABEL_RE.match(namespace):
        raise ValueError(
            f"namespace override {namespace!r} is not a valid namespace: "
            "use at most 63 lower-case letters, digits and '-'"
        )
    result = []
    for manifest in manifests:
        manifest = copy.deepcopy(manifest)
        if is_namespaced(str(manifest.get("kind")), cluster_scoped_kinds):
            manifest.setdefault("metadata", {})["namespace"] = namespace
        result.append(manifest)
    return result


def label_value(text: str) -> str:
    """Turn any text into a valid label value, keeping it recognisable and distinct.

    Valid values are returned unchanged. Otherwise invalid characters become ``-``, the ends are
    trimmed to alphanumerics, the text is cut to fit, and a short hash of the original is appended
    so two different inputs never end up with the same label value.
    """
    if is_valid_label_value(text):
        return text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-_.")
    head = cleaned[: 63 - len(digest) - 1].rstrip("-_.")
    return f"{head}-{digest}" if head else digest


def pod_template_metadata(manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``metadata`` of the pod template (the object's own for a Pod), or None for other kinds."""
    path = POD_SPEC_PATHS.get(str(manifest.get("kind")))
    if path is None:
        return None
    node: Any = manifest
    for key in path[:-1]:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    if not isinstance(node, Mapping):
        return None
    metadata = node.get("metadata")
    return metadata if isinstance(metadata, dict) else None


def with_delivery_metadata(
    manifests: Sequence[Manifest],
    *,
    app: str,
    pipeline: str | None = None,
    run_id: str | None = None,
    stage: str | None = None,
    artifacts: Mapping[str, str] | None = None,
    pod_templates: bool = True,
) -> list[Manifest]:
    """Record who deployed what: labels (selectable) and annotations (exact values).

    Labels: ``app.kubernetes.io/managed-by=airflow-delivery`` and ``delivery.airflow.apache.org/app``
    (made a valid label value). Annotations: application, pipeline, run id, stage and the bound
    artifacts (JSON). Pod templates get the two labels only: run-specific annotations there would
    change the pod template on every run and roll the pods for nothing.
    """
    if not app:
        raise ValueError("app is empty: give the application name the manifests belong to")
    labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, APP_LABEL: label_value(app)}
    annotations = {APP_ANNOTATION: app}
    for key, value in ((PIPELINE_ANNOTATION, pipeline), (RUN_ANNOTATION, run_id), (STAGE_ANNOTATION, stage)):
        if value:
            annotations[key] = value
    if artifacts:
        annotations[ARTIFACTS_ANNOTATION] = json.dumps(dict(artifacts), sort_keys=True, separators=(",", ":"))
    result = []
    for manifest in manifests:
        manifest = copy.deepcopy(manifest)
        metadata = manifest.setdefault("metadata", {})
        metadata["labels"] = {**(metadata.get("labels") or {}), **labels}
        metadata["annotations"] = {**(metadata.get("annotations") or {}), **annotations}
        template = _ensure_template_metadata(manifest) if pod_templates else None
        if template is not None:
            template["labels"] = {**(template.get("labels") or {}), **labels}
        result.append(manifest)
    return result


def _ensure_template_metadata(manifest: Manifest) -> dict[str, Any] | None:
    """The pod template's metadata, created if absent; None for Pods and non-workloads."""
    kind = str(manifest.get("kind"))
    if kind == "Pod" or kind not in POD_SPEC_PATHS:
        return None
    node: Any = manifest
    for key in POD_SPEC_PATHS[kind][:-1]:
        if not isinstance(node, dict):
            return None
        node = node.setdefault(key, {})
    if not isinstance(node, dict):
        return None
    metadata = node.setdefault("metadata", {})
    return metadata if isinstance(metadata, dict) else None


# --------------------------------------------------------------------------------------------
# Pod specs, containers, images


def pod_spec(manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    """The pod spec of a workload (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod, ...)."""
    path = POD_SPEC_PATHS.get(str(manifest.get("kind")))
    if path is None:
        return None
    node: Any = manifest
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node if isinstance(node, dict) else None


@dataclass(frozen=True)
class ContainerRef:
    """One container of a manifest: where it is (``path``), its name and its image."""

    kind: str
    name: str
    container_list: str
    index: int
    container: str
    image: str | None
    path: str = field(default="")

    def __str__(self) -> str:
        return f"{self.kind} {self.name!r} container {self.container!r} ({self.path})"


def iter_containers(manifest: Mapping[str, Any]) -> Iterator[ContainerRef]:
    """Every container, init container and ephemeral container of a workload, in manifest order."""
    kind = str(manifest.get("kind"))
    spec = pod_spec(manifest)
    if spec is None:
        return
    base = ".".join(POD_SPEC_PATHS[kind])
    name = str((manifest.get("metadata") or {}).get("name", "?"))
    for list_name in CONTAINER_LISTS:
        containers = spec.get(list_name)
        if not isinstance(containers, list):
            continue
        for index, container in enumerate(containers):
            if not isinstance(container, Mapping):
                continue
            image = container.get("image")
            yield ContainerRef(
                kind=kind,
                name=name,
                container_list=list_name,
                index=index,
                container=str(container.get("name", f"#{index}")),
                image=image if isinstance(image, str) else None,
                path=f"{base}.{list_name}[{index}]",
            )


def images(manifest: Mapping[str, Any]) -> list[str]:
    """The distinct images of a workload's pod template, in order (init containers first)."""
    seen: dict[str, None] = {}
    for ref in iter_containers(manifest):
        if ref.image:
            seen.setdefault(ref.image, None)
    return list(seen)


def all_images(manifests: Iterable[Mapping[str, Any]]) -> list[str]:
    """The distinct images across several manifests, in order."""
    seen: dict[str, None] = {}
    for manifest in manifests:
        for image in images(manifest):
            seen.setdefault(image, None)
    return list(seen)
