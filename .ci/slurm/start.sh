#!/usr/bin/env bash
# Start a single-node Slurm (munged, slurmctld, slurmd on this host) from .ci/slurm/slurm.conf.in.
# Idempotent: a cluster that already answers is left as it is. Needs root and Debian's slurm-wlm + munge
# (`apt-get install -y slurm-wlm munge`). Stop it with .ci/slurm/stop.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state=${CNNF_SLURM_STATE:-/var/lib/cnnf-slurm}
conf=/etc/slurm/slurm.conf
marker="# installed by cnnf-bench .ci/slurm/start.sh"

if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
  echo "slurm: already running ($(sinfo -h -o '%N %T' | head -1))"
  exit 0
fi
for tool in munged slurmctld slurmd; do
  command -v "/usr/sbin/$tool" >/dev/null || { echo "slurm: /usr/sbin/$tool missing (apt-get install -y slurm-wlm munge)" >&2; exit 1; }
done

# munge: a key, its folders, the daemon as the munge user
mkdir -p /etc/munge /run/munge /var/log/munge /var/lib/munge
if [ ! -s /etc/munge/munge.key ]; then
  head -c 1024 /dev/urandom > /etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key /run/munge /var/log/munge /var/lib/munge
chmod 400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  su -s /bin/sh munge -c /usr/sbin/munged
  sleep 1
fi
munge -n | unmunge | grep -q Success || { echo "slurm: munge does not work" >&2; exit 1; }

# the config: this host, its cores and memory
host=$(hostname -s)
cpus=$(nproc)
memory=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
if [ -e "$conf" ] && ! grep -qF "$marker" "$conf"; then
  echo "slurm: $conf exists and was not written by this script; not touching it" >&2
  exit 1
fi
mkdir -p /etc/slurm "$state/ctld" "$state/spool" "$state/log"
{ echo "$marker"; sed -e "s/@HOST@/$host/g" -e "s/@CPUS@/$cpus/g" -e "s/@MEMORY@/$memory/g" -e "s|@STATE@|$state|g" \
  "$here/slurm.conf.in"; } > "$conf"

# the daemons (they fork into the background and write their pid files)
/usr/sbin/slurmctld
sleep 1
/usr/sbin/slurmd
for _ in $(seq 60); do
  node=$(sinfo -h -o %T 2>/dev/null | head -1 || true)
  case "$node" in
    idle | mixed | allocated) break ;;
    down* | drain* | unk*) scontrol update nodename="$host" state=resume 2>/dev/null || true ;;
  esac
  sleep 1
done
sinfo -h -o %T | grep -qE '^(idle|mixed|allocated)' || { echo "slurm: node not up; see $state/log" >&2; exit 1; }
timeout 60 srun -N1 -n1 hostname >/dev/null
echo "slurm: running on $host ($cpus CPUs); config $conf, state and logs in $state"
