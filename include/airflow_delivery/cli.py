"""The ``airflow-delivery`` command line.

Each sub-command lives in ``airflow_delivery.commands.<name>`` with ``configure(parser)`` and
``run(args) -> int``; this module only dispatches, so ``airflow-delivery --help`` stays fast and a
sub-command's heavy imports (Airflow, pandas, the sandbox) happen only when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from airflow_delivery import __version__

# name -> (module, one-line help). Order is the order shown in --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("airflow_delivery.commands.demo", "run the local demo (Airflow standalone and its services)"),
    "judge": ("airflow_delivery.commands.judge", "judge a Kayenta canary request (JSON) and print the result"),
    "sandbox": ("airflow_delivery.commands.sandbox", "serve the local Kubernetes API sandbox"),
    "schema": ("airflow_delivery.commands.schema", "print the JSON Schema of pipeline files"),
    "validate": ("airflow_delivery.commands.validate", "check pipeline files without Airflow running"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """All sub-commands are listed; only ``command``'s module is imported to add its options."""
    parser = argparse.ArgumentParser(
        prog="airflow-delivery", description="Spinnaker-style continuous delivery on Apache Airflow."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == command:
            module = importlib.import_module(module_name)
            module.configure(sub)
            sub.set_defaults(_run=module.run)
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_command_in(argv)).parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
