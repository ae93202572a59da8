"""Bake renderers: turn templates plus values into validated manifests and a content hash.

Three renderers, one result (``RenderResult``: manifests, ``sha256:`` hash, renderer, sources):

``jinja``
    Our built-in templates: Jinja2 in an ``ImmutableSandboxedEnvironment`` with ``StrictUndefined``.
    Values files are deep-merged in order, then ``values``, then ``overrides`` (dotted keys, like
    ``helm --set-string``). Values come from pipeline parameters and run triggers, so they are
    untrusted: a value can neither run code (the sandbox; values are never rendered as templates)
    nor change the YAML structure of a manifest. Every ``{{ ... }}`` output goes through a finalizer:

    * numbers, booleans and ``None`` become YAML scalars (``3``, ``true``, ``null``);
    * strings made only of inert characters (letters, digits, ``. _ / : = + @ ~ -`` and inner
      spaces, with no ``": "``, no trailing ``:`` and no leading ``---``/``- ``) are written as they are,
      so ``image: {{ repo }}:{{ tag }}`` works; as in Helm, YAML then types the text (``1.10`` is a
      number), so quote values that must stay strings: ``{{ version | quote }}``;
    * any other string (newlines, quotes, ``#``, brackets, ``": "``, ...) is an error naming the
      template file and line, unless it passes through ``quote`` (one JSON-quoted scalar),
      ``tojson`` (one flow value) or ``toyaml`` (a block, with ``indent``/``nindent``);
    * mappings and lists must go through ``tojson`` or ``toyaml``.

    The output is then parsed with a loader that rejects duplicate keys and checked document by
    document (``manifests.validate_manifests``). Files whose names start with ``_`` are partials
    (macros, includes) and are not rendered on their own.

``kustomize``
    ``kustomize build DIR`` when a ``kustomize`` binary is on PATH, else ``kubectl kustomize DIR``.

``helm``
    ``helm template`` when a ``helm`` binary is on PATH (values and overrides go in through a values
    file, never ``--set``, so a value cannot smuggle extra keys); otherwise a clear error saying
    how to install Helm.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

from airflow_delivery.kubernetes.manifests import (
    Manifest,
    ManifestError,
    content_hash,
    load_yaml_documents,
    validate_manifests,
)

RENDERERS = ("jinja", "kustomize", "helm")
TEMPLATE_SUFFIXES = (".yaml", ".yml", ".j2", ".jinja", ".jinja2")
DEFAULT_TIMEOUT = 120.0
HELM_INSTALL_HINT = (
    "install Helm 3 from https://helm.sh/docs/intro/install/ (the release tarball from "
    "https://github.com/helm/helm/releases, or the get-helm-3 script) and put the 'helm' binary on PATH, "
    "or pass binary='/path/to/helm'; Debian bookworm does not package Helm"
)


class RenderError(ValueError):
    """Rendering failed; the message names the file (and line) and says what to change."""


class RendererNotAvailableError(RenderError):
    """The renderer's binary is not installed; the message says how to install it."""


@dataclass(frozen=True)
class RenderResult:
    manifests: list[Manifest]
    hash: str
    renderer: str
    sources: tuple[str, ...] = field(default=())

    def to_xcom(self) -> dict[str, Any]:
        """The Bake "artifact": JSON-ready manifests, their hash and how they were made."""
        return {
            "manifests": copy.deepcopy(self.manifests),
            "hash": self.hash,
            "renderer": self.renderer,
            "sources": list(self.sources),
        }


def _result(manifests: list[Manifest], renderer: str, sources: Iterable[str]) -> RenderResult:
    return RenderResult(
        manifests=manifests, hash=content_hash(manifests), renderer=renderer, sources=tuple(sources)
    )


# --------------------------------------------------------------------------------------------
# Values


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key, recursively; anything else (lists included) is replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _split_dotted(key: str) -> list[str]:
    parts = [p.replace("\\.", ".") for p in re.split(r"(?<!\\)\.", key)]
    if not key or any(p == "" for p in parts):
        raise RenderError(f"override key {key!r} is not a dotted path such as 'image.tag'")
    return parts


