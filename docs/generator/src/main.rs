//! `cloudcord-docs`: writes the documentation site's generated pages, and checks the
//! built site's internal links (`make docs` runs both; see the library).

use std::fs;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use cloudcord_docs::{BOOK_SOURCE, links, pages};

/// The documentation site's generator and link checker.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the event and REST reference pages under docs/src/reference/.
    Generate {
        /// The workspace root.
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
    /// Check every relative link and anchor of a built site; exits 1 on a broken one.
    CheckLinks {
        /// The site mdBook built (its HTML output).
        site: PathBuf,
        /// The path the site is served under (book.toml's `site-url`).
        #[arg(long, default_value = "/docs/")]
        base: String,
    },
}

fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Generate { root } => {
            for page in pages(&root)? {
                let path = root.join(BOOK_SOURCE).join(&page.path);
                if fs::read_to_string(&path).ok().as_deref() == Some(page.contents.as_str()) {
                    continue;
                }
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent)
                        .with_context(|| format!("create {}", parent.display()))?;
                }
                fs::write(&path, &page.contents)
                    .with_context(|| format!("write {}", path.display()))?;
                writeln!(std::io::stderr(), "wrote {}", path.display())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckLinks { site, base } => {
            let broken = links::check(&site, &base)?;
            let mut stderr = std::io::stderr().lock();
            for link in &broken {
                writeln!(
                    stderr,
                    "{}: broken link {}: {}",
                    site.join(&link.page).display(),
                    link.link,
                    link.problem
                )?;
            }
            if broken.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                writeln!(stderr, "{} broken link(s)", broken.len())?;
                Ok(ExitCode::FAILURE)
            }
        }
    }
}
