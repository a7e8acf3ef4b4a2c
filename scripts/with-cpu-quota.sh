#!/usr/bin/env bash
# Runs a command, and every process it starts (the local cluster's PostgreSQL servers included), on a fraction of one
# core, through a Linux control group: a slow or overloaded machine, reproduced on a fast one. Needs root.
#   scripts/with-cpu-quota.sh 0.2 dotnet test tests/BrightDb.Npgsql.IntegrationTests -c Release --filter "..."
set -euo pipefail

if (( $# < 2 )); then
  echo "usage: $0 <cores, e.g. 0.2> <command> [arguments...]" >&2
  exit 2
fi
cores="$1"
shift
period=100000
quota="$(awk -v c="$cores" 'BEGIN { q = int(c * 100000); if (q < 1000) exit 1; print q }')" \
  || { echo "cores must be at least 0.01, not '$cores'" >&2; exit 2; }
name="brightdb-quota-$$"

if [[ -d /sys/fs/cgroup/cpu && -w /sys/fs/cgroup/cpu ]]; then
  # cgroup v1
  group="/sys/fs/cgroup/cpu/$name"
  mkdir "$group"
  echo "$period" > "$group/cpu.cfs_period_us"
  echo "$quota" > "$group/cpu.cfs_quota_us"
elif [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
  # cgroup v2
  group="/sys/fs/cgroup/$name"
  mkdir "$group"
  echo "$quota $period" > "$group/cpu.max"
else
  echo "no writable cpu control group here (run as root on Linux)" >&2
  exit 1
fi

status=0
sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh "$group" "$@" || status=$?
# The group can be removed once its processes are gone.
for _ in $(seq 50); do rmdir "$group" 2>/dev/null && break; sleep 0.2; done
exit "$status"
