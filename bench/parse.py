"""Parse benchmark: 500 pipeline files of 10 stages, ours side by side with astronomer's dag-factory.

Measures, in fresh processes (as Airflow's dag-processor and workers run them), each loading the one
loader file the way Airflow does (``DagBag(<loader.py>)``: the dag-processor parses file by file, and
the task runner parses only its DAG's file):
- parse all: the time Airflow's DagBag takes to import the loader file and bag every DAG (what the
  dag-processor does for the file, before serialising), Airflow itself already imported;
- parse + serialise: the same plus Airflow's DAG serialisation, which the dag-processor also does;
- worker build: a worker starting one task of one pipeline (``get_parsing_context`` set), which is
  the parse every task start pays.
Ours is measured twice. *Warm*: the DAG cache in ``$AIRFLOW_HOME/cache/delivery-pipelines`` was filled
by an earlier dag-processor parse; this is the steady state, since the dag-processor re-parses the
loader every 30 s and only edited files miss; the goals are evaluated on it. *Cold*: the cache is
emptied before every run (first parse after a deploy, an upgrade, or with the cache switched off).
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DAG_FACTORY = "dag-factory==1.1.0"

MEASURE = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    import airflow  # imported before timing: the dag-processor has Airflow loaded already
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization
    loader = Path(sys.argv[1])
    t0 = time.perf_counter()
    bag = DagBag(str(loader), bundle_path=loader.parent)
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


def measure(loader: Path, *, serialise: bool, env: dict[str, str], before: Callable[[], None]) -> dict[str, float]:
    before()
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(loader), "serialise" if serialise else "parse"],
        capture_output=True, text=True, env={**os.environ, **env}, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def summarise(runs: list[dict[str, float]]) -> dict[str, float]:
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

        # Cold and warm runs get an AIRFLOW_HOME each: the cold one's cache is emptied before every run.
        cold_env = {**base_env, "AIRFLOW_HOME": str(root / "home-cold")}
        cold_cache = root / "home-cold" / "cache" / "delivery-pipelines"
        warm_cache = home / "cache" / "delivery-pipelines"
        ours_loader, theirs_loader = ours / "delivery_pipelines.py", theirs / "dag_factory_loader.py"

        def empty_cold_cache() -> None:
            shutil.rmtree(cold_cache, ignore_errors=True)

        measure(ours_loader, serialise=False, env=base_env, before=lambda: None)  # the dag-processor fills it
        entries = len(list(warm_cache.glob("*.dag.pickle")))
        if entries != args.pipelines:
            raise SystemExit(f"airflow-delivery: the first parse cached {entries} DAGs, not {args.pipelines}")
        configs: dict[str, tuple[Path, bool, dict[str, str], Callable[[], None]]] = {
            "warm": (ours_loader, True, base_env, lambda: None),
            "warm_one": (ours_loader, False, {**base_env, **worker}, lambda: None),
            "cold": (ours_loader, True, cold_env, empty_cold_cache),
            "cold_one": (ours_loader, False, {**cold_env, **worker}, empty_cold_cache),
            "theirs": (theirs_loader, True, theirs_env, lambda: None),
            "theirs_one": (theirs_loader, False, {**theirs_env, **worker}, lambda: None),
        }
        # Round-robin, so a burst of load on a shared machine hits every configuration alike.
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in configs}
        for _ in range(args.repeat):
            for name, (loader, serialise, env, before) in configs.items():
                runs[name].append(measure(loader, serialise=serialise, env=env, before=before))
        stats = {name: summarise(r) for name, r in runs.items()}
        warm, warm_one, cold, cold_one = stats["warm"], stats["warm_one"], stats["cold"], stats["cold_one"]
        theirs_full, theirs_one = stats["theirs"], stats["theirs_one"]
        for name in ("warm", "cold", "theirs"):
            full = stats[name]
            if full["dags"] != args.pipelines or full["errors"]:
                raise SystemExit(f"{name}: built {full['dags']} DAGs with {full['errors']} import errors")

    results: dict[str, dict[str, Any]] = {
        "airflow-delivery": {
            "parse_all_s": round(warm["parse"], 3),
            "parse_all_median_s": round(warm["parse_median"], 3),
            "serialise_all_s": round(warm["serialise"], 3),
            "worker_build_ms": round(warm_one["parse"] * 1000, 1),
            "worker_dags_built": warm_one["dags"],
            "cache": "warm",
            "parse_all_cold_s": round(cold["parse"], 3),
            "parse_all_cold_median_s": round(cold["parse_median"], 3),
            "worker_build_cold_ms": round(cold_one["parse"] * 1000, 1),
        },
        "dag-factory": {
            "parse_all_s": round(theirs_full["parse"], 3),
            "parse_all_median_s": round(theirs_full["parse_median"], 3),
            "serialise_all_s": round(theirs_full["serialise"], 3),
            "worker_build_ms": round(theirs_one["parse"] * 1000, 1),
            "worker_dags_built": theirs_one["dags"],
        },
    }
    us, them = results["airflow-delivery"], results["dag-factory"]
    speedup = them["parse_all_s"] / us["parse_all_s"]
    cold_speedup = them["parse_all_s"] / us["parse_all_cold_s"]
    rows = [
        ("airflow-delivery, warm cache", warm, warm_one),
        ("airflow-delivery, cold cache", cold, cold_one),
        ("dag-factory", theirs_full, theirs_one),
    ]
    print(f"\n{args.pipelines} pipelines x {args.stages} stages (best of {args.repeat} fresh processes, interleaved)\n")
    print(f"{'':29} {'parse all (s)':>14} {'median (s)':>11} {'serialise (s)':>14} {'worker build (ms)':>18}"
          f" {'DAGs built by worker':>21}")
    for name, full, one in rows:
        print(f"{name:29} {full['parse']:>14.3f} {full['parse_median']:>11.3f} {full['serialise']:>14.3f}"
              f" {one['parse'] * 1000:>18.1f} {one['dags']:>21}")
    print(f"\nspeed-up over dag-factory (parse all): {speedup:.1f}x warm (steady state), {cold_speedup:.1f}x cold\n")
    goals = {
        "parse_all_under_1_5s": {"value": us["parse_all_s"], "goal": "< 1.5 s", "met": us["parse_all_s"] < 1.5,
                                 "cache": "warm", "cold_value": us["parse_all_cold_s"]},
        "faster_than_dag_factory": {"value": round(speedup, 2), "goal": ">= 5x", "met": speedup >= 5,
                                    "cache": "warm", "cold_value": round(cold_speedup, 2)},
        "worker_build_under_50ms": {"value": us["worker_build_ms"], "goal": "< 50 ms",
                                    "met": us["worker_build_ms"] < 50,
                                    "cache": "warm", "cold_value": us["worker_build_cold_ms"]},
    }
    print(json.dumps({"bench": "parse", "results": results, "goals": goals}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
