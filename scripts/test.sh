#!/usr/bin/env bash
# The tests: builds the solution and runs every test project, then prints "N passed, N failed, N skipped" as its last line.
# Exits non-zero when a test fails, a project does not build or run, or no test ran. A test that hangs for 15 minutes
# aborts its project's run (counted as a failure) instead of blocking CI.
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

./scripts/ensure-prereqs.sh || { echo "0 passed, 0 failed"; exit 1; }

echo "== build (Release)"
if ! dotnet build BrightDb.slnx -c Release -nologo -v q -clp:ErrorsOnly; then
  echo "build failed"
  echo "0 passed, 0 failed"
  exit 1
fi

results="$repo/.artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"
status=0
for project in tests/*/*.csproj; do
  name="$(basename "$project" .csproj)"
  echo "== $name"
  if ! dotnet test "$project" -c Release --no-build -nologo -v q --blame-hang-timeout 15m --blame-hang-dump-type none --logger "trx;LogFileName=$name.trx" --results-directory "$results"; then
    status=1
  fi
  if [[ ! -f "$results/$name.trx" ]]; then
    echo "no results from $name (the test host did not run or crashed)"
    status=1
  fi
done

# Sum the counters of every trx file: <Counters total=".." executed=".." passed=".." failed=".." error=".." ... notExecuted="..">.
counter() {
  local attribute="$1" sum=0 value
  for trx in "$results"/*.trx; do
    [[ -f "$trx" ]] || continue
    value="$(grep -o "<Counters [^>]*" "$trx" | grep -o " $attribute=\"[0-9]*\"" | grep -o '[0-9]*' | head -n1)"
    sum=$((sum + ${value:-0}))
  done
  echo "$sum"
}
passed="$(counter passed)"
failed=$(( $(counter failed) + $(counter error) + $(counter timeout) + $(counter aborted) ))
skipped="$(counter notExecuted)"

echo "test results: $results"
(( failed == 0 && passed > 0 && status == 0 )) && rc=0 || rc=1
echo "$passed passed, $failed failed, $skipped skipped"
exit "$rc"
