#!/usr/bin/env bash
# Outrigger as the candidate column of peerbench (see bench/README.md), every column filled:
#   single proxy (h1, 16 KiB, latency, h2c, TCP, RSS): sidecar.yaml, one process, --workers 1
#     (OUTRIGGER_AS=gateway: gateway.yaml, the same ports as Gateway servers)
#   2-hop mTLS pair: pair-a.yaml (gateway A, plain HTTP in, mTLS out) -> pair-b.yaml (sidecar B, STRICT)
# Usage, from anywhere (build the checkout first: npm run build):
#   PEERBENCH=/tmp/peerbench bench/peerbench/run.sh [peerbench's run.sh arguments]
# PEERBENCH is a writable copy of ../shared/peerbench (default /tmp/peerbench); the arguments go to
# its run.sh unchanged (e.g. --quick, --sections h1,tcp, --proxies nginx, --out DIR).
set -euo pipefail
checkout=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
peerbench=${PEERBENCH:-/tmp/peerbench}
[ -x "$peerbench/run.sh" ] || { echo "bench/peerbench/run.sh: no peerbench copy at $peerbench (set PEERBENCH; see bench/README.md)" >&2; exit 2; }
[ -f "$checkout/dist/bundle/main.js" ] || { echo "bench/peerbench/run.sh: build first: npm run build" >&2; exit 2; }

# the checkout's Node 24, first in PATH: for Outrigger, the harness and its Node peers alike
export PATH="$checkout/node_modules/.bin:$PATH"

# Outrigger's own ports (admin, outbound, inbound, health, stats) from a base, outside the harness's
# 15000-15200 and 18080-18090.
ports() { echo "--admin-port ${1}00 --outbound-port ${1}01 --inbound-port ${1}06 --health-port ${1}21 --stats-port ${1}90"; }
# A workload certificate directory in Istio's file-mounted layout, linked to the harness's certs
# ($PB_CERTS and $PB_RUN_DIR exist only when the harness runs the command: kept unexpanded here).
cert_dir() {
  echo "d=\"\$PB_RUN_DIR/outrigger-certs-$1\" && mkdir -p \"\$d\" && ln -sf \"\$PB_CERTS/$1.pem\" \"\$d/cert-chain.pem\"" \
    "&& ln -sf \"\$PB_CERTS/$1-key.pem\" \"\$d/key.pem\" && ln -sf \"\$PB_CERTS/ca.pem\" \"\$d/root-cert.pem\""
}
run="exec node bin/outrigger.js run --workers 1"

export PROXY_NAME=${PROXY_NAME:-outrigger}
export PROXY_CWD=$checkout
case ${OUTRIGGER_AS:-sidecar} in
  sidecar) single="-c bench/peerbench/sidecar.yaml --mode sidecar --namespace bench" ;;
  gateway) single="-c bench/peerbench/gateway.yaml --mode gateway --label istio=ingressgateway --namespace bench" ;;
  *) echo "bench/peerbench/run.sh: OUTRIGGER_AS is sidecar or gateway, not $OUTRIGGER_AS" >&2; exit 2 ;;
esac
export PROXY_CMD="$run $single $(ports 160)"
export PROXY_PORT=16080 PROXY_H2_PORT=16080 PROXY_TCP_PORT=16081
export PROXY_PAIR_A_CMD="$(cert_dir a) && $run -c bench/peerbench/pair-a.yaml --mode gateway --label istio=ingressgateway --namespace default --service-account a --cert-dir \"\$d\" $(ports 161)"
export PROXY_PAIR_B_CMD="$(cert_dir b) && $run -c bench/peerbench/pair-b.yaml --mode sidecar --namespace default --service-account b --cert-dir \"\$d\" $(ports 162)"
export PROXY_PAIR_PORT=16180

cd "$peerbench"
exec ./run.sh "$@"