def apply_overrides(values: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Set dotted keys (``image.tag``; ``\\.`` for a literal dot) on a copy of ``values``."""
    result = copy.deepcopy(dict(values))
    for key, value in overrides.items():
        if not isinstance(key, str):
            raise RenderError(f"override key {key!r} must be a string such as 'image.tag'")
        parts = _split_dotted(key)
        node = result
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                prefix = ".".join(parts[: depth + 1])
                raise RenderError(
                    f"override {key!r}: {prefix!r} is a {type(child).__name__}, not a mapping, so it has no keys to set"
                )
            node = child
        node[parts[-1]] = copy.deepcopy(value)
    return result


def load_values_file(path: str | Path) -> dict[str, Any]:
    """A values file: one YAML mapping (empty file = no values)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RenderError(f"values file {path}: cannot read it ({exc.strerror})") from None
    try:
        documents = load_yaml_documents(text, source=str(path))
    except ManifestError as exc:
        raise RenderError(f"values file {exc.problems[0]}") from None
    if not documents:
        return {}
    if len(documents) > 1:
        raise RenderError(
            f"values file {path}: has {len(documents)} YAML documents; put all values in one mapping"
        )
    data = documents[0][1]
    if not isinstance(data, dict):
        raise RenderError(
            f"values file {path}: must be a YAML mapping (key: value), found a {type(data).__name__}"
        )
    return data


def merge_values(
    values_files: Sequence[str | Path] = (),
    values: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Values files in order, then ``values``, then dotted ``overrides``: later wins."""
    merged: dict[str, Any] = {}
    for path in values_files:
        merged = deep_merge(merged, load_values_file(path))
    if values is not None:
        if not isinstance(values, Mapping):
            raise RenderError(f"values must be a mapping, found {type(values).__name__}")
        merged = deep_merge(merged, values)
    if overrides:
        if not isinstance(overrides, Mapping):
            raise RenderError(f"overrides must be a mapping of dotted keys, found {type(overrides).__name__}")
        merged = apply_overrides(merged, overrides)
    return merged


# --------------------------------------------------------------------------------------------
# Jinja: YAML-safe output


class YamlText(str):
    """Text a filter has already made into well-formed YAML; the finalizer lets it through."""


class UnsafeValueError(jinja2.TemplateError):
    """A value would change the YAML structure if written as is."""


_INERT = re.compile(r"^[A-Za-z0-9._/:=+@~-]+(?: [A-Za-z0-9._/:=+@~-]+)*$")


def is_inert(text: str) -> bool:
    """True if ``text`` can be written into YAML anywhere without changing its structure."""
    return (
        _INERT.match(text) is not None
        and text not in ("-", "?")
        and ": " not in text
        and not text.endswith(":")
        and not text.startswith(("---", "...", "- ", "? ", ": "))
    )


def _shorten(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _finalize(value: Any) -> Any:
    if isinstance(value, (YamlText, jinja2.Undefined)):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnsafeValueError(f"{value!r} is not a finite number and has no YAML form here")
        return json.dumps(value)
    if isinstance(value, str):
        if value == "" or is_inert(value):
            return value
        raise UnsafeValueError(
            f"value {_shorten(value)} contains characters that could change the YAML structure "
            "(newline, quote, '#', brackets, ': ' ...): write it as {{ ... | quote }} for one string, "
            "or {{ ... | tojson }} / {{ ... | toyaml }} for structured data"
        )
    if isinstance(value, (Mapping, list, tuple)):
        raise UnsafeValueError(
            f"a {type(value).__name__} cannot be written as text: use {{{{ ... | tojson }}}} (inline) "
            "or {{ ... | toyaml | nindent(N) }} (block)"
        )
    raise UnsafeValueError(
        f"a {type(value).__name__} value cannot be written into YAML; convert it to a string first"
    )


def _plain(value: Any) -> Any:
    """Undefined -> error (StrictUndefined); tuples -> lists; everything else as is."""
    if isinstance(value, jinja2.Undefined):
        str(value)  # raises UndefinedError naming the variable
    return value


def _quote(value: Any) -> YamlText:
    value = _plain(value)
    text = value if isinstance(value, str) else ("" if value is None else _scalar_text(value))
    return YamlText(json.dumps(str(text), ensure_ascii=False))


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _tojson(value: Any) -> YamlText:
    try:
        return YamlText(json.dumps(_plain(value), ensure_ascii=False, sort_keys=False, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise UnsafeValueError(f"tojson: {exc}") from None


def _toyaml(value: Any) -> YamlText:
    value = _plain(value)
    try:
        text = yaml.safe_dump(value, default_flow_style=False, sort_keys=False, allow_unicode=True)
    except yaml.YAMLError as exc:
        raise UnsafeValueError(f"toyaml: {exc}") from None
    if text.endswith("\n...\n"):  # a bare scalar gets an explicit document end
        text = text[: -len("...\n")]
    return YamlText(text.rstrip("\n"))


def _indent(value: Any, width: int = 4, first: bool = False) -> Any:
    """Jinja's ``indent`` that keeps ``YamlText`` marked (indenting keeps it well-formed)."""
    text = str(_plain(value))
    pad = " " * int(width)
    lines = text.split("\n")
    indented = "\n".join((pad + line if line and (i or first) else line) for i, line in enumerate(lines))
    return YamlText(indented) if isinstance(value, YamlText) else indented


def _nindent(value: Any, width: int = 4) -> Any:
    """Helm's ``nindent``: a newline, then every line indented."""
    indented = _indent(value, width, first=True)
    return YamlText("\n" + indented) if isinstance(value, YamlText) else "\n" + indented


class _YamlSandbox(ImmutableSandboxedEnvironment):
    """The sandbox, plus: what a macro (or ``caller()``) returns is trusted YAML.

    A macro's output is template text plus ``{{ }}`` results that each went through the finalizer
    already, so it needs no second check (which would reject every multi-line macro). The sandbox
    routes every call through ``call``, which is where the marking happens.
    """

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        result = super().call(context, obj, *args, **kwargs)
        if isinstance(obj, jinja2.runtime.Macro) and isinstance(result, str):
            return YamlText(result)
        return result


def jinja_environment(root: Path) -> ImmutableSandboxedEnvironment:
    """The sandboxed environment templates render in (loader rooted at ``root``)."""
    env = _YamlSandbox(
        loader=jinja2.FileSystemLoader(str(root)),
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters.update(
        {"quote": _quote, "tojson": _tojson, "toyaml": _toyaml, "indent": _indent, "nindent": _nindent}
    )
    return env


def template_files(source: str | Path) -> tuple[Path, list[Path]]:
    """``(root, files)``: a single template file, or every template under a directory (sorted,
    partials starting with ``_`` and hidden files skipped)."""
    path = Path(source)
    if path.is_file():
        return path.parent, [path]
    if not path.is_dir():
        raise RenderError(
            f"template source {path} does not exist: give a template file or a directory of templates"
        )
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and p.name.endswith(TEMPLATE_SUFFIXES)
        and not any(part.startswith(("_", ".")) for part in p.relative_to(path).parts)
    )
    if not files:
        raise RenderError(
            f"template directory {path} has no templates: expected files ending in {', '.join(TEMPLATE_SUFFIXES)}"
        )
    return path, files


def _template_line(tb: TracebackType | None, filenames: set[str]) -> tuple[str | None, int | None]:
    """The innermost traceback frame that belongs to a template (Jinja maps those to template lines)."""
    found: tuple[str | None, int | None] = (None, None)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename in filenames:
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _describe_jinja_error(exc: Exception, root: Path, file: Path) -> str:
    filenames = {str(p) for p in root.rglob("*") if p.is_file()} | {str(file)}
    where: str | None
    line: int | None
    if isinstance(exc, jinja2.TemplateSyntaxError):
        where, line = exc.filename or str(file), exc.lineno
        problem = f"template syntax error: {exc.message}"
    else:
        where, line = _template_line(exc.__traceback__, filenames)
        if isinstance(exc, jinja2.UndefinedError):
            problem = f"{exc.message}: define it in the values (or use {{{{ x | default(...) }}}})"
        elif isinstance(exc, jinja2.exceptions.SecurityError):
            problem = f"blocked by the template sandbox: {exc}"
        elif isinstance(exc, jinja2.TemplateNotFound):
            problem = (
                f"template {exc.name!r} not found under {root} (includes cannot leave the template directory)"
            )
        else:
            problem = str(exc) if isinstance(exc, jinja2.TemplateError) else f"{type(exc).__name__}: {exc}"
    location = _relative(Path(where or file), root) + (f", line {line}" if line else "")
    return f"{location}: {problem}"


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve().parent))
    except ValueError:
        return str(path)


