#!/usr/bin/env bash
# The psycopg2-brightdb tutorial on a local 3-node cluster. Creates the cluster, shows its status, what yb_servers()
# returns on each node and each node's rpcz page, then destroys it. Safe to run twice: a cluster left behind by an
# interrupted run is destroyed first, and the cluster is destroyed on exit whatever happens.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
./scripts/ensure-prereqs.sh

ctl=./bin/bm-dev-ctl
placements="aws.us-west.us-west-2a,aws.us-west.us-west-2a,aws.us-west.us-west-2b"

if $ctl status >/dev/null 2>&1; then
  echo "== destroying the cluster left by a previous run"
  $ctl destroy
fi
trap '$ctl destroy >/dev/null 2>&1 || true' EXIT

echo "== 1. create a 3-node cluster, replication factor 3"
echo "\$ $ctl create --rf 3 --placement_info \"$placements\""
$ctl create --rf 3 --placement_info "$placements"

echo
echo "== cluster status"
$ctl status

for node in 1 2 3; do
  echo
  echo "== yb_servers() as seen from node $node"
  $ctl yb_servers --node "$node"
done

echo
echo "== rpcz: each node lists its client connections at http://<host>:8100/rpcz"
psql "host=127.0.0.3 port=2521 user=bigmath password=bigmath dbname=bigmath application_name=tutorial" \
  -qAtc "select pg_sleep(3)" >/dev/null &
held=$!
sleep 1
for node in 1 2 3; do
  echo "\$ curl -s http://127.0.0.$node:8100/rpcz"
  curl -s "http://127.0.0.$node:8100/rpcz"
done
wait "$held" || true

echo
echo "== 2-3. the smart driver, in C#: 30 connections with load_balance=true (10/10/10), then 30 with"
echo "        topology_keys=aws.us-west.us-west-2a (15/15/0): the driver's map, the servers' counts and rpcz side by side"
base_dir="${BIGMATH_BASE_DIR:-/tmp/bigmath-data}"
[[ $EUID -eq 0 ]] || base_dir="${BIGMATH_BASE_DIR:-$HOME/bigmath-data}"
dotnet run -c Release --project samples/BrightDb.Samples.Tutorial -- --base-dir "$base_dir"

echo
echo "== 4. clean up"
echo "\$ $ctl destroy"
$ctl destroy
trap - EXIT
