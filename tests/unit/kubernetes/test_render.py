"""Bake renderers.

Covered: values (deep merge, values files in order, dotted overrides, every bad values input), the
sandboxed Jinja renderer (fixtures under ``tests/data/manifests/jinja``: macros, partials, filters,
suffixes), YAML injection attempts through values (newlines, ``": "``, comments, quotes, flow
brackets, document markers, duplicate keys, anchors/tags) and code execution attempts (through
values, which are never rendered, and in templates, which the sandbox blocks), errors naming the
template file and line, Kustomize through the real ``kubectl kustomize`` (and a ``kustomize``
binary when one exists), Helm's "not installed" error, and a real ``helm template`` when helm exists.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from airflow_delivery.kubernetes.manifests import content_hash, images
from airflow_delivery.kubernetes.render import (
    RendererNotAvailableError,
    RenderError,
    apply_overrides,
    deep_merge,
    helm_binary,
    is_inert,
    kustomize_command,
    load_values_file,
    merge_values,
    render,
    render_helm,
    render_jinja,
    render_kustomize,
    template_files,
)
from tests.support import REPO_ROOT

DATA = REPO_ROOT / "tests" / "data" / "manifests"
APP = DATA / "jinja" / "app"
VALUES = DATA / "jinja" / "values.yaml"
PROD = DATA / "jinja" / "values-prod.yaml"

CONFIGMAP_TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data:
  value: {{ value }}
  other: fixed
"""


def one_template(tmp_path: Path, text: str, name: str = "t.yaml") -> Path:
    (tmp_path / name).write_text(text)
    return tmp_path / name


# ---------------------------------------------------------------------------------------------- values


def test_deep_merge_merges_mappings_and_replaces_everything_else() -> None:
    base = {"image": {"repository": "r", "tag": "v1"}, "env": [1, 2], "n": 1}
    merged = deep_merge(base, {"image": {"tag": "v2"}, "env": [3], "extra": {"a": 1}})
    assert merged == {"image": {"repository": "r", "tag": "v2"}, "env": [3], "n": 1, "extra": {"a": 1}}
    assert base["image"]["tag"] == "v1"


def test_overrides_set_dotted_keys_and_escaped_dots() -> None:
    values = apply_overrides(
        {"image": {"tag": "v1"}}, {"image.tag": "v2", "annotations.team\\.io/owner": "me", "new.deep.key": 3}
    )
    assert values == {
        "image": {"tag": "v2"},
        "annotations": {"team.io/owner": "me"},
        "new": {"deep": {"key": 3}},
    }


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"image.tag.x": "v"}, "'image.tag' is a str, not a mapping"),
        ({"": "v"}, "is not a dotted path"),
        ({"a..b": "v"}, "is not a dotted path"),
        ({3: "v"}, "must be a string"),
    ],
)
def test_bad_overrides(overrides: dict, fragment: str) -> None:
    with pytest.raises(RenderError, match=fragment):
        apply_overrides({"image": {"tag": "v1"}}, overrides)


