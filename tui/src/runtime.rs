//! The runtime: owns the terminal and a tokio runtime, starts the background fetch and the
//! signal watcher, and runs the UI loop on the calling thread. The loop never awaits the
//! network: it reads the fetcher's `watch` channel and the results of effects from an mpsc
//! channel without blocking, polls keys with a short timeout, and redraws when something
//! changed. The terminal is restored on return, on panic (ratatui's hook, installed by
//! `try_init`) and on SIGTERM/SIGINT/SIGHUP (turned into [`Event::Terminate`]).

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event as term;
use ratatui::DefaultTerminal;

use crate::app::{handle_event, App, AppConfig};
use crate::event::{Effect, Event};
use crate::fetcher::Fetcher;
use crate::options::Options;
use crate::render::render;
use crate::source::{DataSource, HttpSource, SourceError};

/// Longest wait for input between checks of the channels (caps the redraw rate too).
const POLL: Duration = Duration::from_millis(50);

/// Why the dashboard stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// Terminal or runtime I/O failed.
    #[error("terminal: {0}")]
    Io(#[from] std::io::Error),
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Source(#[from] SourceError),
}

/// Runs the dashboard with these options until the user quits or a signal arrives.
/// Call it from a thread that is not inside a tokio runtime's async context.
pub fn run(options: Options) -> Result<(), TuiError> {
    let dir = std::env::current_dir().unwrap_or_default();
    let env = |name: &str| std::env::var(name).ok();
    let admin_key = options.resolve_admin_key(&env, &dir);
    let timeout = Duration::from_millis(options.refresh.max(3000));
    let tls = options.client_tls(&env, &dir);
    let source = HttpSource::with_tls(&options.server, &options.control, admin_key, timeout, &tls)?;
    let config = AppConfig {
        readonly: options.readonly,
        refresh_ms: options.refresh,
        tls_label: options.tls_label(),
        admin_url: options.server,
        control_url: options.control,
    };
    run_with(Arc::new(source), config)
}

/// Runs the dashboard over any [`DataSource`].
pub fn run_with(source: Arc<dyn DataSource>, config: AppConfig) -> Result<(), TuiError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (events_tx, events_rx) = mpsc::channel();
    watch_signals(runtime.handle(), events_tx.clone())?;
    let period = Duration::from_millis(config.refresh_ms);
    let fetcher = Fetcher::spawn(runtime.handle(), Arc::clone(&source), period);
    let mut terminal = ratatui::try_init()?;
    crate::tty::exit_on_hangup()?;
    // Pasted text arrives whole (an `Event::Paste`), not as keys that could run commands.
    crossterm::execute!(std::io::stdout(), term::EnableBracketedPaste)?;
    let executor = Executor {
        runtime: runtime.handle().clone(),
        source,
        events: events_tx,
        fetcher: &fetcher,
    };
    let result = ui_loop(&mut terminal, App::new(config), &executor, &events_rx);
    let _ = crossterm::execute!(std::io::stdout(), term::DisableBracketedPaste);
    let restored = ratatui::try_restore();
    drop(fetcher);
    runtime.shutdown_background();
    result?;
    restored?;
    Ok(())
}

fn watch_signals(runtime: &tokio::runtime::Handle, tx: mpsc::Sender<Event>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let _guard = runtime.enter();
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    runtime.spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = hup.recv() => {}
        }
        // The receiver is gone only when the UI loop already ended.
        let _ = tx.send(Event::Terminate);
    });
    Ok(())
}

/// Carries out effects on the tokio runtime and reports results as events.
struct Executor<'a> {
    runtime: tokio::runtime::Handle,
    source: Arc<dyn DataSource>,
    events: mpsc::Sender<Event>,
    fetcher: &'a Fetcher,
}

impl Executor<'_> {
    fn run(&self, effect: Effect) {
        let source = Arc::clone(&self.source);
        let tx = self.events.clone();
        // A failed send means the UI loop has ended; the result is no longer wanted.
        match effect {
            Effect::Refresh => self.fetcher.refresh(),
            Effect::Quit => {}
            Effect::Kill(id) => drop(self.runtime.spawn(async move {
                let result = source.kill_connection(&id).await.map_err(|e| e.to_string());
                let _ = tx.send(Event::Killed { id, result });
            })),
            Effect::DeleteRoute(id) => drop(self.runtime.spawn(async move {
                let result = source.delete_route(&id).await.map_err(|e| e.to_string());
                let _ = tx.send(Event::Deleted { id, result });
            })),
            Effect::SaveRoute { id, body } => drop(self.runtime.spawn(async move {
                let result = source
                    .put_route(&id, &body)
                    .await
                    .map_err(|e| e.to_string());
                let _ = tx.send(Event::Saved { id, result });
            })),
            Effect::RunTest(request) => drop(self.runtime.spawn(async move {
                let outcome = source.run_test(&request).await;
                let _ = tx.send(Event::Tested(outcome));
            })),
        }
    }
}

fn ui_loop(
    terminal: &mut DefaultTerminal,
    mut app: App,
    executor: &Executor<'_>,
    events: &mpsc::Receiver<Event>,
) -> Result<(), TuiError> {
    let mut latest = executor.fetcher.latest.clone();
    let mut dirty = true;
    let apply = |app: &mut App, event: Event| {
        for effect in handle_event(app, event) {
            executor.run(effect);
        }
    };
    while !app.quit {
        if latest.has_changed().unwrap_or(false) {
            let update = latest.borrow_and_update().clone();
            match update {
                Some(Ok(snapshot)) => apply(&mut app, Event::Data(snapshot)),
                Some(Err(error)) => apply(&mut app, Event::FetchFailed(error)),
                None => {}
            }
            dirty = true;
        }
        while let Ok(event) = events.try_recv() {
            apply(&mut app, event);
            dirty = true;
        }
        if app.quit {
            break;
        }
        if dirty {
            terminal.draw(|frame| render(frame, &app))?;
            dirty = false;
        }
        if term::poll(POLL)? {
            match term::read()? {
                term::Event::Key(key) => apply(&mut app, Event::Key(key)),
                term::Event::Paste(text) => apply(&mut app, Event::Paste(text)),
                term::Event::Resize(..) => {}
                _ => continue,
            }
            dirty = true;
        }
    }
    Ok(())
}
