"""An on-disk cache of built pipeline DAGs, so the dag-processor's re-parse every 30 s costs a read.

Why: the dag-processor imports the loader file in a fresh process on every parse, and building a
pipeline's DAG is dominated by Airflow's own operator construction (about 0.5 ms per operator), so
500 pipelines cost seconds each time although almost none of them changed. Unpickling a built DAG
is about ten times cheaper than building it.

Key: sha256 of the pipeline file's bytes plus an *environment fingerprint*: the cache format, the
airflow_delivery version and the size and mtime of every source file of the package, every installed
distribution with its version (Airflow, Task SDK, providers, pydantic ...), the Python version, and
the Airflow settings that DAG and operator construction read (``_CONFIG_KEYS``). Anything that could
change the built DAG changes the key; an entry is never updated in place, it is simply not found.

Value: the DAG pickled (protocol 5) right after it was built, before Airflow's DagBag applies cluster
policies or sets ``fileloc`` (both happen again on every load). Written to a temporary file and
renamed into place, so a reader never sees half a file.

Why reading pickles here is safe: pickle runs code, so the cache only ever loads files from a folder
that this code created for the current user with mode 0700, that is not a symlink and that belongs
to the current user; each file is opened without following symlinks and must belong to the current
user too. Only someone who already runs code as this user could plant an entry, and that user can
already edit the installed package or the dags folder. Nothing from the dags folder, the network or
another user is ever unpickled.

What is NOT cached: files that fail validation or building (they are parsed on every run, so their
import errors keep being reported), and DAGs that cannot be pickled (built every time). When the
folder cannot be created or checked, or any read or write fails, parsing falls back to building;
the cache only makes parsing faster and can never hide a pipeline.

The cache is on by default; ``[delivery] pipeline_cache = False`` (``AIRFLOW__DELIVERY__PIPELINE_CACHE``)
turns it off. Entries unused for a week are removed, at most once an hour.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import stat
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CACHE_FORMAT = 2  # 2: sentinels pickled by reference
CACHE_SUBDIR = Path("cache") / "delivery-pipelines"
_MAGIC = b"airflow-delivery-dag-cache\n"
_SUFFIX = ".dag.pickle"


def _sentinels() -> dict[str, Any]:
    """Singletons Airflow compares by identity (``value is NOTSET``): pickled by name, not by value.

    Unpickling would otherwise create new ``ArgNotSet`` objects, and an operator checking
    ``self.logical_date is NOTSET`` (TriggerDagRunOperator does) would take the sentinel for a value.
    """
    from airflow.sdk.definitions._internal.types import NOTSET, SET_DURING_EXECUTION

    return {"NOTSET": NOTSET, "SET_DURING_EXECUTION": SET_DURING_EXECUTION}


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, protocol=_PICKLE_PROTOCOL)
        self._names = {id(obj): name for name, obj in _sentinels().items()}

    def persistent_id(self, obj: Any) -> str | None:
        return self._names.get(id(obj))


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file)
        self._objects = _sentinels()

    def persistent_load(self, pid: Any) -> Any:
        try:
            return self._objects[pid]
        except KeyError:
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}") from None


def _dumps(obj: Any) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer).dump(obj)
    return buffer.getvalue()


def _loads(data: memoryview) -> Any:
    return _Unpickler(io.BytesIO(data)).load()
_PICKLE_PROTOCOL = 5
# Entries are touched when used if older than a day, and removed when unused for a week.
_TOUCH_AFTER_S = 24 * 3600
_EXPIRE_AFTER_S = 7 * 24 * 3600
_PRUNE_EVERY_S = 3600
_PRUNE_MARKER = ".last-prune"

# Settings that DAG and operator construction read (airflow.sdk DAG attribute factories and
# abstractoperator defaults), plus our own section. A change to any of them must rebuild the DAGs.
_CONFIG_KEYS: tuple[tuple[str, str], ...] = (
    ("core", "default_task_retries"),
    ("core", "default_task_retry_delay"),
    ("core", "max_task_retry_delay"),
    ("core", "default_task_weight_rule"),
    ("core", "default_task_execution_timeout"),
    ("core", "max_active_tasks_per_dag"),
    ("core", "max_active_runs_per_dag"),
    ("core", "max_consecutive_failed_dag_runs_per_dag"),
    ("core", "default_timezone"),
    ("operators", "default_owner"),
    ("operators", "default_queue"),
    ("operators", "default_deferrable"),
    ("operators", "default_cpus"),
    ("operators", "default_ram"),
    ("operators", "default_disk"),
    ("operators", "default_gpus"),
    ("email", "default_email_on_failure"),
    ("email", "default_email_on_retry"),
    ("scheduler", "catchup_by_default"),
    ("scheduler", "create_cron_data_intervals"),
    ("dag_processor", "disable_bundle_versioning"),
    ("api", "base_url"),
)
_OWN_SECTION = "delivery"
_SWITCH = "pipeline_cache"


class DagCache:
    """Built DAGs by pipeline file content, in one private folder; every failure means "not cached".

    ``load`` and ``store`` never raise: a problem is logged once (then at debug) and the caller
    builds the DAG as if there were no cache.
    """

    def __init__(self, folder: Path, fingerprint: bytes) -> None:
        self.folder = folder
        self.fingerprint = fingerprint
        self._warned = False

    # -- keys ----------------------------------------------------------------------------------

    def key(self, content: bytes) -> str:
        """The entry name for a pipeline file with these bytes, in this environment."""
        digest = hashlib.sha256(self.fingerprint)
        digest.update(b"\0file\0")
        digest.update(content)
        return digest.hexdigest()

    def path_of(self, key: str) -> Path:
        return self.folder / f"{key}{_SUFFIX}"

    # -- read / write --------------------------------------------------------------------------

    def load(self, key: str) -> Any | None:
        """The DAG stored under ``key``, or None when there is none or it cannot be used."""
        path = self.path_of(key)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._problem(f"cannot open cache entry {path}", exc)
            return None
        try:
            with os.fdopen(fd, "rb") as handle:
                info = os.fstat(handle.fileno())
                if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
                    self._problem(f"ignoring cache entry {path}: not a regular file of this user", None)
                    return None
                data = handle.read()
            header = _MAGIC + key.encode("ascii") + b"\n"
            if not data.startswith(header):
                raise ValueError("wrong header (not written by this cache, or for another key)")
            dag = _loads(memoryview(data)[len(header) :])  # private folder: see the module docstring
            if not _is_dag(dag):
                raise ValueError(f"holds a {type(dag).__name__}, not a DAG")
            if time.time() - info.st_mtime > _TOUCH_AFTER_S:
                os.utime(path)  # still in use: keep it from expiring
            return dag
        except Exception as exc:  # noqa: BLE001 - a bad entry is rebuilt and overwritten, never fatal
            self._problem(f"ignoring unreadable cache entry {path}", exc)
            return None

    def store(self, key: str, dag: Any) -> bool:
        """Write ``dag`` under ``key`` atomically; False (and nothing written) when that fails."""
        payload = self._pickle(dag)
        return payload is not None and self._write(key, payload)

    def _pickle(self, dag: Any) -> bytes | None:
        try:
            return _dumps(dag)
        except Exception as exc:  # noqa: BLE001 - e.g. a DAG holding a lambda: just not cached
            self._problem(f"cannot cache the DAG {getattr(dag, 'dag_id', '?')!r}", exc)
            return None

    def _write(self, key: str, payload: bytes) -> bool:
        tmp_name: str | None = None
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=self.folder)
            with os.fdopen(fd, "wb") as handle:
                handle.write(_MAGIC + key.encode("ascii") + b"\n")
                handle.write(payload)
            os.replace(tmp_name, self.path_of(key))
            return True
        except Exception as exc:  # noqa: BLE001 - a full disk or a removed folder: just not cached
            if tmp_name is not None:
                try:
                    os.unlink(tmp_name)
                except OSError:
                    pass
            self._problem(f"cannot write cache entry {self.path_of(key)}", exc)
            return False

    # -- housekeeping --------------------------------------------------------------------------

    def prune(self, *, now: float | None = None, force: bool = False) -> int:
        """Remove entries unused for a week (at most once an hour unless ``force``); how many went."""
        now = time.time() if now is None else now
        marker = self.folder / _PRUNE_MARKER
        removed = 0
        try:
            if not force and marker.exists() and now - marker.stat().st_mtime < _PRUNE_EVERY_S:
                return 0
            marker.touch()
            with os.scandir(self.folder) as entries:
                for entry in entries:
                    is_entry = entry.name.endswith(_SUFFIX)
                    stale_tmp = entry.name.startswith(".tmp-")
                    if not (is_entry or stale_tmp) or not entry.is_file(follow_symlinks=False):
                        continue
                    age = now - entry.stat(follow_symlinks=False).st_mtime
                    if age > (_EXPIRE_AFTER_S if is_entry else _PRUNE_EVERY_S):
                        os.unlink(entry.path)
                        removed += 1
        except OSError as exc:
            self._problem(f"cannot prune {self.folder}", exc)
        return removed

    def _problem(self, message: str, exc: BaseException | None) -> None:
        detail = f"{message}: {type(exc).__name__}: {exc}" if exc is not None else message
        if self._warned:
            log.debug("Pipeline DAG cache: %s", detail)
        else:
            self._warned = True
            log.warning(
                "Pipeline DAG cache: %s (the DAG is built instead; further problems at debug)", detail
            )


def _is_dag(obj: Any) -> bool:
    from airflow.sdk import DAG

    return isinstance(obj, DAG)


# -- the environment fingerprint ---------------------------------------------------------------


def package_root() -> Path:
    import airflow_delivery

    return Path(airflow_delivery.__file__).parent


def package_fingerprint(root: Path | None = None) -> list[str]:
    """Relative path, size and mtime of every source file of airflow_delivery (a code edit invalidates)."""
    root = root or package_root()
    found: list[str] = []

    def walk(folder: str) -> None:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        walk(entry.path)
                elif entry.name.endswith((".py", ".json", ".yaml")):
                    info = entry.stat()
                    found.append(f"{os.path.relpath(entry.path, root)}:{info.st_size}:{info.st_mtime_ns}")

    walk(str(root))
    return sorted(found)


def installed_distributions() -> list[str]:
    """``name-version.dist-info`` of everything importable: Airflow, Task SDK, providers, pydantic ...

    Listing the folders on ``sys.path`` is a millisecond; asking importlib.metadata is fifty times that.
    """
    names: set[str] = set()
    for entry in sys.path:
        try:
            names.update(n for n in os.listdir(entry or ".") if n.endswith((".dist-info", ".egg-info")))
        except OSError:
            continue
    return sorted(names)


def config_fingerprint() -> list[str]:
    from airflow.sdk.configuration import conf

    values = [f"{section}.{key}={conf.get(section, key, fallback='')}" for section, key in _CONFIG_KEYS]
    if conf.has_section(_OWN_SECTION):
        values += [f"{_OWN_SECTION}.{k}={v}" for k, v in sorted(conf.getsection(_OWN_SECTION).items())]
    return values


def environment_fingerprint(package: Path | None = None) -> bytes:
    """Everything besides the file's bytes that a built DAG depends on (see the module docstring)."""
    import airflow

    from airflow_delivery import __version__

    parts = [
        f"format={CACHE_FORMAT}",
        f"airflow_delivery={__version__}",
        f"airflow={airflow.__version__}",
        f"python={sys.version}",
        f"pickle={_PICKLE_PROTOCOL}",
        *installed_distributions(),
        *package_fingerprint(package),
        *config_fingerprint(),
    ]
    return hashlib.sha256("\n".join(parts).encode()).digest()


