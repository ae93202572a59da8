"""OCI / Docker image documents: media types, digests, manifests, image configs and reproducible layers.

Reading manifests (to find the config blob and its ``created`` time) and writing them (so demos and
tests can push real images through the Registry API) share these definitions. Everything is
deterministic: the same inputs always give the same bytes and therefore the same digest.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DOCKER_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

INDEX_MEDIA_TYPES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})
IMAGE_MEDIA_TYPES = frozenset({DOCKER_MANIFEST_V2, OCI_MANIFEST})
# Every manifest kind we understand. A registry only serves a manifest in a type the client accepts
# (distribution answers 400/404 otherwise), so this list goes into every manifest request.
MANIFEST_ACCEPT = f"{OCI_INDEX}, {OCI_MANIFEST}, {DOCKER_MANIFEST_LIST}, {DOCKER_MANIFEST_V2}"


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(document: Any) -> bytes:
    """Compact JSON with sorted keys, so a document always has the same digest."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Platform:
    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        """``linux/amd64`` or ``linux/arm64/v8``; raise ``ValueError`` naming the text otherwise."""
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"invalid platform {text!r}: expected 'os/architecture[/variant]'")
        return cls(os=parts[0], architecture=parts[1], variant=parts[2] if len(parts) == 3 else None)


@dataclass(frozen=True)
class Manifest:
    """A manifest as served: its media type, digest, raw bytes and parsed JSON."""

    media_type: str
    digest: str
    raw: bytes
    document: dict[str, Any]

    @classmethod
    def parse(cls, raw: bytes, *, content_type: str | None = None) -> Manifest:
        """Parse manifest bytes; the media type comes from the document, else from ``Content-Type``.

        Raises ``ValueError`` when the bytes are not a JSON object.
        """
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise ValueError(f"manifest is not valid JSON: {exc}") from None
        if not isinstance(document, dict):
            raise ValueError("manifest is not a JSON object")  # noqa: TRY004 - bad data, not a bad call
        media_type = document.get("mediaType") or (content_type or "").split(";")[0].strip()
        return cls(media_type=str(media_type), digest=sha256_digest(raw), raw=raw, document=document)

    @property
    def is_index(self) -> bool:
        """True for a multi-platform manifest list / OCI index."""
        return self.media_type in INDEX_MEDIA_TYPES or (
            "manifests" in self.document and "config" not in self.document
        )

    @property
    def config_digest(self) -> str | None:
        config = self.document.get("config")
        return config.get("digest") if isinstance(config, dict) else None

    @property
    def layer_digests(self) -> list[str]:
        return [layer["digest"] for layer in self.document.get("layers", []) if isinstance(layer, dict)]

    def child_for(self, platform: Platform) -> str | None:
        """Digest of the index entry for ``platform``; the first entry if none matches exactly."""
        entries = [m for m in self.document.get("manifests", []) if isinstance(m, dict) and "digest" in m]
        for entry in entries:
            p = entry.get("platform") or {}
            if (
                p.get("os") == platform.os
                and p.get("architecture") == platform.architecture
                and (platform.variant is None or p.get("variant") == platform.variant)
            ):
                return str(entry["digest"])
        # Attestation manifests (os "unknown") are never a runnable image.
        runnable = [e for e in entries if (e.get("platform") or {}).get("os") != "unknown"]
        return str(runnable[0]["digest"]) if runnable else None


def parse_created(config: bytes) -> datetime | None:
    """The image config's ``created`` time (UTC), or ``None`` if absent or unreadable."""
    try:
        document = json.loads(config)
    except ValueError:
        return None
    created = document.get("created") if isinstance(document, dict) else None
    if not isinstance(created, str):
        return None
    text = created.strip().replace("Z", "+00:00")
    # Go writes nanoseconds; keep microseconds, the most datetime can hold.
    if "." in text:
        head, _, tail = text.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        zone = tail[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Layer:
    """A compressed layer blob and the digest of its uncompressed tar (the config's ``diff_id``)."""

    blob: bytes
    diff_id: str

    @property
    def digest(self) -> str:
        return sha256_digest(self.blob)


def tar_layer(files: Mapping[str, bytes]) -> Layer:
    """A reproducible gzip'ed tar layer holding ``files`` (fixed owner, mode and times)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            data = files[name]
            info = tarfile.TarInfo(name=name.lstrip("/"))
            info.size, info.mode, info.mtime, info.uid, info.gid = len(data), 0o644, 0, 0, 0
            tar.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    return Layer(blob=gzip.compress(raw, mtime=0), diff_id=sha256_digest(raw))


def image_config(
    layers: Sequence[Layer],
    *,
    created: datetime | None = None,
    platform: Platform = Platform(),
    labels: Mapping[str, str] | None = None,
    cmd: Sequence[str] | None = None,
) -> dict[str, Any]:
    """An image config document for ``layers`` (diff_ids in order)."""
    config: dict[str, Any] = {}
    if labels:
        config["Labels"] = dict(labels)
    if cmd:
        config["Cmd"] = list(cmd)
    document: dict[str, Any] = {
        "architecture": platform.architecture,
        "os": platform.os,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
    }
    if platform.variant:
        document["variant"] = platform.variant
    if created is not None:
        if created.tzinfo is None:
            raise ValueError("created must be timezone-aware (e.g. datetime.now(UTC))")
        document["created"] = created.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return document


def build_image_manifest(config: bytes, layers: Sequence[bytes], *, oci: bool = False) -> tuple[str, bytes]:
    """(media type, bytes) of a single-platform image manifest referencing these blobs."""
    config_type, layer_type, media_type = (
        (OCI_CONFIG, OCI_LAYER, OCI_MANIFEST) if oci else (DOCKER_CONFIG, DOCKER_LAYER, DOCKER_MANIFEST_V2)
    )
    document = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": config_type, "size": len(config), "digest": sha256_digest(config)},
        "layers": [
            {"mediaType": layer_type, "size": len(blob), "digest": sha256_digest(blob)} for blob in layers
        ],
    }
    return media_type, canonical_json(document)
