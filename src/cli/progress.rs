//! Progress on stderr for long scans and batches: drawn only on a terminal and never with `-q`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use venvfix::execute::recreate::BuildEvent;
use venvfix::scan::ScanProgress;

use super::printer::{Printer, count};

/// A spinner counting directories and venvs while a scan walks a tree.
pub struct ScanSpinner {
    bar: ProgressBar,
}

impl ScanSpinner {
    pub fn new(printer: &Printer) -> Self {
        let bar = if printer.progress_allowed() {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} searching for venvs: {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        } else {
            ProgressBar::hidden()
        };
        ScanSpinner { bar }
    }

    /// Update from the scanner's callback (called from its worker threads).
    pub fn update(&self, progress: ScanProgress) {
        self.bar.set_message(format!(
            "{}, {}",
            count(progress.dirs_visited as usize, "dir", "dirs"),
            count(progress.venvs_found as usize, "venv", "venvs")
        ));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// A bar over the venvs of a batch.
pub fn batch_bar(printer: &Printer, len: usize, what: &str) -> ProgressBar {
    if !printer.progress_allowed() || len < 2 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(&format!("{what} [{{bar:30}}] {{pos}}/{{len}} {{wide_msg}}"))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// A recreate's progress: on a terminal, one line showing the current step or installer line
/// (the package being installed; the batch's own bar when there is one, so no two bars fight
/// over the last lines of the screen); otherwise the steps only, one line each (the installers'
/// output is in the log the error names); nothing with `-q`.
pub struct InstallProgress {
    bar: Option<ProgressBar>,
    /// Whether `bar` is this progress's own spinner (cleared at the end) or the batch's bar.
    own: bool,
    printer: Printer,
}

impl InstallProgress {
    pub fn new(printer: &Printer, batch: &ProgressBar) -> Self {
        if !batch.is_hidden() {
            return InstallProgress {
                bar: Some(batch.clone()),
                own: false,
                printer: printer.clone(),
            };
        }
        let bar = printer.progress_allowed().then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        InstallProgress {
            bar,
            own: true,
            printer: printer.clone(),
        }
    }

    /// What the build reports (called from the recreate hook).
    pub fn event(&self, event: BuildEvent<'_>) {
        match (&self.bar, event) {
            // Installer output may carry colour codes and carriage returns of its own.
            (Some(bar), BuildEvent::Step(line) | BuildEvent::Output(line)) => {
                bar.set_message(venvfix::shell::escape(line.trim()).into_owned())
            }
            (None, BuildEvent::Step(line)) => self
                .printer
                .status(&self.printer.paint_err(super::printer::Style::Dim, line)),
            (None, BuildEvent::Output(_)) => {}
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar
            && self.own
        {
            bar.finish_and_clear();
        }
    }
}
