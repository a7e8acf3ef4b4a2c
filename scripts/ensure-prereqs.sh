#!/usr/bin/env bash
# Installs what the README's commands need and is missing: PostgreSQL server binaries (the local cluster), psql and curl
# (the tutorial). With --browser (the tests) also Debian's chromium, for the dashboard's browser tests: when it cannot be
# installed this says so and goes on, and those tests are skipped with that reason. Safe to run any number of times: it
# installs nothing when everything is present.
set -euo pipefail

want_browser=0
[[ "${1:-}" == "--browser" ]] && want_browser=1

if ! command -v dotnet >/dev/null 2>&1; then
  echo "ensure-prereqs: the .NET 10 SDK is required (https://dot.net/download); 'dotnet' is not on PATH." >&2
  exit 1
fi

packages=()
have_server=0
for postgres in /usr/lib/postgresql/*/bin/postgres; do
  [[ -x "$postgres" ]] && have_server=1
done
(( have_server )) || packages+=(postgresql)
command -v psql >/dev/null 2>&1 || packages+=(postgresql-client)
command -v curl >/dev/null 2>&1 || packages+=(curl)
command -v setsid >/dev/null 2>&1 || packages+=(util-linux)

need_browser=0
(( want_browser )) && [[ ! -x /usr/bin/chromium && -z "${BRIGHTDB_CHROMIUM:-}" ]] && need_browser=1

if (( ${#packages[@]} == 0 && need_browser == 0 )); then
  exit 0
fi

if (( EUID == 0 )); then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
elif (( ${#packages[@]} == 0 )); then
  echo "ensure-prereqs: chromium is missing and cannot be installed without root (apt-get install chromium): the browser tests will be skipped." >&2
  exit 0
else
  echo "ensure-prereqs: missing ${packages[*]}; run as root: apt-get update && apt-get install -y ${packages[*]}" >&2
  exit 1
fi

install_browser() {
  (( need_browser )) || return 0
  echo "ensure-prereqs: installing chromium (for the dashboard's browser tests) ..."
  if "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; then
    echo "ensure-prereqs: chromium installed."
  else
    echo "ensure-prereqs: chromium could not be installed: the browser tests will be skipped." >&2
  fi
}

if (( ${#packages[@]} == 0 )); then
  if command -v apt-get >/dev/null 2>&1; then
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq || true
    install_browser
  else
    echo "ensure-prereqs: chromium is missing and there is no apt-get here: the browser tests will be skipped." >&2
  fi
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-prereqs: missing ${packages[*]} and no apt-get here; install PostgreSQL 12+ server binaries, psql and curl." >&2
  exit 1
fi

echo "ensure-prereqs: installing ${packages[*]} ..."
if [[ " ${packages[*]} " == *" postgresql "* && ! -e /etc/postgresql-common/createcluster.conf ]]; then
  # The local cluster brings its own servers: skip the distribution's default cluster (and its server on port 5432).
  "${sudo[@]}" mkdir -p /etc/postgresql-common
  echo "create_main_cluster = false" | "${sudo[@]}" tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
install_browser
echo "ensure-prereqs: done."
