//! `psd2-sign completions SHELL`: a completion script generated from the clap definition, so it
//! always matches the real subcommands and flags.

use std::process::ExitCode;

use clap::CommandFactory;

use crate::common::CliError;
use crate::output::out;

/// `completions bash|zsh|fish`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  psd2-sign completions bash > ~/.local/share/bash-completion/completions/psd2-sign\n  \
    psd2-sign completions zsh > ~/.zfunc/_psd2-sign\n  \
    psd2-sign completions fish > ~/.config/fish/completions/psd2-sign.fish"
)]
pub(crate) struct Args {
    /// The shell to write the script for.
    #[arg(value_enum, value_name = "SHELL")]
    shell: Shell,
}

/// The shells a script is generated for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Shell {
    /// GNU Bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

/// Prints the script on stdout.
pub(crate) fn run(args: &Args) -> Result<ExitCode, CliError> {
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut cmd = crate::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "psd2-sign", &mut script);
    out!("{}", String::from_utf8_lossy(&script))?;
    Ok(ExitCode::SUCCESS)
}
