#!/usr/bin/env bash
# Start a real single-node Slurm (Debian's slurmctld, slurmd, slurm-client, munge) for
# tests/test_slurm.py: daemons started here, without systemd (../shared/INFRA.md's recipe).
# Idempotent: when `sinfo` already shows the node idle, nothing is done.
#   bash .ci/slurm.sh          install when missing, configure, start, wait until idle
#   bash .ci/slurm.sh stop     stop the daemons this script started (by their pid files)
# State, spool and logs: $KD_AUTOML_SLURM_ROOT (default /tmp/kd-automl-slurm).
set -euo pipefail
S="${KD_AUTOML_SLURM_ROOT:-/tmp/kd-automl-slurm}"
if [ "${1:-}" = stop ]; then
    for f in "$S/slurmd.pid" "$S/slurmctld.pid" /run/munge/munged.pid; do
        [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
    done
    exit 0
fi
if command -v sinfo >/dev/null 2>&1 && sinfo -h -o %T 2>/dev/null | grep -Eqx 'idle|mixed|allocated'; then
    exit 0  # already up
fi
if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        slurmctld slurmd slurm-client munge >&2
fi
H="$(hostname -s)"
mkdir -p "$S"/{state,spool}
install -d -o munge -g munge -m 0755 /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    [ -s /etc/munge/munge.key ] || { mungekey -c 2>/dev/null || create-munge-key -f; }
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 10); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.5; done
fi
# The node declares 8 CPUs on any machine (config_overrides: slurmd does not drain a node that
# has fewer): the tests run 3 one-CPU workers plus a job of their own on a 2-core machine.
# CR_Core, not CR_Core_Memory: without DefMemPerCPU a job without --mem would take the node.
# cred_expire=10: a requeued job waits cred_expire + 1 s before it runs again; bf_interval=5,
# sched_interval=5: then it (and a new array) starts within seconds, not at the next 30-60 s pass.
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=ci
SlurmctldHost=$H
SlurmUser=root
AuthType=auth/munge
AuthInfo=cred_expire=10
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/slurmctld.log
SlurmdLogFile=$S/slurmd.log
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=bf_interval=5,sched_interval=5
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
KillWait=10
MinJobAge=600
NodeName=$H CPUs=8 RealMemory=16000 State=UNKNOWN
PartitionName=debug Nodes=$H Default=YES MaxTime=INFINITE State=UP PriorityTier=1
PartitionName=high Nodes=$H MaxTime=INFINITE State=UP PriorityTier=10
CONF
pgrep -F "$S/slurmctld.pid" >/dev/null 2>&1 || /usr/sbin/slurmctld -i
pgrep -F "$S/slurmd.pid" >/dev/null 2>&1 || /usr/sbin/slurmd
for _ in $(seq 60); do
    sinfo -h -o %T 2>/dev/null | grep -Eqx 'idle|mixed|allocated' && exit 0
    sleep 1
done
echo "slurm did not come up; logs in $S" >&2
tail -20 "$S/slurmctld.log" "$S/slurmd.log" >&2 || true
exit 1
