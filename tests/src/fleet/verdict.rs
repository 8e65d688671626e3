//! A scenario's verdict: checks are recorded (and their figures printed) as the scenario goes,
//! so that one failing check does not hide the measurements of the others; [`Verdict::finish`]
//! fails the test listing every failed check.

/// The checks of one scenario.
#[derive(Debug)]
pub struct Verdict {
    label: String,
    problems: Vec<String>,
}

impl Verdict {
    /// An empty verdict for scenario `label`.
    pub fn new(label: &str) -> Verdict {
        Verdict {
            label: label.to_string(),
            problems: Vec::new(),
        }
    }

    /// Records one check: prints its summary when it passed, its error when it failed.
    pub fn check(&mut self, what: &str, result: anyhow::Result<String>) {
        match result {
            Ok(summary) => eprintln!("fleet[{}]: ok: {what}: {summary}", self.label),
            Err(e) => {
                eprintln!("fleet[{}]: FAILED: {what}: {e:#}", self.label);
                self.problems.push(format!("{what}: {e:#}"));
            }
        }
    }

    /// Records a check that yields a value; `None` (and a recorded failure) on error.
    pub fn value<T>(&mut self, what: &str, result: anyhow::Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.check(what, Err(e));
                None
            }
        }
    }

    /// Fails the test if any check failed.
    pub fn finish(self) {
        assert!(
            self.problems.is_empty(),
            "fleet[{}]: {} check(s) failed:\n- {}",
            self.label,
            self.problems.len(),
            self.problems.join("\n- ")
        );
        eprintln!("fleet[{}]: every check passed", self.label);
    }
}
