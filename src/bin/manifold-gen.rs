//! `manifold-gen`: writes a synthetic, valid platform spec with N services (for benchmarks).
//!
//! ```sh
//! cargo run --release --bin manifold-gen -- 1000 --seed 42 --out /tmp/synth/platform.kdl
//! ```
//!
//! The spec is a pure function of N and the seed (`manifold::synth::generate`); see that
//! module for what it contains and `docs/performance.md` for how the benchmarks use it.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: manifold-gen N [--seed SEED] [--out FILE]

Writes a valid platform spec with N services over 3 clouds and 3 environments (6 targets)
using every feature of the language; the same N and SEED (default 42) give the same bytes.
Without --out the spec goes to stdout.";

fn main() -> ExitCode {
    let mut services = None;
    let mut seed = 42_u64;
    let mut out = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--seed" => match args.next().and_then(|value| value.parse().ok()) {
                Some(value) => seed = value,
                None => return usage("--seed needs a non-negative integer"),
            },
            "--out" => match args.next() {
                Some(value) => out = Some(PathBuf::from(value)),
                None => return usage("--out needs a file name"),
            },
            value if services.is_none() => match value.parse::<usize>() {
                Ok(count) if count >= 1 => services = Some(count),
                _ => return usage(&format!("N must be a whole number ≥ 1, not {value:?}")),
            },
            value => return usage(&format!("unexpected argument {value:?}")),
        }
    }
    let Some(services) = services else {
        return usage("missing N");
    };
    let spec = manifold::synth::generate(services, seed);
    let written = match &out {
        Some(path) => path
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(path, &spec)),
        None => std::io::stdout().lock().write_all(spec.as_bytes()),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("manifold-gen: cannot write the spec: {error}");
            ExitCode::from(1)
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("manifold-gen: {problem}\n\n{USAGE}");
    ExitCode::from(2)
}