def test_values_files_merge_in_order_then_values_then_overrides() -> None:
    merged = merge_values([VALUES, PROD], {"replicas": 7, "port": 9090}, {"replicas": 8})
    assert merged["replicas"] == 8 and merged["port"] == 9090
    assert merged["image"] == {"repository": "registry.example.com/team/api", "tag": "v1-prod"}
    assert merged["sidecar"]["enabled"] is True


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("- a\n- b\n", "must be a YAML mapping"),
        ("a: 1\n---\nb: 2\n", "has 2 YAML documents"),
        ("a: [1\n", "invalid YAML at line"),
        ("a: 1\na: 2\n", "duplicate key 'a'"),
    ],
)
def test_bad_values_files_name_the_file(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(content)
    with pytest.raises(RenderError) as info:
        load_values_file(path)
    assert str(path) in str(info.value) and fragment in str(info.value)


def test_missing_and_empty_values_files(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="missing.yaml: cannot read it"):
        load_values_file(tmp_path / "missing.yaml")
    (tmp_path / "empty.yaml").write_text("# nothing\n")
    assert load_values_file(tmp_path / "empty.yaml") == {}


def test_values_and_overrides_must_be_mappings() -> None:
    with pytest.raises(RenderError, match="values must be a mapping"):
        merge_values((), ["a"])  # type: ignore[arg-type]
    with pytest.raises(RenderError, match="overrides must be a mapping"):
        merge_values((), None, ["a"])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- jinja


def test_renders_the_app_fixture() -> None:
    result = render_jinja(APP, values_files=[VALUES, PROD], overrides={"image.tag": "v9"})
    assert result.renderer == "jinja"
    assert [m["kind"] for m in result.manifests] == [
        "ConfigMap",
        "Deployment",
        "Service",
    ]  # sorted by file name
    assert [Path(s).name for s in result.sources] == ["configmap.yaml.j2", "deployment.yaml", "service.yaml"]
    config, deployment, service = result.manifests
    assert config["data"] == {"greeting": "hello", "settings.json": '{"retries": 3}'}
    assert deployment["metadata"]["labels"] == {"app": "api", "tier": "web"}
    assert deployment["metadata"]["annotations"]["description"] == "The API: serves /v1"
    assert deployment["spec"]["replicas"] == 5
    assert deployment["spec"]["selector"]["matchLabels"] == {"app": "api"}
    assert images(deployment) == ["registry.example.com/team/api:v9", "envoyproxy/envoy:v1.30.0"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "LOG_LEVEL", "value": "info"}
    ]
    assert service["spec"]["ports"][0]["targetPort"] == 8080
    assert result.hash == content_hash(result.manifests)
    assert result.to_xcom() == {
        "manifests": result.manifests,
        "hash": result.hash,
        "renderer": "jinja",
        "sources": list(result.sources),
    }


def test_rendering_is_deterministic_and_the_hash_follows_the_values() -> None:
    first = render_jinja(APP, values_files=[VALUES])
    assert render_jinja(APP, values_files=[VALUES]).hash == first.hash
    assert render_jinja(APP, values_files=[VALUES], overrides={"image.tag": "v2"}).hash != first.hash


def test_single_file_source_and_namespace_variable(tmp_path: Path) -> None:
    path = one_template(
        tmp_path, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: {{ namespace }}\n"
    )
    assert render_jinja(path, namespace="staging").manifests[0]["metadata"]["namespace"] == "staging"
    assert render("jinja", path, namespace="prod").manifests[0]["metadata"]["namespace"] == "prod"


def test_values_are_reachable_as_values_and_by_name(tmp_path: Path) -> None:
    path = one_template(tmp_path, CONFIGMAP_TEMPLATE.replace("{{ value }}", "{{ values.value }}-{{ value }}"))
    assert render_jinja(path, values={"value": "x"}).manifests[0]["data"]["value"] == "x-x"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3),
        (1.5, 1.5),
        (True, True),
        (None, None),
        ("plain", "plain"),
        ("with spaces inside", "with spaces inside"),
        ("registry.example.com:5000/team/api:v1", "registry.example.com:5000/team/api:v1"),
    ],
)
def test_scalars_render_as_yaml_scalars(tmp_path: Path, value: object, expected: object) -> None:
    path = one_template(tmp_path, CONFIGMAP_TEMPLATE)
    assert render_jinja(path, values={"value": value}).manifests[0]["data"]["value"] == expected


