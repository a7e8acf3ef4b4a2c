# Sourced by the launchers in bin/ (bm-dev-ctl, bm-sample-apps): builds a project of src/ into .artifacts/<name> when it is missing or older than
# its sources (and those of the projects it uses), then runs it with the launcher's arguments.
# Usage: run_project <name> <project folder under src/> <exe name> <source folders under src/...> -- "$@"
run_project() {
  local name="$1" project="$2" exe_name="$3"
  shift 3
  local sources=()
  while [[ $# -gt 0 && "$1" != "--" ]]; do sources+=("$repo/src/$1"); shift; done
  [[ $# -gt 0 ]] && shift

  local out="$repo/.artifacts/$name"
  local exe="$out/bin/$project/release/$exe_name"
  local stamp="$out/.built"
  export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

  stale() {
    [[ -x "$exe" && -f "$stamp" ]] || return 0
    # Any source, project or build-props file newer than the last build.
    [[ -n "$(find "${sources[@]}" \( -path '*/obj' -o -path '*/bin' \) -prune -o -type f -newer "$stamp" -print -quit)" ]] && return 0
    [[ "$repo/Directory.Build.props" -nt "$stamp" || "$repo/Directory.Packages.props" -nt "$stamp" ]]
  }

  build() {
    mkdir -p "$out"
    local log
    log="$(mktemp)"
    if ! dotnet build "$repo/src/$project/$project.csproj" -c Release --artifacts-path "$out" -nologo -v q -clp:ErrorsOnly >"$log" 2>&1; then
      cat "$log" >&2
      rm -f "$log"
      echo "$exe_name: build failed" >&2
      exit 1
    fi
    rm -f "$log"
    touch "$stamp"
  }

  if stale; then
    mkdir -p "$out"
    if command -v flock >/dev/null 2>&1; then
      # Two invocations at once build only once.
      exec 9>"$out/.lock"
      flock 9
      if stale; then build; fi
      flock -u 9
      exec 9>&-
    else
      build
    fi
  fi

  exec "$exe" "$@"
}
