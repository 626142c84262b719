//! How a plan reads: the headline (strategy, target, why), each change as `old -> new`, what a
//! recreate reinstalls and keeps, what is left as is, and the alternatives. `--dry-run`, the
//! prompt and `--yes` all print plans through here, so they always read the same.

use venvfix::plan::recreate::{Creation, Installer};
use venvfix::plan::{Action, Plan, RecreateSpec, Strategy};

use super::printer::{Printer, Style};

/// A plan as the user reads it: strategy and target, then each change as `old -> new`.
pub fn print_plan(plan: &Plan, printer: &Printer) {
    let headline = match (&plan.strategy, &plan.target) {
        (Strategy::None, _) => plan.reason.clone(),
        (strategy, Some(t)) => format!(
            "{} ({}, `{}`): {}",
            with_python(*strategy, &t.version),
            t.source.as_str(),
            t.link.display(),
            plan.reason
        ),
        (strategy, None) => format!("{}: {}", strategy.as_str(), plan.reason),
    };
    printer.out(&format!(
        "  {} {headline}",
        printer.paint(Style::Bold, "plan:")
    ));
    // A relocation rewrites every console script: past a screenful, the rest are counted.
    const REWRITES_SHOWN: usize = 8;
    let rewrites = plan
        .actions
        .iter()
        .filter(|a| matches!(a, Action::Rewrite { .. }))
        .count();
    let mut rewrites_seen = 0;
    for action in &plan.actions {
        if let Action::Rewrite { from, to, .. } = action {
            rewrites_seen += 1;
            if !printer.verbose() && rewrites > REWRITES_SHOWN + 1 {
                if rewrites_seen == REWRITES_SHOWN + 1 {
                    printer.out(&format!(
                        "      ... and {} more files: {} -> {} (`-v` lists them all)",
                        rewrites - REWRITES_SHOWN,
                        from.display(),
                        to.display()
                    ));
                }
                if rewrites_seen > REWRITES_SHOWN {
                    continue;
                }
            }
        }
        printer.out(&format!("      {}", describe_action(action)));
        if let Action::Recreate(spec) = action {
            print_recreate(spec, printer);
        }
    }
    for note in &plan.notes {
        printer.out(&format!(
            "    {} {note}",
            printer.paint(Style::Dim, "note:")
        ));
    }
    for u in &plan.unresolved {
        printer.out(&format!(
            "    {} [{}] {}",
            printer.paint(Style::Yellow, "left as is:"),
            u.kind.id(),
            u.why
        ));
    }
    // A recreate can go to any installed Python: the best few are enough to read.
    const SHOWN: usize = 3;
    let shown = if printer.verbose() {
        plan.alternatives.len()
    } else {
        SHOWN
    };
    for alt in plan.alternatives.iter().take(shown) {
        printer.out(&format!(
            "    {} {} (`{}`): {}",
            printer.paint(Style::Dim, "alternative:"),
            with_python(alt.strategy, &alt.target.version),
            alt.target.link.display(),
            alt.why
        ));
    }
    if plan.alternatives.len() > shown {
        printer.out(&format!(
            "    {} and {} more (`-v` lists them all)",
            printer.paint(Style::Dim, "alternative:"),
            plan.alternatives.len() - shown
        ));
    }
}

/// `relink to Python 3.8.18`, `recreate with Python 3.12.1`, `update pyvenv.cfg for ...`.
pub fn with_python(strategy: Strategy, version: &venvfix::version::PythonVersion) -> String {
    match strategy {
        Strategy::Relink => format!("relink to Python {version}"),
        Strategy::Recreate => format!("recreate with Python {version}"),
        Strategy::UpdateConfig => format!("update pyvenv.cfg for Python {version}"),
        Strategy::Relocate => format!("relocate and update pyvenv.cfg for Python {version}"),
        Strategy::None => "nothing".to_string(),
    }
}