INJECTIONS = [
    "x\nkind: Secret",
    "x\n  other: injected",
    "a: b",
    "x # comment",
    "'quoted'",
    '"quoted"',
    "[a, b]",
    "{a: b}",
    "a, b",
    "---",
    "...",
    "- item",
    "&anchor x",
    "*alias",
    "!!python/object:os.system",
    "|\n  block",
    "x\r\nkind: Secret",
    "tab\there",
    "{{ ''.__class__ }}",
    "{% for x in range(3) %}{% endfor %}",
    " leading",
    "trailing:",
    "-",
    "%directive",
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_unsafe_values_are_refused_with_file_line_and_fix(tmp_path: Path, value: str) -> None:
    path = one_template(tmp_path, CONFIGMAP_TEMPLATE)
    with pytest.raises(RenderError) as info:
        render_jinja(path, values={"value": value})
    message = str(info.value)
    assert "t.yaml, line 6" in message and "| quote" in message


@pytest.mark.parametrize("value", INJECTIONS)
def test_quoted_values_stay_one_string(tmp_path: Path, value: str) -> None:
    path = one_template(tmp_path, CONFIGMAP_TEMPLATE.replace("{{ value }}", "{{ value | quote }}"))
    [manifest] = render_jinja(path, values={"value": value}).manifests
    assert manifest["data"] == {"value": value, "other": "fixed"}
    assert manifest["kind"] == "ConfigMap" and manifest["metadata"] == {"name": "cfg"}


@pytest.mark.parametrize("value", INJECTIONS)
def test_quoted_values_inside_double_quotes_in_the_template_are_still_safe(
    tmp_path: Path, value: str
) -> None:
    # A template that already quotes: '"{{ value }}"'. Unsafe values are refused, never spliced in.
    path = one_template(tmp_path, CONFIGMAP_TEMPLATE.replace("{{ value }}", '"{{ value }}"'))
    with pytest.raises(RenderError):
        render_jinja(path, values={"value": value})


@pytest.mark.parametrize("value", INJECTIONS)
def test_tojson_and_toyaml_carry_any_string(tmp_path: Path, value: str) -> None:
    text = CONFIGMAP_TEMPLATE.replace(
        "value: {{ value }}", "value: {{ value | tojson }}\n  block: {{ value | toyaml | nindent(4) }}"
    )
    [manifest] = render_jinja(one_template(tmp_path, text), values={"value": value}).manifests
    assert manifest["data"] == {"value": value, "block": value, "other": "fixed"}


def test_values_are_never_rendered_as_templates(tmp_path: Path) -> None:
    path = one_template(tmp_path, CONFIGMAP_TEMPLATE.replace("{{ value }}", "{{ value | quote }}"))
    [manifest] = render_jinja(path, values={"value": "{{ 7 * 7 }}"}).manifests
    assert manifest["data"]["value"] == "{{ 7 * 7 }}"


def test_injection_through_structured_values_and_keys(tmp_path: Path) -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n{% for k, v in env.items() %}  {{ k }}: {{ v | quote }}\n{% endfor %}"
    path = one_template(tmp_path, text)
    assert render_jinja(path, values={"env": {"A": "1", "B": "x\ny"}}).manifests[0]["data"] == {
        "A": "1",
        "B": "x\ny",
    }
    with pytest.raises(RenderError, match="could change the YAML structure"):
        render_jinja(path, values={"env": {"A: 1\nkind": "Secret"}})
    with pytest.raises(RenderError, match="a dict cannot be written as text"):
        render_jinja(one_template(tmp_path, CONFIGMAP_TEMPLATE), values={"value": {"a": 1}})
    with pytest.raises(RenderError, match="a list cannot be written as text"):
        render_jinja(one_template(tmp_path, CONFIGMAP_TEMPLATE), values={"value": [1]})


def test_duplicate_keys_from_a_template_are_refused(tmp_path: Path) -> None:
    text = CONFIGMAP_TEMPLATE + "  other: again\n"
    with pytest.raises(RenderError, match="duplicate key 'other'"):
        render_jinja(one_template(tmp_path, text), values={"value": "x"})


def test_non_finite_numbers_and_odd_types_are_refused(tmp_path: Path) -> None:
    path = one_template(tmp_path, CONFIGMAP_TEMPLATE)
    with pytest.raises(RenderError, match="not a finite number"):
        render_jinja(path, values={"value": float("nan")})
    with pytest.raises(RenderError, match="a bytes value cannot be written"):
        render_jinja(path, values={"value": b"x"})


@pytest.mark.parametrize(
    "expression",
    [
        "''.__class__.__mro__",
        "cycler.__init__.__globals__",
        "lipsum.__globals__",
        "values.__class__",
        "range.__self__",
        "''.format.__self__",
    ],
)
def test_template_code_cannot_escape_the_sandbox(tmp_path: Path, expression: str) -> None:
    path = one_template(
        tmp_path, CONFIGMAP_TEMPLATE.replace("value }}", f"{expression} | string | quote }}}}")
    )
    with pytest.raises(RenderError) as info:
        render_jinja(path, values={"value": "x"})
    message = str(info.value)
    assert "t.yaml, line 6" in message
    # Blocked either by the sandbox or because the sandbox hands out wrappers without the attribute.
    assert "sandbox" in message or "undefined" in message or "has no attribute" in message


def test_values_are_immutable_inside_templates(tmp_path: Path) -> None:
    text = CONFIGMAP_TEMPLATE.replace("{{ value }}", "{{ values.update({'x': 1}) }}")
    with pytest.raises(RenderError, match="sandbox"):
        render_jinja(one_template(tmp_path, text), values={"value": "x"})


def test_fixture_sandbox_escape_is_blocked() -> None:
    with pytest.raises(
        RenderError, match=r"sandbox-escape/deploy.yaml, line 6: blocked by the template sandbox"
    ):
        render_jinja(DATA / "jinja" / "sandbox-escape")


def test_syntax_error_names_file_and_line() -> None:
    with pytest.raises(RenderError, match=r"broken-syntax/deploy.yaml, line 6: template syntax error"):
        render_jinja(DATA / "jinja" / "broken-syntax")


def test_undefined_value_names_file_line_and_variable() -> None:
    with pytest.raises(RenderError, match=r"undefined/deploy.yaml, line 7: 'not_in_values' is undefined"):
        render_jinja(DATA / "jinja" / "undefined", values={"known": "k"})


def test_missing_nested_value_is_an_error(tmp_path: Path) -> None:
    path = one_template(tmp_path, CONFIGMAP_TEMPLATE.replace("{{ value }}", "{{ image.tag }}"))
    with pytest.raises(RenderError, match="line 6: 'dict object' has no attribute 'tag'"):
        render_jinja(path, values={"image": {}})


def test_rendered_output_that_is_not_a_manifest_is_named() -> None:
    with pytest.raises(
        RenderError, match=r"not-a-manifest/deploy.yaml \(rendered\), document 1 .*metadata.name: is missing"
    ):
        render_jinja(DATA / "jinja" / "not-a-manifest")


def test_invalid_rendered_yaml_is_named(tmp_path: Path) -> None:
    path = one_template(tmp_path, CONFIGMAP_TEMPLATE.replace("{{ value }}", "{{ a }}: {{ b }}"))
    with pytest.raises(RenderError, match=r"t.yaml \(rendered\), document 1.*invalid YAML at line 6"):
        render_jinja(path, values={"a": "x", "b": "y"})


def test_includes_cannot_leave_the_template_directory(tmp_path: Path) -> None:
    (tmp_path / "outside.yaml").write_text("secret: 1\n")
    inner = tmp_path / "templates"
    inner.mkdir()
    one_template(inner, CONFIGMAP_TEMPLATE.replace("{{ value }}", "x") + '{% include "../outside.yaml" %}')
    with pytest.raises(RenderError, match="not found under"):
        render_jinja(inner)


def test_every_template_error_is_reported_together(tmp_path: Path) -> None:
    one_template(tmp_path, "{{ a", "a.yaml")
    one_template(tmp_path, "{{ b }}", "b.yaml")
    with pytest.raises(RenderError) as info:
        render_jinja(tmp_path)
    assert "a.yaml, line 1" in str(info.value) and "b.yaml, line 1" in str(info.value)


def test_template_directory_selection(tmp_path: Path) -> None:
    for name in ("b.yaml", "a.yml", "c.j2", "_partial.yaml", "notes.txt", ".hidden.yaml"):
        (tmp_path / name).write_text("")
    (tmp_path / "_lib").mkdir()
    (tmp_path / "_lib" / "x.yaml").write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.yaml").write_text("")
    root, files = template_files(tmp_path)
    assert root == tmp_path
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["a.yml", "b.yaml", "c.j2", "sub/d.yaml"]


def test_template_source_errors(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="does not exist"):
        template_files(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(RenderError, match="has no templates"):
        template_files(tmp_path)


def test_toyaml_and_filters_on_odd_input(tmp_path: Path) -> None:
    text = CONFIGMAP_TEMPLATE.replace("{{ value }}", "{{ value | toyaml }}").replace(
        "fixed", "{{ 3 | quote }}"
    )
    [manifest] = render_jinja(one_template(tmp_path, text), values={"value": "plain"}).manifests
    assert manifest["data"] == {"value": "plain", "other": "3"}
    with pytest.raises(RenderError, match="'missing' is undefined"):
        render_jinja(one_template(tmp_path, CONFIGMAP_TEMPLATE.replace("value }}", "missing | quote }}")))


def test_is_inert() -> None:
    assert is_inert("registry.example.com:5000/team/api:v1") and is_inert("a b c") and is_inert("-1")
    for text in ("a  b", "a: b", "x:", "- a", "---", "#", "a\nb", "?", "[", ","):
        assert not is_inert(text), text


def test_unknown_renderer() -> None:
    with pytest.raises(ValueError, match="unknown renderer 'ytt'"):
        render("ytt", APP)


# ---------------------------------------------------------------------------------------------- kustomize


def test_kustomize_overlay_with_kubectl() -> None:
    result = render_kustomize(DATA / "kustomize" / "overlays" / "prod", binary=shutil.which("kubectl"))
    assert result.renderer == "kustomize"
    kinds = {m["kind"]: m for m in result.manifests}
    deployment = kinds["Deployment"]
    assert deployment["metadata"]["name"] == "prod-web" and deployment["metadata"]["namespace"] == "prod"
    assert deployment["spec"]["replicas"] == 3
    assert images(deployment) == ["nginx:1.27"]
    assert kinds["Service"]["metadata"]["labels"] == {"app.kubernetes.io/part-of": "shop"}
    assert result.hash == content_hash(result.manifests)


def test_kustomize_default_binary_choice() -> None:
    command = kustomize_command("dir")
    expected = ["kustomize", "build", "dir"] if shutil.which("kustomize") else ["kubectl", "kustomize", "dir"]
    assert command == expected
    assert kustomize_command("dir", binary="/opt/kustomize") == ["/opt/kustomize", "build", "dir"]
    assert render("kustomize", DATA / "kustomize" / "base").manifests


@pytest.mark.skipif(shutil.which("kustomize") is None, reason="no standalone kustomize binary on PATH")
def test_kustomize_standalone_binary() -> None:
    result = render_kustomize(DATA / "kustomize" / "overlays" / "prod", binary=shutil.which("kustomize"))
    assert images(next(m for m in result.manifests if m["kind"] == "Deployment")) == ["nginx:1.27"]


def test_kustomize_errors(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="missing.yaml"):
        render_kustomize(DATA / "kustomize" / "broken")
    with pytest.raises(RenderError, match="is not a directory"):
        render_kustomize(tmp_path / "nope")
    with pytest.raises(RenderError, match="has no kustomization.yaml"):
        render_kustomize(tmp_path)
    with pytest.raises(RendererNotAvailableError, match="is not installed"):
        render_kustomize(DATA / "kustomize" / "base", binary=str(tmp_path / "no-such-kustomize"))


def test_kustomize_output_is_validated(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - cm.yaml\n")
    (tmp_path / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels:\n    bad: 'a b'\n"
    )
    with pytest.raises(RenderError, match="not valid manifests.*metadata.labels.bad"):
        render_kustomize(tmp_path)


# ---------------------------------------------------------------------------------------------- helm


def test_helm_missing_binary_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(RendererNotAvailableError) as info:
        render_helm(DATA / "helm" / "demo", release_name="demo", binary=str(tmp_path / "helm"))
    message = str(info.value)
    assert "helm is not installed" in message and "https://helm.sh/docs/intro/install/" in message
    assert "Debian bookworm does not package Helm" in message


@pytest.mark.skipif(shutil.which("helm") is not None, reason="helm is installed here")
def test_helm_not_on_path() -> None:
    with pytest.raises(RendererNotAvailableError, match="no 'helm' executable on PATH"):
        helm_binary()
    with pytest.raises(RendererNotAvailableError, match="helm is not installed"):
        render("helm", DATA / "helm" / "demo", release_name="demo")


@pytest.mark.parametrize("name", ["", "Demo", "a_b", "x" * 54])
def test_helm_release_name_is_checked(name: str) -> None:
    with pytest.raises(RenderError, match="release name"):
        render_helm(DATA / "helm" / "demo", release_name=name)


@pytest.mark.skipif(
    shutil.which("helm") is None, reason="helm is not installed (not packaged for Debian bookworm)"
)
def test_helm_template_renders_a_chart(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("replicas: 2\n")
    with pytest.raises(RenderError, match="not a chart directory"):
        render_helm(tmp_path, release_name="demo")
    result = render_helm(
        DATA / "helm" / "demo",
        release_name="shop",
        namespace="prod",
        values_files=[values],
        overrides={"image": "nginx:1.27,replicas=9"},  # one string, not extra --set keys
    )
    [deployment] = result.manifests
    assert deployment["metadata"]["name"] == "shop-demo" and deployment["spec"]["replicas"] == 2
    assert images(deployment) == ["nginx:1.27,replicas=9"]
    assert result.renderer == "helm"
