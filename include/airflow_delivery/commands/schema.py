"""``airflow-delivery schema``: the JSON Schema of pipeline files, for editors (yaml-language-server)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", type=Path, default=None, help="write to this file instead of stdout")


def run(args: argparse.Namespace) -> int:
    from airflow_delivery.pipeline.spec import json_schema

    text = json.dumps(json_schema(), indent=2, sort_keys=True)
    if args.output:
        args.output.write_text(text + "\n")
    else:
        print(text)
    return 0