# -- the folder --------------------------------------------------------------------------------


def _private_folder(folder: Path) -> Path:
    """Create ``folder`` (0700) if missing; refuse one that another user, or everyone, could write."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode):
        raise PermissionError(f"{folder} is not a directory (a symlink?); remove it")
    if info.st_uid != os.geteuid():
        raise PermissionError(f"{folder} belongs to uid {info.st_uid}, not to this user; remove it")
    if info.st_mode & 0o077:
        os.chmod(folder, 0o700)
    return folder


def cache_folder() -> Path:
    from airflow.configuration import AIRFLOW_HOME

    return Path(AIRFLOW_HOME) / CACHE_SUBDIR


def open_cache(folder: Path | None = None) -> DagCache | None:
    """A cache in ``folder`` (default: ``$AIRFLOW_HOME/cache/delivery-pipelines``), or None when it is
    switched off or the folder cannot be made private; never raises."""
    try:
        from airflow.sdk.configuration import conf

        if not conf.getboolean(_OWN_SECTION, _SWITCH, fallback=True):
            return None
        return DagCache(_private_folder(folder or cache_folder()), environment_fingerprint())
    except Exception as exc:  # noqa: BLE001 - no cache is always a correct answer
        log.warning("Pipeline DAG cache is off: %s: %s (every pipeline is built)", type(exc).__name__, exc)
        return None


_process_cache: DagCache | None = None
_process_cache_opened = False


def default_cache() -> DagCache | None:
    """This process's cache, opened (and fingerprinted) once: the dag-processor parses in a fresh
    process each time, and a long-lived process keeps the environment it started with."""
    global _process_cache, _process_cache_opened
    if not _process_cache_opened:
        _process_cache, _process_cache_opened = open_cache(), True
    return _process_cache


def reset_default_cache() -> None:
    """Forget this process's cache and fingerprint (tests; a long-lived process after an upgrade)."""
    global _process_cache, _process_cache_opened
    _process_cache, _process_cache_opened = None, False
