#!/usr/bin/env bash
# Stop the daemons that .ci/slurm/start.sh started, by the pids they wrote (munged is left running).
set -euo pipefail
state=${CNNF_SLURM_STATE:-/var/lib/cnnf-slurm}
for daemon in slurmd slurmctld; do
  pidfile="$state/$daemon.pid"
  if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill "$(cat "$pidfile")"
    echo "slurm: stopped $daemon ($(cat "$pidfile"))"
  fi
done
