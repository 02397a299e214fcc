#!/usr/bin/env bash
# Side by side, on the same generated output: `manifold compile` of a synthetic spec with N
# services (manifold-gen) against `kubectl kustomize` building every overlay manifold wrote.
#
#   bash scripts/side-by-side.sh [N] [SEED]      # default N = 1000, SEED = 42
#
# Needs a release build (`cargo build --release --bins`, done here) and `kubectl` (kustomize
# is built into it) or a standalone `kustomize` on PATH. Prints both wall times and their
# ratio, measured in this one run. MANIFOLD_BIN / MANIFOLD_GEN override the binaries;
# WORK=DIR keeps the spec and the output there (default: a temporary directory, removed).
set -euo pipefail

N="${1:-1000}"
SEED="${2:-42}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if command -v kubectl >/dev/null 2>&1; then
    KUSTOMIZE=(kubectl kustomize)
elif command -v kustomize >/dev/null 2>&1; then
    KUSTOMIZE=(kustomize build)
else
    echo "side-by-side: neither kubectl nor kustomize is on PATH; install kubectl (it carries kustomize): see docs/performance.md" >&2
    exit 2
fi

if [[ -z "${MANIFOLD_BIN:-}" || -z "${MANIFOLD_GEN:-}" ]]; then
    (cd "$ROOT" && cargo build --release --locked --bins --quiet)
    TARGET="$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
    MANIFOLD_BIN="${MANIFOLD_BIN:-$TARGET/release/manifold}"
    MANIFOLD_GEN="${MANIFOLD_GEN:-$TARGET/release/manifold-gen}"
fi

if [[ -n "${WORK:-}" ]]; then
    mkdir -p "$WORK"
else
    WORK="$(mktemp -d)"
    trap 'rm -rf "$WORK"' EXIT
fi
SPEC="$WORK/platform.kdl"
OUT="$WORK/out"
rm -rf "$OUT"

"$MANIFOLD_GEN" "$N" --seed "$SEED" --out "$SPEC"

now() { date +%s.%N; }

# manifold: a cold compile into an empty directory (everything written and fsynced).
start="$(now)"
"$MANIFOLD_BIN" compile "$SPEC" --out "$OUT" >/dev/null 2>"$WORK/manifold.log" || {
    cat "$WORK/manifold.log" >&2
    exit 1
}
manifold_s="$(awk -v a="$(now)" -v b="$start" 'BEGIN { print a - b }')"

mapfile -t OVERLAYS < <(cd "$OUT" && find kubernetes/overlays -name kustomization.yaml -printf '%h\n' | sort)
objects=0
start="$(now)"
for overlay in "${OVERLAYS[@]}"; do
    count="$("${KUSTOMIZE[@]}" "$OUT/$overlay" | grep -c '^kind: ')"
    objects=$((objects + count))
done
kustomize_s="$(awk -v a="$(now)" -v b="$start" 'BEGIN { print a - b }')"

printf 'N = %s services, seed %s: %s overlays, %s objects built by %s\n' \
    "$N" "$SEED" "${#OVERLAYS[@]}" "$objects" "${KUSTOMIZE[*]}"
printf '  manifold compile (spec -> every file, written):   %8.3f s\n' "$manifold_s"
printf '  %s over all overlays:             %8.3f s\n' "${KUSTOMIZE[*]}" "$kustomize_s"
printf '  ratio (kustomize / manifold):                     %8.1fx\n' \
    "$(awk -v a="$kustomize_s" -v b="$manifold_s" 'BEGIN { print a / b }')"