def render_jinja(
    source: str | Path,
    *,
    values_files: Sequence[str | Path] = (),
    values: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    namespace: str | None = None,
    cluster_scoped_kinds: Iterable[str] = (),
) -> RenderResult:
    """Render built-in templates (see the module docstring). Templates see ``values`` (the merged
    values), each top-level value by its own name, and ``namespace``."""
    root, files = template_files(source)
    merged = merge_values(values_files, values, overrides)
    context: dict[str, Any] = {k: v for k, v in merged.items() if isinstance(k, str) and k.isidentifier()}
    context.update({"values": merged, "namespace": namespace})
    env = jinja_environment(root)
    documents: list[Any] = []
    errors: list[str] = []
    for file in files:
        name = file.relative_to(root).as_posix()
        try:
            text = env.get_template(name).render(context)
        except Exception as exc:  # noqa: BLE001 - every template error is reported with its file and line
            errors.append(_describe_jinja_error(exc, root, file))
            continue
        try:
            documents.extend(load_yaml_documents(text, source=f"{_relative(file, root)} (rendered)"))
        except ManifestError as exc:
            errors.extend(str(p) for p in exc.problems)
    if errors:
        raise RenderError("cannot render the templates:\n" + "\n".join(f"  - {e}" for e in errors))
    try:
        manifests = validate_manifests(documents, cluster_scoped_kinds=cluster_scoped_kinds)
    except ManifestError as exc:
        raise RenderError(f"the rendered templates are not valid manifests: {exc}") from None
    return _result(manifests, "jinja", [str(f) for f in files])


