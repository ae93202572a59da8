"""What a live workload runs, as artifacts: its images, and the ConfigMaps and Secrets it reads.

Spinnaker's "Find Artifacts From Resource" stage reads the production Deployment so a canary's
baseline can be deployed with exactly the production image, or a tested image promoted. Images come
with their parts (repository, tag, digest) so a later stage can bind them; Secrets are reported by
name only, since their content must never reach XCom (and is never read here).

Pure: takes the object as an API dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_delivery.artifacts.references import parse_reference
from airflow_delivery.kubernetes.manifests import iter_containers, pod_spec
from airflow_delivery.kubernetes.versioning import config_references

IMAGE_TYPE = "docker/image"
CONFIG_MAP_TYPE = "kubernetes/configMap"
SECRET_TYPE = "kubernetes/secret"


class NotAWorkloadError(ValueError):
    """The object has no pod template, so it runs no images."""


def image_artifact(image: str, container: str) -> dict[str, Any]:
    """``{"type", "container", "reference", "repository", "tag", "digest"}`` for one container's image.

    ``repository`` includes the registry as written (what a deploy stage declares); ``reference`` is
    the image exactly as the manifest has it. An image that does not parse keeps ``repository``
    ``None`` and is still reported, with the parse error, rather than hidden.
    """
    artifact: dict[str, Any] = {"type": IMAGE_TYPE, "container": container, "reference": image,
                                "repository": None, "tag": None, "digest": None}
    try:
        ref = parse_reference(image)
    except ValueError as exc:
        artifact["error"] = str(exc)
        return artifact
    artifact["repository"] = f"{ref.registry}/{ref.repository}" if ref.registry else ref.repository
    artifact["tag"] = ref.tag
    artifact["digest"] = ref.digest
    return artifact


def artifacts_of(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The artifacts of a live workload: ``{"resource", "images", "config_maps", "secrets", "artifacts"}``.

    ``artifacts`` is every entry of the three lists in one list (Spinnaker's shape). ConfigMaps and
    Secrets are listed once each, with every place the pod spec reads them (``paths``).
    """
    metadata = obj.get("metadata") or {}
    kind = str(obj.get("kind") or "")
    if pod_spec(obj) is None:
        raise NotAWorkloadError(
            f"{kind} {metadata.get('name')!r} has no pod template, so it has no images to find: target a "
            "Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob or Pod"
        )
    namespace = metadata.get("namespace")
    found_images = [image_artifact(ref.image, ref.container) for ref in iter_containers(obj) if ref.image]
    configs: dict[tuple[str, str], dict[str, Any]] = {}
    for reference in config_references(obj):
        entry = configs.setdefault((reference.kind, reference.name), {
            "type": CONFIG_MAP_TYPE if reference.kind == "ConfigMap" else SECRET_TYPE,
            "name": reference.name,
            "namespace": namespace,
            "paths": [],
        })
        entry["paths"].append(reference.path)
    config_maps = [e for (kind_, _), e in configs.items() if kind_ == "ConfigMap"]
    secrets = [e for (kind_, _), e in configs.items() if kind_ == "Secret"]
    resource = {
        "kind": kind,
        "name": metadata.get("name"),
        "namespace": namespace,
        "api_version": obj.get("apiVersion"),
        "uid": metadata.get("uid"),
        "generation": metadata.get("generation"),
        "revision": (metadata.get("annotations") or {}).get("deployment.kubernetes.io/revision"),
    }
    return {
        "resource": resource,
        "images": found_images,
        "config_maps": config_maps,
        "secrets": secrets,
        "artifacts": [*found_images, *config_maps, *secrets],
    }
