"""OCI/Docker documents: reproducible layers and manifests, manifest parsing, created times."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from datetime import UTC, datetime, timedelta, timezone

import pytest

from airflow_delivery.artifacts.oci import (
    DOCKER_MANIFEST_V2,
    OCI_INDEX,
    OCI_MANIFEST,
    Manifest,
    Platform,
    build_image_manifest,
    canonical_json,
    image_config,
    parse_created,
    sha256_digest,
    tar_layer,
)


def test_tar_layer_is_reproducible_and_readable() -> None:
    first, second = tar_layer({"app/version": b"1"}), tar_layer({"app/version": b"1"})
    assert first == second
    assert tar_layer({"app/version": b"2"}).digest != first.digest
    raw = gzip.decompress(first.blob)
    assert sha256_digest(raw) == first.diff_id
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        assert tar.extractfile("app/version").read() == b"1"  # type: ignore[union-attr]


def test_manifest_references_blobs_by_digest_and_size() -> None:
    layer = tar_layer({"a": b"x"})
    config = canonical_json(image_config([layer], created=datetime(2024, 5, 1, tzinfo=UTC)))
    media_type, raw = build_image_manifest(config, [layer.blob])
    manifest = Manifest.parse(raw)
    assert media_type == manifest.media_type == DOCKER_MANIFEST_V2
    assert manifest.config_digest == sha256_digest(config)
    assert manifest.layer_digests == [layer.digest]
    assert manifest.document["layers"][0]["size"] == len(layer.blob)
    assert not manifest.is_index
    assert build_image_manifest(config, [layer.blob], oci=True)[0] == OCI_MANIFEST
    assert json.loads(config)["rootfs"]["diff_ids"] == [layer.diff_id]


def test_image_config_rejects_naive_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        image_config([], created=datetime(2024, 1, 1))


def test_index_child_selection() -> None:
    index = Manifest.parse(
        canonical_json(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {"digest": "sha256:att", "platform": {"os": "unknown", "architecture": "unknown"}},
                    {
                        "digest": "sha256:arm",
                        "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
                    },
                    {"digest": "sha256:amd", "platform": {"os": "linux", "architecture": "amd64"}},
                ],
            }
        )
    )
    assert index.is_index
    assert index.child_for(Platform()) == "sha256:amd"
    assert index.child_for(Platform.parse("linux/arm64/v8")) == "sha256:arm"
    assert index.child_for(Platform.parse("windows/amd64")) == "sha256:arm"  # first runnable entry


def test_manifest_parse_errors_and_content_type_fallback() -> None:
    with pytest.raises(ValueError, match="not valid JSON"):
        Manifest.parse(b"{")
    with pytest.raises(ValueError, match="not a JSON object"):
        Manifest.parse(b"[]")
    assert (
        Manifest.parse(b'{"schemaVersion":2}', content_type=f"{OCI_MANIFEST}; charset=x").media_type
        == OCI_MANIFEST
    )
    with pytest.raises(ValueError, match="os/architecture"):
        Platform.parse("linux")


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        ("2024-05-01T10:20:30Z", datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)),
        ("2024-05-01T10:20:30.123456789Z", datetime(2024, 5, 1, 10, 20, 30, 123456, tzinfo=UTC)),
        ("2024-05-01T12:20:30+02:00", datetime(2024, 5, 1, 12, 20, 30, tzinfo=timezone(timedelta(hours=2)))),
        ("2024-05-01T10:20:30", datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)),
        ("yesterday", None),
        (42, None),
    ],
)
def test_parse_created(created: object, expected: datetime | None) -> None:
    assert parse_created(json.dumps({"created": created}).encode()) == expected


def test_parse_created_without_field_or_json() -> None:
    assert parse_created(b"{}") is None
    assert parse_created(b"not json") is None