# --------------------------------------------------------------------------------------------
# External renderers


def _run(argv: Sequence[str], *, what: str, timeout: float, env: Mapping[str, str] | None = None) -> str:
    try:
        completed = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            check=False,
        )
    except FileNotFoundError:
        raise RendererNotAvailableError(f"{what}: {argv[0]!r} is not installed") from None
    except subprocess.TimeoutExpired:
        raise RenderError(f"{what}: '{' '.join(argv)}' did not finish within {timeout:.0f}s") from None
    if completed.returncode != 0:
        stderr = completed.stderr.strip()[-2000:] or "(no error output)"
        raise RenderError(f"{what}: '{' '.join(argv)}' failed (exit {completed.returncode}): {stderr}")
    return completed.stdout


def _parse_output(text: str, *, source: str, cluster_scoped_kinds: Iterable[str]) -> list[Manifest]:
    try:
        documents = load_yaml_documents(text, source=source)
        return validate_manifests(documents, cluster_scoped_kinds=cluster_scoped_kinds)
    except ManifestError as exc:
        raise RenderError(f"{source}: the output is not valid manifests: {exc}") from None


def kustomize_command(directory: str | Path, *, binary: str | None = None) -> list[str]:
    """``kustomize build DIR`` if kustomize is installed (or given), else ``kubectl kustomize DIR``."""
    if binary:
        name = Path(binary).name
        return (
            [binary, "kustomize", str(directory)]
            if name.startswith("kubectl")
            else [binary, "build", str(directory)]
        )
    if shutil.which("kustomize"):
        return ["kustomize", "build", str(directory)]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize", str(directory)]
    raise RendererNotAvailableError(
        "kustomize: neither 'kustomize' nor 'kubectl' is on PATH: install kubectl (Debian: kubernetes-client) "
        "or kustomize (https://kubectl.docs.kubernetes.io/installation/kustomize/)"
    )


