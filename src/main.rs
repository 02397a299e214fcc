//! The `manifold` command line. All I/O happens here and in `manifold::output`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
