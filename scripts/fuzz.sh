#!/usr/bin/env bash
# Fuzzes every parser that reads untrusted input: the cargo-fuzz targets in
# fuzz/ (each calls an entry in fuzz/targets, the sbp-fuzz-targets crate),
# each for a bounded time, with libFuzzer's memory limits. Exits non-zero on
# any crash, failed invariant, timeout or allocation over the limit; the
# input that did it is kept under $SBP_FUZZ_DIR/artifacts/<target>/
# (reproduce: scripts/fuzz.sh builds, then run that target's binary with the
# file as its argument). Once fixed, put it in fuzz/regressions/<target>/:
# `cargo test` replays those and the seed corpus on every run, without
# cargo-fuzz or a sanitizer; this script is for deliberate fuzzing.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   every (or the named) target for SECONDS each (60)
#   scripts/fuzz.sh --smoke                  8 seconds each, unoptimised, no sanitizer: a quick look
#   scripts/fuzz.sh --list                   the targets
#
# Only stable Rust is needed: cargo-fuzz's AddressSanitizer flag is one that
# stable rustc accepts only with RUSTC_BOOTSTRAP=1, set for the fuzz build
# alone. Full runs use AddressSanitizer, which also enforces -malloc_limit_mb
# on every allocation; the smoke builds without it to be quick, and
# there the RSS limit holds. The build, the growing corpus and crash inputs
# live under $SBP_FUZZ_DIR (/var/tmp/sb-cookie-proxy-fuzz); nothing is
# written into the repository but fuzz/Cargo.lock when dependencies change.
set -euo pipefail
cd "$(dirname "$0")/.."

work="${SBP_FUZZ_DIR:-/var/tmp/sb-cookie-proxy-fuzz}"
rss_limit_mb="${SBP_FUZZ_RSS_LIMIT_MB:-2048}"
malloc_limit_mb="${SBP_FUZZ_MALLOC_LIMIT_MB:-256}"
max_len="${SBP_FUZZ_MAX_LEN:-8192}"

all_targets() {
  sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -vx sbp-fuzz
}

seconds=60
smoke=0
targets=()
for arg in "$@"; do
  case "$arg" in
    --smoke) smoke=1 ;;
    --list) all_targets; exit 0 ;;
    -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    '' | *[!0-9]*) targets+=("$arg") ;;
    *) seconds="$arg" ;;
  esac
done
if [ "${#targets[@]}" -eq 0 ]; then
  mapfile -t targets < <(all_targets)
fi

if [ "$smoke" = 1 ]; then
  seconds="${SBP_FUZZ_SMOKE_SECONDS:-8}"
  build=(--dev --sanitizer none)
  profile=smoke
else
  # cargo-fuzz's default: optimised, with debug assertions and overflow checks.
  build=(--sanitizer address)
  profile=asan
fi

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked --version '^0.13'
fi

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
target_dir="$work/target-$profile"
echo "==> building the fuzz targets ($profile build in $target_dir)"
# Built once, then run directly: edits made while fuzzing do not rebuild.
(cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build "${build[@]}" --target-dir "$target_dir")
host="$(rustc -vV | sed -n 's/^host: //p')"
bin_dir="$target_dir/$host/$([ "$smoke" = 1 ] && echo debug || echo release)"

failed=()
for target in "${targets[@]}"; do
  corpus="$work/corpus/$target"
  if [ "$smoke" = 1 ]; then
    # From the seeds alone, so that the smoke takes the same time every run.
    corpus="$work/smoke-corpus/$target"
    rm -rf "$corpus"
  fi
  artifacts="$work/artifacts/$target"
  mkdir -p "$corpus" "$artifacts"
  log="$work/$target.log"
  echo "==> fuzzing $target for ${seconds}s"
  # The first corpus folder receives new inputs; the committed seeds are only read.
  if ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0" \
    "$bin_dir/$target" "$corpus" "fuzz/corpus/$target" \
    -max_total_time="$seconds" -rss_limit_mb="$rss_limit_mb" \
    -malloc_limit_mb="$malloc_limit_mb" -max_len="$max_len" -timeout=10 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1; then
    echo "    $(grep -E '^Done [0-9]+ runs' "$log"), peak RSS $(sed -n 's/^stat::peak_rss_mb: *//p' "$log") MB"
  else
    failed+=("$target")
    grep -v -E '^ +(#[0-9]+|[0-9]+:|at) ' "$log" | tail -n 40 || true
    echo "!!! $target failed: log $log, input $artifacts/$(ls -t "$artifacts" | head -n 1)"
  fi
done

passed=$((${#targets[@]} - ${#failed[@]}))
if [ "${#failed[@]}" -gt 0 ]; then
  echo "failed targets: ${failed[*]}"
fi
echo "fuzz: $passed passed, ${#failed[@]} failed"
[ "${#failed[@]}" -eq 0 ]
