"""``airflow-delivery validate PATH...``: check pipeline files without Airflow running."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, help="pipeline files or folders of them")


def run(args: argparse.Namespace) -> int:
    from airflow_delivery.pipeline.loader import PipelineFileError, find_pipeline_files, load_pipeline_file

    files: list[Path] = []
    for path in args.paths:
        if path.is_dir():
            files.extend(find_pipeline_files(path))
        elif path.exists():
            files.append(path)
        else:
            print(f"{path}: no such file or folder", file=sys.stderr)
            return 1
    if not files:
        print("no pipeline files (*.yaml, *.yml) found", file=sys.stderr)
        return 1
    failed = 0
    names: dict[str, Path] = {}
    for path in files:
        try:
            spec = load_pipeline_file(path)
        except PipelineFileError as exc:
            failed += 1
            for error in exc.errors:
                print(error, file=sys.stderr)
            continue
        if spec.name in names:
            failed += 1
            print(f"{path}: name: pipeline name {spec.name!r} is already used by {names[spec.name]}", file=sys.stderr)
            continue
        names[spec.name] = path
    print(f"{len(files) - failed} of {len(files)} pipeline files valid")
    return 1 if failed else 0
