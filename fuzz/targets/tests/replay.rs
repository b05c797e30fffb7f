//! Replays every committed fuzz input through its entry, as ordinary tests:
//! the seed corpus (`fuzz/corpus/<target>/`) and the crash inputs that were
//! fixed (`fuzz/regressions/<target>/`). An entry panics on a failed
//! invariant, so an input that crashed once and crashes again fails here,
//! without a sanitizer build or cargo-fuzz (`scripts/fuzz.sh` fuzzes).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// A fuzzing entry: the fuzzer's bytes in, a panic on a failed invariant.
type Entry = fn(&[u8]);

/// Every cargo-fuzz target (`fuzz/fuzz_targets/<name>.rs`) and its entry.
const TARGETS: &[(&str, Entry)] = &[
    ("auth_answer", sbp_fuzz_targets::auth_answer),
    ("auth_response", sbp_fuzz_targets::auth_response),
    ("config", sbp_fuzz_targets::config),
    ("config_toml", sbp_fuzz_targets::config_toml),
    ("cookie", sbp_fuzz_targets::cookie),
    ("guard", sbp_fuzz_targets::guard),
    ("realtime", sbp_fuzz_targets::realtime),
    ("route", sbp_fuzz_targets::route),
    ("token_claims", sbp_fuzz_targets::token_claims),
];

/// The repository's `fuzz/` folder (this crate is `fuzz/targets`).
fn fuzz_dir() -> PathBuf {
    let targets = Path::new(env!("CARGO_MANIFEST_DIR"));
    targets
        .parent()
        .expect("fuzz/targets is in fuzz/")
        .to_path_buf()
}

/// The files in `dir` (none when it does not exist), sorted.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable folder").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs every input under `fuzz/<kind>/<target>/` through its entry; fails
/// naming each input that panicked. Gives how many inputs ran.
fn replay(kind: &str) -> usize {
    let mut failed = Vec::new();
    let mut ran = 0;
    for (target, entry) in TARGETS {
        for input in inputs(&fuzz_dir().join(kind).join(target)) {
            let data = std::fs::read(&input).expect("readable input");
            ran += 1;
            if catch_unwind(AssertUnwindSafe(|| entry(&data))).is_err() {
                failed.push(input.display().to_string());
            }
        }
    }
    assert!(failed.is_empty(), "inputs that crash: {failed:#?}");
    ran
}

#[test]
fn every_corpus_entry_passes_its_target() {
    for (target, _) in TARGETS {
        let dir = fuzz_dir().join("corpus").join(target);
        assert!(!inputs(&dir).is_empty(), "no seeds in {}", dir.display());
    }
    replay("corpus");
}

#[test]
fn every_fixed_crash_input_passes_its_target() {
    assert!(replay("regressions") > 0, "no regression inputs found");
}

/// A target added to fuzz/fuzz_targets without an entry here would never be
/// replayed.
#[test]
fn every_fuzz_target_is_replayed() {
    let mut on_disk: Vec<String> = inputs(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_string()))
        .collect();
    on_disk.sort();
    let replayed: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
    assert_eq!(on_disk, replayed);
}
