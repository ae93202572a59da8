"""Explicit artifact binding: put the bound tag or digest of each declared image into the manifests.

Spinnaker binds "whatever artifacts are in the context" by name and fails with "artifacts could not
be bound" without saying which or where. Here a stage declares each artifact it deploys (a
repository, e.g. ``registry.example.com/team/api``) and the run binds it to a reference (a tag, a
digest or both). Binding is all or nothing:

1. every ``required`` artifact must be bound, checked before anything else; the error lists each
   missing one and the containers that expected it;
2. every container image whose repository is a declared artifact's gets the bound reference;
3. a declared artifact that matched no image is reported (warning, or error by option).

Repositories are compared the way ``docker pull`` reads them: ``nginx``, ``library/nginx`` and
``docker.io/library/nginx`` are one repository; a registry keeps its port; tags and digests in the
manifest do not matter for matching. Input manifests are never mutated.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from airflow_delivery.artifacts.references import (
    ImageReference,
    is_digest,
    is_docker_hub,
    normalize_repository,
    parse_reference,
    validate_reference,
)
from airflow_delivery.kubernetes.manifests import Manifest, iter_containers

OnUnmatched = Literal["ignore", "warn", "error"]


class ArtifactBindingError(ValueError):
    """Binding cannot proceed; ``problems`` holds one line per artifact saying what to do."""

    def __init__(self, headline: str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(headline + "\n" + "\n".join(f"  - {p}" for p in self.problems))


def canonical_repository(text: str) -> str:
    """``registry/repository`` in one spelling: Docker Hub as ``docker.io/library/...``, host lower-case.

    ``text`` may carry a tag or digest, which is ignored. Raises ``ValueError`` for text that is not
    an image reference.
    """
    return _canonical(parse_reference(text))


def _canonical(ref: ImageReference) -> str:
    hub = is_docker_hub(ref.registry)
    registry = "docker.io" if hub else str(ref.registry).lower()
    return f"{registry}/{normalize_repository(ref.repository, docker_hub=hub)}"


@dataclass(frozen=True)
class DeclaredArtifact:
    """An image a stage deploys: a repository, found in the run's artifacts under ``name``.

    ``name`` defaults to the repository as written. ``required`` artifacts must be bound; optional
    ones that are not bound leave the manifests' own tags in place.
    """

    repository: str
    name: str = ""
    required: bool = True

    def __post_init__(self) -> None:
        try:
            ref = parse_reference(self.repository)
        except ValueError as exc:
            raise ValueError(f"declared artifact {self.name or self.repository!r}: {exc}") from None
        if ref.tag or ref.digest:
            raise ValueError(
                f"declared artifact {self.name or self.repository!r}: repository {self.repository!r} carries a "
                "tag or digest; declare the repository alone (e.g. 'registry.example.com/team/api') and bind "
                "the tag at run time"
            )
        if not self.name:
            object.__setattr__(self, "name", self.repository)

    @property
    def canonical(self) -> str:
        return canonical_repository(self.repository)


@dataclass(frozen=True)
class BoundReference:
    """What an artifact is bound to: a tag, a digest, or both (``v2@sha256:...``)."""

    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, value: str, artifact: DeclaredArtifact) -> BoundReference:
        """Accept ``v2``, ``sha256:...``, ``v2@sha256:...`` or a full reference of the same repository."""
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"artifact {artifact.name!r} is bound to {value!r}: expected a tag or a digest")
        value = value.strip()
        try:
            if is_digest(value) or re.match(r"^sha(256|384|512):", value):
                return cls(digest=validate_reference(value))
            tag, at, digest = value.partition("@")
            if "/" not in tag and ":" not in tag:
                validate_reference(tag)
                if at:
                    validate_reference(digest)
                    if not is_digest(digest):
                        raise ValueError(f"{digest!r} after '@' is not a digest")
                return cls(tag=tag, digest=digest or None)
            ref = parse_reference(value)
        except ValueError as exc:
            raise ValueError(f"artifact {artifact.name!r} is bound to {value!r}: {exc}") from None
        if _canonical(ref) != artifact.canonical:
            raise ValueError(
                f"artifact {artifact.name!r} is bound to {value!r}, an image of repository {_canonical(ref)!r}, "
                f"but it was declared as {artifact.canonical!r}: bind a tag or digest of the declared repository"
            )
        if not ref.tag and not ref.digest:
            raise ValueError(
                f"artifact {artifact.name!r} is bound to {value!r}, which names no tag or digest"
            )
        return cls(tag=ref.tag, digest=ref.digest)

    def __str__(self) -> str:
        return (self.tag or "") + (f"@{self.digest}" if self.digest else "")


@dataclass(frozen=True)
class ImageBinding:
    """One image replaced: in which document and container, from what to what."""

    artifact: str
    document: int
    kind: str
    name: str
    container: str
    path: str
    before: str
    after: str


@dataclass
class BindingResult:
    manifests: list[Manifest]
    bindings: list[ImageBinding] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)  # declared and bound, but no image used it
    unbound_optional: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def bound_artifacts(self) -> dict[str, str]:
        """artifact name -> image reference it was bound to (for the deploy's annotations and XCom)."""
        return {b.artifact: b.after for b in self.bindings}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record of what was bound where (XCom-safe: images only, no manifest data)."""
        return {
            "bindings": [asdict(b) for b in self.bindings],
            "unmatched": list(self.unmatched),
            "unbound_optional": list(self.unbound_optional),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class _Site:
    document: int
    kind: str
    name: str
    container: str
    path: str
    image: str

    def describe(self) -> str:
        return (
            f"document {self.document} {self.kind} {self.name!r} container {self.container!r} ({self.path})"
        )


def _sites(manifests: Sequence[Manifest]) -> tuple[list[tuple[_Site, str]], list[str]]:
    """(site, canonical repository) for every parsable container image, plus warnings for the others."""
    sites: list[tuple[_Site, str]] = []
    warnings: list[str] = []
    for number, manifest in enumerate(manifests, start=1):
        for ref in iter_containers(manifest):
            if ref.image is None:
                continue
            site = _Site(number, ref.kind, ref.name, ref.container, ref.path, ref.image)
            try:
                sites.append((site, canonical_repository(ref.image)))
            except ValueError as exc:
                warnings.append(
                    f"{site.describe()}: image {ref.image!r} is not a valid reference, left as is ({exc})"
                )
    return sites, warnings


def _rewrite(image: str, bound: BoundReference) -> str:
    """Keep the repository as the manifest spells it, replace the tag/digest by the bound ones."""
    ref = parse_reference(image)
    prefix = f"{ref.registry}/{ref.repository}" if ref.registry else ref.repository
    return prefix + (f":{bound.tag}" if bound.tag else "") + (f"@{bound.digest}" if bound.digest else "")


def _lookup(bound: Mapping[str, str], artifact: DeclaredArtifact) -> str | None:
    for key in (artifact.name, artifact.repository, artifact.canonical):
        value = bound.get(key)
        if value is not None and value != "":
            return value
    return None


def _check_declarations(declared: Sequence[DeclaredArtifact]) -> None:
    names: dict[str, DeclaredArtifact] = {}
    repositories: dict[str, DeclaredArtifact] = {}
    for artifact in declared:
        if artifact.name in names:
            raise ValueError(f"artifact {artifact.name!r} is declared twice: give each artifact its own name")
        if artifact.canonical in repositories:
            other = repositories[artifact.canonical].name
            raise ValueError(
                f"artifacts {other!r} and {artifact.name!r} both declare repository {artifact.canonical!r}: "
                "one repository can be bound only once per stage"
            )
        names[artifact.name] = artifact
        repositories[artifact.canonical] = artifact


def bind_artifacts(
    manifests: Sequence[Manifest],
    declared: Sequence[DeclaredArtifact],
    bound: Mapping[str, str],
    *,
    on_unmatched: OnUnmatched = "warn",
) -> BindingResult:
    """Replace the images of declared repositories by their bound tag/digest; see the module docstring.

    ``bound`` maps an artifact's name (or its repository) to a tag, digest, ``tag@digest`` or full
    reference. Raises ``ArtifactBindingError`` when required artifacts are unbound (listed with where
    each was expected), when a bound value is invalid, or, with ``on_unmatched="error"``, when a
    bound artifact matched no image. Returns new manifests and the record of every replacement.
    """
    if on_unmatched not in ("ignore", "warn", "error"):
        raise ValueError(f"on_unmatched={on_unmatched!r}: expected 'ignore', 'warn' or 'error'")
    _check_declarations(declared)
    sites, warnings = _sites(manifests)
    by_repository: dict[str, list[_Site]] = {}
    for site, repository in sites:
        by_repository.setdefault(repository, []).append(site)

    # 1. Required but unbound: fail first, naming every one and where it was expected.
    missing = [a for a in declared if a.required and _lookup(bound, a) is None]
    if missing:
        problems = []
        for artifact in missing:
            used = by_repository.get(artifact.canonical, [])
            where = (
                "; ".join(s.describe() for s in used)
                if used
                else "no container image in the manifests uses it"
            )
            problems.append(f"{artifact.name!r} ({artifact.canonical}) expected by: {where}")
        raise ArtifactBindingError(
            f"{len(missing)} required artifact(s) not bound; bind them in the run's artifacts "
            '(e.g. {"artifacts": {"<name>": "<tag or digest>"}}):',
            problems,
        )

    # 2. Parse every bound value before touching anything.
    references: dict[str, BoundReference] = {}
    invalid: list[str] = []
    unbound_optional: list[str] = []
    for artifact in declared:
        value = _lookup(bound, artifact)
        if value is None:
            unbound_optional.append(artifact.name)
            continue
        try:
            references[artifact.name] = BoundReference.parse(value, artifact)
        except ValueError as exc:
            invalid.append(str(exc))
    if invalid:
        raise ArtifactBindingError(f"{len(invalid)} artifact binding(s) are invalid:", invalid)

    # 3. Declared and bound but used by no image.
    unmatched = [a.name for a in declared if a.name in references and a.canonical not in by_repository]
    if unmatched and on_unmatched == "error":
        raise ArtifactBindingError(
            f"{len(unmatched)} bound artifact(s) match no container image in the manifests "
            "(compare each declared repository with the images the manifests use):",
            [f"{a.name!r} ({a.canonical})" for a in declared if a.name in unmatched],
        )
    if on_unmatched == "warn":
        warnings.extend(
            f"artifact {a.name!r} ({a.canonical}) is bound but no container image uses it"
            for a in declared
            if a.name in unmatched
        )

    # 4. Replace.
    result = [copy.deepcopy(m) for m in manifests]
    by_canonical = {a.canonical: a for a in declared if a.name in references}
    bindings: list[ImageBinding] = []
    for site, repository in sites:
        match = by_canonical.get(repository)
        if match is None:
            continue
        after = _rewrite(site.image, references[match.name])
        _set_image(result[site.document - 1], site.path, after)
        bindings.append(
            ImageBinding(
                match.name,
                site.document,
                site.kind,
                site.name,
                site.container,
                site.path,
                site.image,
                after,
            )
        )
    return BindingResult(
        manifests=result,
        bindings=bindings,
        unmatched=unmatched,
        unbound_optional=unbound_optional,
        warnings=warnings,
    )


def _set_image(manifest: Manifest, path: str, image: str) -> None:
    """Set ``image`` at a container path such as ``spec.template.spec.containers[0]``."""
    node: Any = manifest
    *keys, last = path.split(".")
    for key in keys:
        node = node[key]
    list_name, _, index = last.partition("[")
    node[list_name][int(index.rstrip("]"))]["image"] = image
