//! The `arbor` binary: all logic lives in the `arbor_cli` library.

fn main() -> std::process::ExitCode {
    arbor_cli::main(std::env::args_os())
}
