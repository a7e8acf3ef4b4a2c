#!/usr/bin/env bash
# A long soak of the driver: builds bench/BrightDb.Benchmarks (Release, build output in $SOAK_ARTIFACTS, default
# /tmp/brightdb-soak-artifacts, out of the source tree) and runs its `soak` sub-command on a local 3-node cluster with
# fault proxies: open / SELECT 1 / close cycles over many tasks while one node at a time is faulted. Arguments are
# passed to `soak` (--cycles N, --tasks N, --seed N, --chaos-interval-ms N). Exits non-zero when the build fails or the
# driver's final connection map differs from the servers' counts. Not part of CI.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

./scripts/ensure-prereqs.sh

artifacts="${SOAK_ARTIFACTS:-${TMPDIR:-/tmp}/brightdb-soak-artifacts}"
echo "== build bench/BrightDb.Benchmarks (Release, artifacts in $artifacts)"
dotnet build bench/BrightDb.Benchmarks -c Release --artifacts-path "$artifacts" -nologo -v q -clp:ErrorsOnly

echo "== soak $*"
exec dotnet "$artifacts/bin/BrightDb.Benchmarks/release/BrightDb.Benchmarks.dll" soak "$@"
