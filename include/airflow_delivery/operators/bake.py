"""The ``bake`` stage: render manifests once and hand them on as an artifact (XCom)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from airflow.sdk import BaseOperator, Context

from airflow_delivery.kubernetes.manifests import content_hash, manifest_id, split_secrets
from airflow_delivery.kubernetes.render import RENDERERS, RenderError, RenderResult, render

SecretsPolicy = Literal["refuse", "drop"]


class BakeManifestOperator(BaseOperator):
    """Render manifests with ``jinja`` (built-in, sandboxed), ``kustomize`` or ``helm``.

    Returns ``{"manifests": [...], "hash": "sha256:...", "renderer": ..., "sources": [...]}``, which
    a deploy stage consumes, so what was reviewed (the hash) is exactly what gets applied.

    XCom is readable by anyone who can see the run, so Secrets never go into it: a rendered
    ``Secret`` fails the stage (``secrets="refuse"``, the default) or is left out with a warning
    (``secrets="drop"``, e.g. for a chart that ships one); create Secrets outside the pipeline.
    Relative paths are resolved against the DAG file's folder.
    """

    template_fields: Sequence[str] = (
        "source",
        "values_files",
        "values",
        "overrides",
        "namespace",
        "release_name",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"values": "json", "overrides": "json"}
    ui_color = "#e4f0e8"

    def __init__(
        self,
        *,
        source: str,
        renderer: str = "jinja",
        values_files: Sequence[str] = (),
        values: Mapping[str, Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
        namespace: str | None = None,
        release_name: str | None = None,
        secrets: SecretsPolicy = "refuse",
        binary: str | None = None,
        render_timeout: float = 120.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if renderer not in RENDERERS:
            raise ValueError(
                f"{self.task_id}: unknown renderer {renderer!r}: expected one of {', '.join(RENDERERS)}"
            )
        if secrets not in ("refuse", "drop"):
            raise ValueError(f"{self.task_id}: secrets={secrets!r}: expected 'refuse' or 'drop'")
        if renderer == "kustomize" and (values_files or values or overrides):
            raise ValueError(
                f"{self.task_id}: the kustomize renderer takes no values, values_files or overrides: "
                "put them in the kustomization (e.g. an overlay with 'images:' or 'patches:')"
            )
        if renderer == "helm" and not release_name:
            raise ValueError(
                f"{self.task_id}: the helm renderer needs release_name (helm template NAME CHART)"
            )
        if render_timeout <= 0:
            raise ValueError(f"{self.task_id}: render_timeout={render_timeout!r} must be positive")
        self.source = source
        self.renderer = renderer
        self.values_files = list(values_files)
        self.values = dict(values) if values is not None else None
        self.overrides = dict(overrides) if overrides is not None else None
        self.namespace = namespace
        self.release_name = release_name
        self.secrets = secrets
        self.binary = binary
        self.render_timeout = render_timeout

    def _path(self, value: str) -> Path:
        path = Path(value)
        if path.is_absolute():
            return path
        fileloc = getattr(getattr(self, "dag", None), "fileloc", None)
        return Path(fileloc).parent / path if fileloc else path

    def _options(self) -> dict[str, Any]:
        # Templated fields are checked here, after rendering, not in __init__.
        for name in ("values", "overrides"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Mapping):
                raise RenderError(
                    f"{self.task_id}: {name} must render to a mapping, got {type(value).__name__}"
                )
        files = [self._path(str(f)) for f in self.values_files]
        if self.renderer == "jinja":
            return {
                "values_files": files,
                "values": self.values,
                "overrides": self.overrides,
                "namespace": self.namespace,
            }
        if self.renderer == "kustomize":
            return {"binary": self.binary, "timeout": self.render_timeout}
        return {
            "release_name": self.release_name,
            "namespace": self.namespace,
            "values_files": files,
            "values": self.values,
            "overrides": self.overrides,
            "binary": self.binary,
            "timeout": self.render_timeout,
        }

    def execute(self, context: Context) -> dict[str, Any]:
        result: RenderResult = render(self.renderer, self._path(str(self.source)), **self._options())
        manifests, secrets = split_secrets(result.manifests)
        if secrets:
            names = ", ".join(manifest_id(s) for s in secrets)
            if self.secrets == "refuse":
                raise RenderError(
                    f"{self.task_id}: the rendered manifests include {names}; Bake output is stored in XCom, "
                    "so Secrets are not allowed in it: create them outside the pipeline and reference them, "
                    "or set secrets='drop' to leave them out"
                )
            self.log.warning("Left out of the bake output (Secrets never go to XCom): %s", names)
            result = RenderResult(manifests, content_hash(manifests), result.renderer, result.sources)
        self.log.info(
            "Baked %d manifests with %s, hash %s: %s",
            len(result.manifests),
            result.renderer,
            result.hash,
            ", ".join(manifest_id(m) for m in result.manifests),
        )
        return result.to_xcom()
