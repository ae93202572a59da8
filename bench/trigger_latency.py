"""Push-to-run latency of the registry tag trigger, against its poll interval.

A real ``airflow standalone`` runs a pipeline whose registry trigger watches a real Debian
``docker-registry``; the benchmark pushes new image tags through the registry API and measures, per
tag, the time until Airflow created the run (``queued_at``) and until its first stage started. The
expectation is latency ~ poll interval / 2 on average (a tag lands at a random point of the polling
cycle) plus the scheduler's hand-off, and never a second run for the same tag.

Run: ``.venv/bin/python bench/trigger_latency.py [--poll 1 5] [--tags 5]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PIPELINE = """\
name: latency_{poll_id}
artifacts:
  - {{name: app, repository: "{host}/bench/app"}}
triggers:
  - {{type: registry, connection: bench_registry, repository: bench/app, tag: "v[0-9]+", poll_interval: {poll}}}
stages:
  - {{id: noted, type: wait, duration: 0s}}
"""


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def measure(poll: float, tags: int, workdir: Path) -> dict[str, float | int]:
    from airflow_delivery.hooks.registry import ContainerRegistryHook
    from tests.fixtures.airflow import start_standalone
    from tests.fixtures.registry import push_sample_image, run_registry
    from tests.support import wait_until

    poll_id = str(poll).replace(".", "_")
    dag_id = f"latency_{poll_id}"
    with run_registry(workdir / "registry") as registry:
        dags = workdir / "dags"
        (dags / "pipelines").mkdir(parents=True)
        shutil.copy(REPO / "dags" / "delivery_pipelines.py", dags / "delivery_pipelines.py")
        (dags / "pipelines" / f"{dag_id}.yaml").write_text(
            PIPELINE.format(poll_id=poll_id, host=registry.host, poll=poll)
        )
        conn = registry.connection_json()
        env = {"AIRFLOW_CONN_BENCH_REGISTRY": conn, "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False"}
        os.environ["AIRFLOW_CONN_BENCH_REGISTRY"] = conn
        hook = ContainerRegistryHook("bench_registry")
        push_sample_image(hook, "bench/app", "v0")  # existing tag: recorded as baseline, no run
        airflow = start_standalone(workdir, dags_folder=dags, env=env)
        try:
            with airflow.client() as api:
                wait_until(lambda: api.get(f"/dags/{dag_id}").status_code == 200, timeout=120,
                           message="the pipeline to be parsed")
                # The watcher has taken its baseline once the triggerer logged it; give it one cycle.
                wait_until(lambda: "recorded" in airflow.process.log_text(), timeout=120, interval=0.5,
                           message="the tag watcher's first poll")
                created, started = [], []
                for n in range(1, tags + 1):
                    time.sleep(random.uniform(0, poll))  # land at a random point of the polling cycle
                    pushed = time.time()
                    push_sample_image(hook, "bench/app", f"v{n}")

                    def newest_started_run(count: int = n) -> dict | None:
                        runs = api.get(f"/dags/{dag_id}/dagRuns").json()
                        if runs["total_entries"] < count:
                            return None
                        run = max(runs["dag_runs"], key=lambda r: r["queued_at"])
                        tis = api.get(f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances").json()
                        first = tis["task_instances"][0] if tis["task_instances"] else {}
                        return run | {"ti_start": first["start_date"]} if first.get("start_date") else None

                    run = wait_until(newest_started_run, timeout=poll * 3 + 120, interval=0.1,
                                     message=f"the run for v{n}")
                    created.append(parse_time(run["queued_at"]) - pushed)
                    started.append(parse_time(run["ti_start"]) - pushed)
                total_runs = api.get(f"/dags/{dag_id}/dagRuns").json()["total_entries"]
        finally:
            airflow.process.stop()
    return {
        "poll_interval_s": poll,
        "tags": tags,
        "runs": total_runs,
        "run_created_mean_s": round(statistics.mean(created), 2),
        "run_created_max_s": round(max(created), 2),
        "first_stage_started_mean_s": round(statistics.mean(started), 2),
        "first_stage_started_max_s": round(max(started), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poll", type=float, nargs="+", default=[1.0, 5.0])
    parser.add_argument("--tags", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for poll in args.poll:
        with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
            rows.append(measure(poll, args.tags, Path(tmp)))
    print(f"\n{'poll (s)':>9} {'tags':>5} {'runs':>5} {'created mean':>13} {'created max':>12} "
          f"{'started mean':>13} {'started max':>12}")
    for r in rows:
        print(f"{r['poll_interval_s']:>9} {r['tags']:>5} {r['runs']:>5} {r['run_created_mean_s']:>13} "
              f"{r['run_created_max_s']:>12} {r['first_stage_started_mean_s']:>13} {r['first_stage_started_max_s']:>12}")
    goals = {
        f"one_run_per_tag_poll_{r['poll_interval_s']}": {"value": r["runs"], "goal": f"== {r['tags']}",
                                                          "met": r["runs"] == r["tags"]}
        for r in rows
    }
    print(json.dumps({"bench": "trigger_latency", "results": {"rows": rows}, "goals": goals}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
