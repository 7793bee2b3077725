fn main() -> std::process::ExitCode {
    gradlang::cli::main()
}
