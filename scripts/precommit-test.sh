#!/usr/bin/env bash
# Tests .pre-commit-hooks.yaml with the real pre-commit tool (from PyPI) in a scratch
# repository: pre-commit builds manifold from a snapshot of this checkout (`language: rust`),
# a commit with current output passes, a commit that changes the spec without recompiling is
# refused as stale, and the diff hook previews the change.
#
# Usage: bash scripts/precommit-test.sh
# Needs python3 (with venv), cargo and git. Never skips: anything it cannot do is a failure.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

fail() {
    echo "precommit-test: FAIL: $*" >&2
    exit 1
}

for tool in python3 cargo git; do
    command -v "$tool" >/dev/null || fail "$tool is not installed"
done

# pre-commit, in a virtual environment kept under target/ between runs.
venv="$root/target/precommit-venv"
if [ ! -x "$venv/bin/pre-commit" ]; then
    python3 -m venv "$venv" || fail "cannot create a Python virtual environment (install python3-venv)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'pre-commit>=4,<5' \
        || fail "cannot install pre-commit from PyPI"
fi
precommit="$venv/bin/pre-commit"
echo "precommit-test: $("$precommit" --version)"

cargo build --locked --quiet
manifold="$root/target/debug/manifold"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export PRE_COMMIT_HOME="$work/cache"
# pre-commit builds the hook with `cargo install`; keep its build between runs and make it quick
# (the hooks' behaviour does not depend on optimisation).
export CARGO_TARGET_DIR="$root/target/precommit"
export CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_INCREMENTAL=true
# A private HOME keeps the user's git configuration out; cargo and rustup keep theirs.
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
export NO_COLOR=1 GIT_CONFIG_NOSYSTEM=1 HOME="$work/home"
mkdir -p "$HOME"
git config --global user.name "pre-commit test"
git config --global user.email "precommit@example.com"
git config --global init.defaultBranch main

# The hook repository: a snapshot of this checkout (tracked and new files, as they are on disk).
hooks="$work/manifold"
mkdir -p "$hooks"
while IFS= read -r -d '' file; do
    # Files deleted in the working tree are still listed by --cached; skip them.
    if [ -e "$root/$file" ]; then
        (cd "$root" && cp --parents -- "$file" "$hooks")
    fi
done < <(git -C "$root" ls-files -z --cached --others --exclude-standard)
[ -f "$hooks/.pre-commit-hooks.yaml" ] || fail "the snapshot has no .pre-commit-hooks.yaml"
[ -f "$hooks/Cargo.toml" ] || fail "the snapshot has no Cargo.toml"
git -C "$hooks" init --quiet
git -C "$hooks" add -A
git -C "$hooks" commit --quiet -m "snapshot"
rev="$(git -C "$hooks" rev-parse HEAD)"

# The user's repository: a spec, its compiled output, and the hooks.
repo="$work/platform"
mkdir -p "$repo"
cd "$repo"
git init --quiet
"$manifold" init . 2>/dev/null
"$manifold" compile platform.kdl --out out 2>/dev/null
cat >.pre-commit-config.yaml <<EOF
repos:
  - repo: $hooks
    rev: $rev
    hooks:
      - id: manifold-check-output
        args: [platform.kdl, --out, out]
      - id: manifold-diff
        args: [platform.kdl, --repo, ., --dir, out]
EOF
"$precommit" install >/dev/null

echo "precommit-test: installing the hooks (pre-commit builds manifold with cargo)"
"$precommit" install-hooks || fail "pre-commit could not install the hooks"

echo "precommit-test: a commit with current output passes"
git add -A
git commit --quiet -m "platform and output" >"$work/first.log" 2>&1 \
    || { cat "$work/first.log"; fail "a commit with current output was refused"; }
grep -q "manifold output is up to date.*Passed" "$work/first.log" \
    || { cat "$work/first.log"; fail "the check hook did not run"; }

echo "precommit-test: a spec change without recompiling is refused as stale"
sed -i 's/env LOG_LEVEL=info/env LOG_LEVEL=debug/' platform.kdl
grep -q 'LOG_LEVEL=debug' platform.kdl || fail "could not edit the starter spec"
git add platform.kdl
if git commit --quiet -m "stale" >"$work/stale.log" 2>&1; then
    cat "$work/stale.log"
    fail "a commit with stale output was accepted"
fi
grep -q "manifold output is up to date.*Failed" "$work/stale.log" \
    || { cat "$work/stale.log"; fail "the check hook did not report the stale output"; }
grep -q "is stale" "$work/stale.log" || { cat "$work/stale.log"; fail "no 'is stale' message"; }

echo "precommit-test: after recompiling, the commit passes and the diff hook previews it"
"$manifold" compile platform.kdl --out out 2>/dev/null
git add -A
git commit --quiet -m "log level" >"$work/fixed.log" 2>&1 \
    || { cat "$work/fixed.log"; fail "a commit with recompiled output was refused"; }
grep -q 'env\[LOG_LEVEL\].value: "info" → "debug"' "$work/fixed.log" \
    || { cat "$work/fixed.log"; fail "the diff hook did not preview the change"; }
[ "$(git rev-list --count HEAD)" = 2 ] || fail "expected exactly two commits"

echo "precommit-test: 3 passed, 0 failed"
