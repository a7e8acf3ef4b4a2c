#!/usr/bin/env bash
# The tests: builds the solution and runs every test project, then prints "N passed, N failed, N skipped" as its last line.
# Exits non-zero when a test fails, a project does not build or run, or a test project runs no test at all. Skipped
# tests are listed by name before the closing line. A test that hangs for 15 minutes aborts its project's run (counted
# as a failure) instead of blocking CI.
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

./scripts/ensure-prereqs.sh --browser || { echo "0 passed, 0 failed, 0 skipped"; exit 1; }

echo "== build (Release)"
if ! dotnet build BrightDb.slnx -c Release -nologo -v q -clp:ErrorsOnly; then
  echo "build failed"
  echo "0 passed, 0 failed, 0 skipped"
  exit 1
fi

results="$repo/.artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"

# The counters of trx files: <Counters total=".." executed=".." passed=".." failed=".." error=".." ... notExecuted="..">.
# One file's value of an attribute.
count_in() {
  local value
  value="$(grep -o "<Counters [^>]*" "$1" | grep -o " $2=\"[0-9]*\"" | grep -o '[0-9]*' | head -n1)"
  echo "${value:-0}"
}

# The tests a trx file shows as run, whatever their outcome (skipped ones are not run).
ran() {
  echo $(( $(count_in "$1" passed) + $(count_in "$1" failed) + $(count_in "$1" error) + $(count_in "$1" timeout) + $(count_in "$1" aborted) ))
}

# The sum of an attribute over every trx file.
counter() {
  local attribute="$1" sum=0
  for trx in "$results"/*.trx; do
    [[ -f "$trx" ]] || continue
    sum=$((sum + $(count_in "$trx" "$attribute")))
  done
  echo "$sum"
}

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
  elif (( $(ran "$results/$name.trx") == 0 )); then
    # A project whose tests were all skipped, filtered out or not discovered proves nothing.
    echo "$name ran no test"
    status=1
  fi
done

# Skipped tests, by name (a trx file lists each as <UnitTestResult ... testName="..." ... outcome="NotExecuted" ...>).
skipped_names="$(
  for trx in "$results"/*.trx; do
    [[ -f "$trx" ]] || continue
    grep -o '<UnitTestResult [^>]*>' "$trx" | grep ' outcome="NotExecuted"' | grep -o ' testName="[^"]*"' \
      | sed -e 's/^ testName="//' -e 's/"$//' -e 's/&quot;/"/g' -e "s/&apos;/'/g" -e 's/&lt;/</g' -e 's/&gt;/>/g' -e 's/&amp;/\&/g'
  done
)"
if [[ -n "$skipped_names" ]]; then
  echo "skipped tests:"
  while IFS= read -r test; do echo "  $test"; done <<< "$skipped_names"
fi

# Failed tests, by name, each with the first lines of its message, so a CI log says why without the trx files.
for trx in "$results"/*.trx; do
  [[ -f "$trx" ]] || continue
  awk '
    /<UnitTestResult / { name = ""; failed = ($0 ~ / outcome="Failed"/); if (match($0, / testName="[^"]*"/)) name = substr($0, RSTART + 11, RLENGTH - 12) }
    failed && /<Message>/ { inside = 1; lines = 0; print "failed: " name }
    failed && inside { line = $0; sub(/.*<Message>/, "", line); sub(/<\/Message>.*/, "", line); if (lines++ < 6) print "    " line }
    /<\/Message>/ { inside = 0; failed = 0 }
  ' "$trx" | sed -e 's/&quot;/"/g' -e "s/&apos;/'/g" -e 's/&lt;/</g' -e 's/&gt;/>/g' -e 's/&amp;/\&/g'
done

passed="$(counter passed)"
failed=$(( $(counter failed) + $(counter error) + $(counter timeout) + $(counter aborted) ))
# vstest leaves notExecuted at 0 for skipped xunit tests; they are the tests of the total that did not run.
skipped=$(( $(counter total) - $(counter executed) ))

echo "test results: $results"
(( failed == 0 && passed > 0 && status == 0 )) && rc=0 || rc=1
echo "$passed passed, $failed failed, $skipped skipped"
exit "$rc"
