"""Parse benchmark: 500 pipeline files of 10 stages, ours side by side with astronomer's dag-factory.

Measures, in fresh processes (as Airflow's dag-processor and workers run them):
- parse all: the time Airflow's DagBag takes to import the loader file and bag every DAG (what the
  dag-processor does for the file, before serialising), Airflow itself already imported;
- parse + serialise: the same plus Airflow's DAG serialisation, which the dag-processor also does;
- worker build: a worker starting one task of one pipeline (``get_parsing_context`` set), which is
  the parse every task start pays.
Both sides build the same DAGs: the same operator class (our deferred wait), the same chain of 10
tasks per DAG. dag-factory is installed into a temporary folder for this run only.

Run: ``.venv/bin/python bench/parse.py [--pipelines 500] [--stages 10] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DAG_FACTORY = "dag-factory==1.1.0"

MEASURE = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    import airflow  # imported before timing: the dag-processor has Airflow loaded already
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization
    folder = Path(sys.argv[1])
    t0 = time.perf_counter()
    bag = DagBag(str(folder), bundle_path=folder)
    t1 = time.perf_counter()
    if sys.argv[2] == "serialise":
        for dag in bag.dags.values():
            DagSerialization.to_dict(dag)
    t2 = time.perf_counter()
    print(json.dumps({"parse": t1 - t0, "serialise": t2 - t1, "dags": len(bag.dag_ids),
                      "errors": len(bag.import_errors)}))
    """
)


def write_ours(folder: Path, pipelines: int, stages: int) -> None:
    (folder / "pipelines").mkdir(parents=True)
    shutil.copy(REPO / "dags" / "delivery_pipelines.py", folder / "delivery_pipelines.py")
    for i in range(pipelines):
        lines = [f"name: p{i:04d}", f"description: benchmark pipeline {i}", "stages:"]
        for j in range(stages):
            dep = f", depends_on: [s{j - 1}]" if j else ""
            lines.append(f"  - {{id: s{j}, type: wait, duration: {j + 1}s{dep}}}")
        (folder / "pipelines" / f"p{i:04d}.yaml").write_text("\n".join(lines) + "\n")


def write_dag_factory(folder: Path, pipelines: int, stages: int) -> None:
    (folder / "pipelines").mkdir(parents=True)
    (folder / "dag_factory_loader.py").write_text(
        "# airflow dag loader for dag-factory\n"
        "from pathlib import Path\n"
        "from dagfactory import load_yaml_dags\n"
        "load_yaml_dags(globals_dict=globals(), dags_folder=str(Path(__file__).parent / 'pipelines'))\n"
    )
    for i in range(pipelines):
        lines = [
            f"p{i:04d}:",
            f"  description: benchmark pipeline {i}",
            "  schedule: null",
            "  catchup: false",
            "  start_date: 2024-01-01",
            "  max_active_runs: 1",
            "  tasks:",
        ]
        for j in range(stages):
            lines += [
                f"    - task_id: s{j}",
                "      operator: airflow_delivery.operators.wait.WaitOperator",
                f"      duration: {{__type__: datetime.timedelta, seconds: {j + 1}}}",
            ]
            if j:
                lines.append(f"      dependencies: [s{j - 1}]")
        (folder / "pipelines" / f"p{i:04d}.yaml").write_text("\n".join(lines) + "\n")


def install_dag_factory(target: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
         "--target", str(target), DAG_FACTORY],
        check=True,
    )


def measure(folder: Path, *, serialise: bool, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(folder), "serialise" if serialise else "parse"],
        capture_output=True, text=True, env={**os.environ, **env}, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def best(folder: Path, repeat: int, *, serialise: bool, env: dict[str, str]) -> dict[str, float]:
    runs = [measure(folder, serialise=serialise, env=env) for _ in range(repeat)]
    return {
        "parse": min(r["parse"] for r in runs),
        "parse_median": statistics.median(r["parse"] for r in runs),
        "serialise": min(r["serialise"] for r in runs),
        "dags": runs[0]["dags"],
        "errors": runs[0]["errors"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", type=int, default=500)
    parser.add_argument("--stages", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-parse-") as tmp:
        root = Path(tmp)
        home = root / "airflow-home"
        base_env = {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "600",
            # dag-factory's listener plugin would send telemetry; nothing leaves this machine.
            "AIRFLOW__DAG_FACTORY__ENABLE_TELEMETRY": "False",
            "DO_NOT_TRACK": "1",
            "SCARF_NO_ANALYTICS": "1",
        }
        ours, theirs, site = root / "ours", root / "dagfactory", root / "dagfactory-site"
        write_ours(ours, args.pipelines, args.stages)
        write_dag_factory(theirs, args.pipelines, args.stages)
        install_dag_factory(site)
        theirs_env = {**base_env, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
        worker = {"_AIRFLOW_PARSING_CONTEXT_DAG_ID": f"p{args.pipelines // 2:04d}",
                  "_AIRFLOW_PARSING_CONTEXT_TASK_ID": "s0"}

        results: dict[str, dict[str, float]] = {}
        for name, folder, env in (("airflow-delivery", ours, base_env), ("dag-factory", theirs, theirs_env)):
            full = best(folder, args.repeat, serialise=True, env=env)
            one = best(folder, args.repeat, serialise=False, env={**env, **worker})
            if full["dags"] != args.pipelines or full["errors"]:
                raise SystemExit(f"{name}: built {full['dags']} DAGs with {full['errors']} import errors")
            results[name] = {
                "parse_all_s": round(full["parse"], 3),
                "parse_all_median_s": round(full["parse_median"], 3),
                "serialise_all_s": round(full["serialise"], 3),
                "worker_build_ms": round(one["parse"] * 1000, 1),
                "worker_dags_built": one["dags"],
            }

    us, them = results["airflow-delivery"], results["dag-factory"]
    speedup = them["parse_all_s"] / us["parse_all_s"]
    print(f"\n{args.pipelines} pipelines x {args.stages} stages (best of {args.repeat} fresh processes)\n")
    print(f"{'':18} {'parse all (s)':>14} {'median (s)':>11} {'serialise (s)':>14} {'worker build (ms)':>18} {'DAGs built by worker':>21}")
    for name, r in results.items():
        print(f"{name:18} {r['parse_all_s']:>14.3f} {r['parse_all_median_s']:>11.3f} {r['serialise_all_s']:>14.3f}"
              f" {r['worker_build_ms']:>18.1f} {r['worker_dags_built']:>21}")
    print(f"\nspeed-up over dag-factory (parse all): {speedup:.1f}x\n")
    goals = {
        "parse_all_under_1_5s": {"value": us["parse_all_s"], "goal": "< 1.5 s", "met": us["parse_all_s"] < 1.5},
        "faster_than_dag_factory": {"value": round(speedup, 2), "goal": ">= 5x", "met": speedup >= 5},
        "worker_build_under_50ms": {"value": us["worker_build_ms"], "goal": "< 50 ms",
                                    "met": us["worker_build_ms"] < 50},
    }
    print(json.dumps({"bench": "parse", "results": results, "goals": goals}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