def render_kustomize(
    directory: str | Path,
    *,
    binary: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    cluster_scoped_kinds: Iterable[str] = (),
) -> RenderResult:
    """Build a kustomization directory into manifests."""
    path = Path(directory)
    if not path.is_dir():
        raise RenderError(
            f"kustomize: {path} is not a directory: give the directory holding kustomization.yaml"
        )
    if not any((path / n).is_file() for n in ("kustomization.yaml", "kustomization.yml", "Kustomization")):
        raise RenderError(f"kustomize: {path} has no kustomization.yaml")
    argv = kustomize_command(path, binary=binary)
    output = _run(argv, what=f"kustomize {path}", timeout=timeout)
    manifests = _parse_output(output, source=f"kustomize {path}", cluster_scoped_kinds=cluster_scoped_kinds)
    return _result(manifests, "kustomize", [str(path)])


def helm_binary(binary: str | None = None) -> str:
    """The helm executable to use; ``RendererNotAvailableError`` with install steps if there is none."""
    found = shutil.which(binary or "helm")
    if found is None:
        given = f"{binary!r} was not found" if binary else "no 'helm' executable on PATH"
        raise RendererNotAvailableError(f"helm is not installed ({given}): {HELM_INSTALL_HINT}")
    return found


_RELEASE_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def render_helm(
    chart: str | Path,
    *,
    release_name: str,
    namespace: str | None = None,
    values_files: Sequence[str | Path] = (),
    values: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    include_crds: bool = False,
    kube_version: str | None = None,
    binary: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    cluster_scoped_kinds: Iterable[str] = (),
) -> RenderResult:
    """``helm template`` a local chart. Values files are checked here first (clear errors), then
    passed in order; ``values`` and ``overrides`` go in a last values file (never ``--set``)."""
    if not isinstance(release_name, str) or len(release_name) > 53 or not _RELEASE_RE.match(release_name):
        raise RenderError(
            f"helm: release name {release_name!r} is invalid: at most 53 lower-case letters, digits and '-'"
        )
    executable = helm_binary(binary)
    chart_path = Path(chart)
    if not (chart_path / "Chart.yaml").is_file():
        raise RenderError(f"helm: {chart_path} is not a chart directory (no Chart.yaml)")
    for path in values_files:
        load_values_file(path)  # fail with our message (file and line) before helm runs
    extra = merge_values((), values, overrides)
    with tempfile.TemporaryDirectory(prefix="delivery-helm-") as tmp:
        argv = [executable, "template", release_name, str(chart_path)]
        if namespace:
            argv += ["--namespace", namespace]
        if include_crds:
            argv.append("--include-crds")
        if kube_version:
            argv += ["--kube-version", kube_version]
        for path in values_files:
            argv += ["--values", str(path)]
        if extra:
            extra_file = Path(tmp) / "overrides.yaml"
            extra_file.write_text(yaml.safe_dump(extra, sort_keys=False), encoding="utf-8")
            argv += ["--values", str(extra_file)]
        helm_env = {
            "HELM_CACHE_HOME": str(Path(tmp) / "cache"),
            "HELM_CONFIG_HOME": str(Path(tmp) / "config"),
            "HELM_DATA_HOME": str(Path(tmp) / "data"),
        }
        output = _run(argv, what=f"helm template {chart_path}", timeout=timeout, env=helm_env)
    manifests = _parse_output(
        output, source=f"helm template {chart_path}", cluster_scoped_kinds=cluster_scoped_kinds
    )
    return _result(manifests, "helm", [str(chart_path), *map(str, values_files)])


_RENDER_FUNCTIONS: dict[str, Callable[..., RenderResult]] = {
    "jinja": render_jinja,
    "kustomize": render_kustomize,
    "helm": render_helm,
}


def render(renderer: str, source: str | Path, **options: Any) -> RenderResult:
    """Dispatch to ``render_jinja``, ``render_kustomize`` or ``render_helm`` by name."""
    function = _RENDER_FUNCTIONS.get(renderer)
    if function is None:
        raise ValueError(f"unknown renderer {renderer!r}: expected one of {', '.join(RENDERERS)}")
    return function(source, **options)
