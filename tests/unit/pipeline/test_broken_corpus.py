"""Every file of the broken-pipeline corpus gives its own clear error, naming file, line and field.

Each file starts with ``# expect: <text>``: the error the file must produce. ``airflow-delivery
validate`` reports all of them and exits 1; none of them loads.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from airflow_delivery.pipeline.loader import PipelineFileError, load_pipeline_file
from tests.support import REPO_ROOT

CORPUS = REPO_ROOT / "tests" / "data" / "pipelines" / "broken"
FILES = sorted(CORPUS.glob("*.yaml"))


def expected(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} lacks its '# expect:' line"
    return first.removeprefix("# expect: ")


def test_corpus_is_large_enough() -> None:
    assert len(FILES) >= 30


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_each_broken_file_has_its_own_clear_error(path: Path) -> None:
    with pytest.raises(PipelineFileError) as info:
        load_pipeline_file(path)
    messages = [str(e) for e in info.value.errors]
    assert any(expected(path) in m for m in messages), messages
    assert all(m.startswith(str(path)) for m in messages), "every error names its file"


def test_validate_reports_the_whole_corpus() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "airflow_delivery.cli", "validate", str(CORPUS)], capture_output=True, text=True
    )
    assert out.returncode == 1
    assert f"0 of {len(FILES)} pipeline files valid" in out.stdout
    for path in FILES:
        assert expected(path) in out.stderr, path.name
