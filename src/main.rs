//! The `manifold` command line. All I/O happens here and in `manifold::output`.

mod cli;

/// mimalloc instead of the system allocator: a compile is allocation-bound (the `kdl`
/// parser, serde_json values, rendered strings), and mimalloc cut its CPU time by a quarter
/// (docs/performance.md). Output never depends on the allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::run()
}
