//! The `arbor` binary: all logic lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    arbor::cli::main(std::env::args_os())
}
