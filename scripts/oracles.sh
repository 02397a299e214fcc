#!/usr/bin/env bash
# Compile every example and run the shared oracles over each output tree:
# yamllint, `kubectl kustomize` on every overlay, kubernetes-validate, the CRD schemas
# (VPA, Istio, ArgoCD, KEDA), `terraform fmt -check`, the Terraform provider schemas and checkov
# (strict: zero findings in the Kubernetes, Kustomize and Terraform frameworks).
#
#   scripts/oracles.sh [--install]     # --install first runs ../shared/oracles/install.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ORACLES="${MANIFOLD_ORACLES:-$ROOT/../shared/oracles}"
[ -d "$ORACLES" ] || { echo "oracles not found at $ORACLES (set MANIFOLD_ORACLES)"; exit 2; }
if [ "${1:-}" = "--install" ]; then
  bash "$ORACLES/install.sh"
fi
cd "$ROOT"
cargo build --quiet --locked
BIN="$ROOT/target/debug/manifold"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
status=0
for spec in examples/*/platform.kdl; do
  name="$(basename "$(dirname "$spec")")"
  out="$WORK/$name"
  echo "=== $name: manifold compile $spec --out $out"
  "$BIN" compile "$spec" --out "$out"
  # --checkov-strict: any checkov finding fails (issue 10; suppressions: README.md, "Hardening")
  if bash "$ORACLES/check-all.sh" --checkov-strict "$out" > "$WORK/$name.log" 2>&1; then
    sed -n '/===== summary =====/,$p' "$WORK/$name.log"
  else
    cat "$WORK/$name.log"
    echo "FAIL: oracles rejected the output of $spec"
    status=1
  fi
done
[ $status -eq 0 ] && echo "oracles: every example passed"
exit $status
