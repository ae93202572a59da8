"""``airflow-delivery judge`` run as a real process: exit codes, stdout JSON, one-line stderr."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

REQUEST = {
    "canaryConfig": {"metrics": [{"name": "latency", "groups": ["latency"]}]},
    "metricSetPairList": [
        {
            "name": "latency",
            "values": {
                "control": [10, 11, 12, 10.5, 11.5, "NaN"],
                "experiment": [20, 21, 22, 20.5, 21.5, None],
            },
        }
    ],
    "scoreThresholds": {"pass": 75, "marginal": 50},
}


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow_delivery.cli", "judge", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_judges_a_request_file(tmp_path):
    path = tmp_path / "request.json"
    path.write_text(json.dumps(REQUEST))
    done = _run(str(path))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["results"][0]["classification"] == "High"
    assert result["score"]["classification"] == "Fail"


def test_reads_stdin():
    done = _run("-", stdin=json.dumps(REQUEST))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["judgeName"] == "NetflixACAJudge-v1.0"


@pytest.mark.parametrize(
    ("request_text", "needle"),
    [
        (
            json.dumps({**REQUEST, "scoreThresholds": {"pass": 10, "marginal": 20}}),
            "scoreThresholds.marginal",
        ),
        (
            json.dumps(
                {
                    **REQUEST,
                    "metricSetPairList": [
                        {"name": "latency", "values": {"control": ["x"], "experiment": []}}
                    ],
                }
            ),
            "metricSetPairList[0].values.control[0]",
        ),
        ("{broken", "not valid JSON"),
    ],
)
def test_malformed_request_exits_2_with_one_line(request_text, needle):
    done = _run("-", stdin=request_text)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]


def test_missing_file_exits_2(tmp_path):
    done = _run(str(tmp_path / "absent.json"))
    assert done.returncode == 2
    assert "cannot read" in done.stderr


def test_installed_console_script_runs(tmp_path):
    script = __import__("shutil").which(
        "airflow-delivery", path=str(__import__("pathlib").Path(sys.executable).parent)
    )
    if script is None:
        pytest.skip("airflow-delivery console script not installed in this environment")
    path = tmp_path / "request.json"
    path.write_text(json.dumps(REQUEST))
    done = subprocess.run(
        [script, "judge", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
