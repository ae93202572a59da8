"""``airflow-delivery judge REQUEST.json``: judge a Kayenta canary request and print the result.

REQUEST is ``{"canaryConfig": ..., "metricSetPairList": [...], "scoreThresholds": {...}}`` (``-`` reads
stdin). The result JSON goes to stdout (exit 0). A malformed request prints one line naming the bad
field's JSON path to stderr and exits 2, so scripts can tell "bad input" from "canary failed" (the
verdict itself is in the JSON, not the exit code).
"""

from __future__ import annotations

import argparse
import json
import sys

EXIT_BAD_REQUEST = 2


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("request", metavar="REQUEST.json", help="the judge request file, or - for stdin")
    parser.add_argument("--seed", type=int, default=0, help="seed for the noise added to constant samples")
    parser.add_argument("--indent", type=int, default=None, help="pretty-print the result with this indent")


def _fail(message: str) -> int:
    print(f"airflow-delivery judge: {message}", file=sys.stderr)
    return EXIT_BAD_REQUEST


def run(args: argparse.Namespace) -> int:
    # Imported here so `airflow-delivery --help` does not pay for numpy/scipy.
    from airflow_delivery.canary.judge import judge_request
    from airflow_delivery.canary.models import RequestError

    source = "stdin" if args.request == "-" else args.request
    try:
        if args.request == "-":
            text = sys.stdin.read()
        else:
            with open(args.request, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as exc:
        return _fail(f"cannot read {source}: {exc.strerror}")
    try:
        request = json.loads(text)
    except json.JSONDecodeError as exc:
        return _fail(f"{source} is not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})")
    try:
        result = judge_request(request, seed=args.seed)
    except RequestError as exc:
        return _fail(f"bad request field {exc.path}: {exc.message}")
    json.dump(result, sys.stdout, indent=args.indent, allow_nan=False)
    sys.stdout.write("\n")
    return 0
