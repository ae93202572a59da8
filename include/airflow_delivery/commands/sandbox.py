"""``airflow-delivery sandbox``: serve the local Kubernetes API sandbox in the foreground.

Writes a kubeconfig for it, then serves until SIGINT/SIGTERM and exits cleanly (status 0).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8001, help="port to listen on (0 picks a free one; default 8001)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--kubeconfig", type=Path, default=Path("~/.kube/airflow-delivery-sandbox.yaml"),
                        help="where to write a kubeconfig for the sandbox (replaced if it exists)")
    parser.add_argument("--context", default="sandbox", help="cluster/context/user name in the kubeconfig")
    parser.add_argument("--broken-image", action="append", default=[], metavar="PATTERN",
                        help="glob of images whose pull fails (ImagePullBackOff); repeatable")
    parser.add_argument("--unready-image", action="append", default=[], metavar="PATTERN",
                        help="glob of images that run but never become Ready; repeatable")
    parser.add_argument("--failing-job-image", action="append", default=[], metavar="PATTERN",
                        help="glob of images whose Job pods exit 1; repeatable")
    parser.add_argument("--ready-after", type=float, default=2.0, metavar="SECONDS",
                        help="seconds from pod creation to Running/Ready (default 2)")
    parser.add_argument("--kube-version", default=None, help="Kubernetes version reported by /version (default 1.30.0)")
    parser.add_argument("--fault", action="append", default=[], metavar="JSON",
                        help='a fault rule as JSON, e.g. \'{"action": "error", "status": 500, "verb": "patch", '
                             '"times": 1}\'; repeatable (also POST /sandbox/faults at runtime)')
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")


def run(args: argparse.Namespace) -> int:
    from airflow_delivery.sandbox import Sandbox, SandboxConfig
    from airflow_delivery.sandbox.app import DEFAULT_KUBE_VERSION

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        faults = [json.loads(text) for text in args.fault]
    except json.JSONDecodeError as exc:
        print(f"airflow-delivery sandbox: --fault must be a JSON object: {exc}", file=sys.stderr)
        return 2
    try:
        config = SandboxConfig(ready_after=args.ready_after, broken_images=list(args.broken_image),
                               unready_images=list(args.unready_image),
                               failing_job_images=list(args.failing_job_image))
        sandbox = Sandbox(port=args.port, host=args.host, config=config, faults=faults,
                          kube_version=args.kube_version or DEFAULT_KUBE_VERSION)
        sandbox.start()
    except (ValueError, TypeError, OSError) as exc:
        print(f"airflow-delivery sandbox: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        path = sandbox.write_kubeconfig(args.kubeconfig, name=args.context)
        print(f"Kubernetes API sandbox (not a cluster) serving at {sandbox.url}", flush=True)
        print(f"kubeconfig written to {path}; use: export KUBECONFIG={path}", flush=True)
        print("kubectl apply needs --validate=false (no OpenAPI document is served). Ctrl-C stops.", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("sandbox stopped", flush=True)
    return 0