/// `bin/python3: /usr/bin/python3 -> /opt/py/bin/python3.8`, `pyvenv.cfg home: a -> b`.
fn describe_action(action: &Action) -> String {
    match action {
        Action::Symlink { path, from, to } => format!(
            "{}: {} -> {}",
            path.display(),
            from.as_ref()
                .map(|f| f.display().to_string())
                .unwrap_or_else(|| "(not a link)".into()),
            to.display()
        ),
        Action::CopyFile { path, source } => {
            format!(
                "{}: replace the copied binary with a copy of {}",
                path.display(),
                source.display()
            )
        }
        Action::Config { key, from, to } => format!(
            "pyvenv.cfg {key}: {} -> {to}",
            from.as_deref().unwrap_or("(unset)")
        ),
        Action::Rewrite { path, from, to } | Action::ExternalLink { path, from, to } => {
            format!("{}: {} -> {}", path.display(), from.display(), to.display())
        }
        Action::Record(edit) => {
            let changes: Vec<String> = edit
                .changes
                .iter()
                .map(|c| format!("{}: {} -> {}", c.key, c.from, c.to))
                .collect();
            format!(
                "{} ({}'s record): {}",
                edit.path.display(),
                edit.tool,
                changes.join(", ")
            )
        }
        Action::Recreate(spec) => {
            let count = spec.requirements.len();
            format!(
                "recreate in place with `{}`{} (made with {}{}, installed with {}) and reinstall \
                 {count} requirement{}{}",
                spec.python.display(),
                spec.version
                    .map(|v| format!(" (Python {v})"))
                    .unwrap_or_default(),
                spec.create
                    .as_ref()
                    .map(Creation::shown)
                    .unwrap_or_else(|| "`python -m venv`".into()),
                if spec.copies { " --copies" } else { "" },
                match &spec.installer {
                    Some(Installer::Uv { uv }) => format!("`{}`", uv.display()),
                    _ => "pip".into(),
                },
                if count == 1 { "" } else { "s" },
                if count == 0 { "" } else { ":" }
            )
        }
    }
}

/// The details of a recreate: requirements, compiled and unavailable pins, what is kept.
fn print_recreate(spec: &RecreateSpec, printer: &Printer) {
    let python = spec
        .version
        .map(|v| format!("Python {v}"))
        .unwrap_or_else(|| "the new Python".into());
    for req in &spec.requirements {
        printer.out(&format!("        {req}"));
    }
    if !spec.seeds.is_empty() {
        let seeds: Vec<String> = spec
            .seeds
            .iter()
            .map(|s| match &s.new {
                Some(v) if *v == s.old => format!("{} {v}", s.name),
                Some(v) => format!("{} {} -> {v}", s.name, s.old),
                None => format!("{} {} (not installed)", s.name, s.old),
            })
            .collect();
        printer.out(&format!("      seed packages: {}", seeds.join(", ")));
    }
    for compiled in &spec.compiled {
        printer.out(&format!(
            "      {} {compiled}: needs a wheel (or a build) for {python}",
            printer.paint(Style::Dim, "compiled:")
        ));
    }
    for unavailable in &spec.unavailable {
        printer.out(&format!(
            "      {} {unavailable}",
            printer.paint(Style::Yellow, "unavailable:")
        ));
    }
    for left in &spec.left_out {
        printer.out(&format!(
            "      {} {left}",
            printer.paint(Style::Dim, "left out:")
        ));
    }
    if let Some(prompt) = &spec.prompt {
        printer.out(&format!("      prompt kept: {prompt}"));
    }
    if spec.system_site_packages {
        printer.out("      system site-packages kept visible");
    }
    for carried in &spec.carry_over {
        if carried.to == carried.from {
            printer.out(&format!("      carried over: {}", carried.from.display()));
        } else {
            printer.out(&format!(
                "      carried over: {} -> {}{}",
                carried.from.display(),
                carried.to.display(),
                if carried.rewrite.is_some() {
                    " (paths into the old lib dir rewritten)"
                } else {
                    ""
                }
            ));
        }
    }
    if !spec.activators.is_empty() {
        printer.out(&format!(
            "      activators kept: {}",
            spec.activators.join(", ")
        ));
    }
    for dir in &spec.find_links {
        printer.out(&format!("      wheels also from: {}", dir.display()));
    }
    if spec.offline {
        printer.out("      offline: no index is contacted");
    }
    for (n, candidate) in spec.candidates.iter().enumerate() {
        // Two installations of one version are told apart by their paths.
        let shared = |v| {
            spec.candidates
                .iter()
                .filter(|c| c.version == Some(v))
                .count()
                > 1
        };
        let version = match candidate.version {
            Some(v) if shared(v) => format!("Python {v} (`{}`)", candidate.python.display()),
            Some(v) => format!("Python {v}"),
            None => candidate.python.display().to_string(),
        };
        printer.out(&format!(
            "      {} {version}: {}{}",
            printer.paint(Style::Dim, "dry run:"),
            candidate.summary(),
            if n == 0 { " (chosen)" } else { "" }
        ));
    }
    for warning in &spec.warnings {
        printer.out(&format!(
            "      {} {warning}",
            printer.paint(Style::Yellow, "warning:")
        ));
    }
    if spec.differences.is_empty() {
        printer.out("      differences from the old venv: none besides the rebuild");
    } else {
        printer.out("      differences from the old venv:");
        for difference in &spec.differences {
            printer.out(&format!("        - {difference}"));
        }
    }
}
