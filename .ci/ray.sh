#!/usr/bin/env bash
# A real two-node Ray cluster on this host for tests/test_ray.py, inside a network namespace
# whose only interface is the loopback (outside one, Ray binds its agents to the machine's
# routable address). The project venv's ray; nodes of one CPU and a 200 MB object store.
#   bash .ci/ray.sh            start (idempotent): the namespace, the head (resource node1),
#                              node 2 (resource node2); prints the address, 127.0.0.1:6379
#   bash .ci/ray.sh node       start node 2 again (after a test killed it)
#   bash .ci/ray.sh node-pids  the PIDs of node 2's own processes (raylet first)
#   bash .ci/ray.sh exec CMD   run CMD in the namespace
#   bash .ci/ray.sh stop       stop exactly this cluster: every process in the namespace (never
#                              `ray stop`, which kills every Ray process on the host by name),
#                              the PostgreSQL bridge, then the namespace
# PostgreSQL: with KD_AUTOML_TEST_PG set (a URL on 127.0.0.1), its port on the namespace's
# loopback reaches the host's server (two socat, through a unix socket: file paths cross
# namespaces), so the same URL works inside and outside.
# State, Ray's temp dir and logs: $KD_AUTOML_RAY_ROOT (default /tmp/kd-automl-ray).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
NS="${KD_AUTOML_RAY_NS:-kd-automl-ray}"
R="${KD_AUTOML_RAY_ROOT:-/tmp/kd-automl-ray}"
RAY="${KD_AUTOML_RAY_BIN:-$REPO/.venv/bin/ray}"
PORT=6379
export RAY_USAGE_STATS_ENABLED=0 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
# a worker process that imports torch on a loaded 2-core machine may take minutes to register
export RAY_worker_register_timeout_seconds=600
COMMON=(--num-cpus=1 --object-store-memory=200000000 --disable-usage-stats)

in_ns() { ip netns exec "$NS" "$@"; }
ns_pids() { ip netns pids "$NS" 2>/dev/null | sort -n || true; }
up() { in_ns "$RAY" status --address="127.0.0.1:$PORT" 2>/dev/null | grep -c 'node_' || true; }

stop() {
    if ip netns list | grep -qw "$NS"; then
        for _ in 1 2 3; do  # Ray's processes start others as they go: until none is left
            pids=$(ns_pids); [ -z "$pids" ] && break
            # shellcheck disable=SC2086
            kill -TERM $pids 2>/dev/null || true; sleep 1
            pids=$(ns_pids)
            # shellcheck disable=SC2086
            [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
        done
        ip netns del "$NS"
    fi
    [ -s "$R/bridge.pid" ] && kill "$(cat "$R/bridge.pid")" 2>/dev/null || true
    rm -f "$R/bridge.pid" "$R/pg.sock"
}

start_node2() {
    before=$(ns_pids)
    in_ns "$RAY" start --address="127.0.0.1:$PORT" "${COMMON[@]}" --resources='{"node2": 1}' \
        >"$R/node2.log" 2>&1 || { cat "$R/node2.log" >&2; exit 1; }
    # node 2's own processes: those that appeared in the namespace with it, raylet first
    new=$(comm -13 <(echo "$before") <(ns_pids))
    : >"$R/node2.pids"
    for p in $new; do [ "$(cat /proc/"$p"/comm 2>/dev/null)" = raylet ] && echo "$p" >>"$R/node2.pids"; done
    for p in $new; do [ "$(cat /proc/"$p"/comm 2>/dev/null)" != raylet ] && echo "$p" >>"$R/node2.pids"; done
    for _ in $(seq 60); do [ "$(up)" -ge 2 ] && return 0; sleep 0.5; done
    echo "node 2 did not join; log in $R/node2.log" >&2; exit 1
}

alive_node2() { [ -s "$R/node2.pids" ] && kill -0 "$(head -1 "$R/node2.pids")" 2>/dev/null; }

bridge_postgres() {
    [ -n "${KD_AUTOML_TEST_PG:-}" ] || return 0
    command -v socat >/dev/null 2>&1 || {
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends socat >&2
    }
    pg_port=$(python3 -c "import sys, urllib.parse as u; print(u.urlsplit(sys.argv[1]).port or 5432)" "$KD_AUTOML_TEST_PG")
    rm -f "$R/pg.sock"
    setsid socat UNIX-LISTEN:"$R/pg.sock",fork TCP:127.0.0.1:"$pg_port" </dev/null >/dev/null 2>&1 &
    echo $! >"$R/bridge.pid"
    setsid ip netns exec "$NS" socat TCP-LISTEN:"$pg_port",bind=127.0.0.1,fork,reuseaddr \
        UNIX-CONNECT:"$R/pg.sock" </dev/null >/dev/null 2>&1 &
    for _ in $(seq 20); do [ -S "$R/pg.sock" ] && return 0; sleep 0.25; done
}

case "${1:-start}" in
stop) stop; exit 0 ;;
exec) shift; exec ip netns exec "$NS" "$@" ;;
node-pids) cat "$R/node2.pids"; exit 0 ;;
node) alive_node2 || start_node2; exit 0 ;;
start) ;;
*) echo "usage: bash .ci/ray.sh [start|node|node-pids|exec CMD|stop]" >&2; exit 2 ;;
esac

[ -x "$RAY" ] || { echo "no ray at $RAY: uv sync (the dev group includes the ray extra)" >&2; exit 1; }
if ip netns list | grep -qw "$NS" && [ "$(up)" -ge 2 ]; then
    echo "127.0.0.1:$PORT"; exit 0  # already up
fi
stop
mkdir -p "$R/tmp"
ip netns add "$NS"
in_ns ip link set lo up
bridge_postgres
in_ns "$RAY" start --head --port=$PORT --include-dashboard=false --temp-dir="$R/tmp" \
    "${COMMON[@]}" --resources='{"node1": 1}' >"$R/head.log" 2>&1 || { cat "$R/head.log" >&2; exit 1; }
start_node2
echo "127.0.0.1:$PORT"
