"""Ray on this machine, and the cluster behind ``--ray ADDRESS``.

Each failure is one line: Ray not installed (how to install it), an address that does not
answer (nothing was started), a cluster that cannot meet a worker's request.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
from urllib.parse import urlsplit

from kd_automl.errors import KDAutoMLError

log = logging.getLogger(__name__)

INSTALL = 'pip install "kd-automl[ray]"'
CONNECT_TIMEOUT_S = 5.0
NAMESPACE = "kd-automl"  # the actors' namespace in Ray (its dashboard groups by it)


def require_ray() -> None:
    if importlib.util.find_spec("ray") is None:
        raise KDAutoMLError(f"--ray needs Ray, which is not installed: {INSTALL}")


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of ``host:port`` or ``ray://host:port``; None for ``auto``."""
    if address == "auto":
        return None
    parts = urlsplit(address if "://" in address else f"gcs://{address}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise KDAutoMLError(f"--ray {address}: give host:port of the head node (e.g. "
                            "10.0.0.5:6379), ray://host:10001, or auto")
    return parts.hostname, port


def _reachable(address: str) -> None:
    hp = _host_port(address)
    if hp is None:
        return
    try:
        with socket.create_connection(hp, timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as err:
        why = "no answer" if isinstance(err, TimeoutError) else (err.strerror or str(err))
        raise KDAutoMLError(f"cannot reach the Ray cluster at {address} ({why}); is "
                            "`ray start --head` running there, and is its port open to this "
                            "machine? Nothing was started") from None


def connect(address: str) -> None:
    """Join the cluster as a driver (this process trains nothing)."""
    require_ray()
    _reachable(address)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Ray turns a driver started under `uv run` into a runtime env that uploads this
    # directory and rebuilds the project on every node (from the network); the actors run the
    # install the nodes have. Set it to 1 to have Ray's way.
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    import ray

    if ray.is_initialized():
        return
    try:
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False,
                 logging_level=logging.WARNING, configure_logging=False)
    except (ConnectionError, RuntimeError, TimeoutError) as err:
        said = " ".join(str(err).split()) or type(err).__name__
        raise KDAutoMLError(f"cannot connect to the Ray cluster at {address}: {said}; "
                            "nothing was started") from None


def nodes() -> list[dict]:
    """The cluster's live nodes (Ray's own records)."""
    import ray

    return [n for n in ray.nodes() if n.get("Alive")]


def check_request(workers: int, cpus: float, gpus: float) -> None:
    """Refuse a worker no node can hold (Ray would leave it pending for ever); say when the
    cluster holds fewer at once than asked (the others start as room frees up)."""
    live = nodes()
    fits = [n for n in live if n.get("Resources", {}).get("CPU", 0) >= cpus
            and n.get("Resources", {}).get("GPU", 0) >= gpus]
    if not fits:
        have = ", ".join(f"{n['Resources'].get('CPU', 0):g} CPU/"
                         f"{n['Resources'].get('GPU', 0):g} GPU" for n in live) or "none"
        raise KDAutoMLError(f"no node of the Ray cluster can hold a worker of {cpus:g} CPU "
                            f"and {gpus:g} GPU (its nodes: {have}); nothing was started")
    at_once = sum(min(int(n["Resources"].get("CPU", 0) // cpus),
                      int(n["Resources"].get("GPU", 0) // gpus) if gpus else 10**6)
                  for n in fits)
    if at_once < workers:
        log.warning("the Ray cluster holds %d of the %d workers at once; the others wait for "
                    "room", at_once, workers)


def check_store(db_url: str) -> None:
    """SQLite is one file: every node must open the same one. Fine on one machine; across
    machines only on a disk they all mount with working locks."""
    if not db_url.startswith("sqlite"):
        return
    hosts = {n.get("NodeManagerAddress") for n in nodes()}
    if len(hosts) > 1:
        log.warning("--ray with a SQLite store on a cluster of %d machines: the file must be "
                    "on a disk every node mounts at the same path, with working file locks; "
                    "a PostgreSQL server every node reaches is safer", len(hosts))
