//! `accord import`: bulk loads from NDJSON or CSV without HTTP, in batches that each commit, so a
//! crash loses at most one batch and a re-run skips what is already stored.

use std::io::{BufReader, IsTerminal, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::auth::Principal;
use crate::domain::event::{self, Format, Position, RawEvent};
use crate::service::events::{BatchChecker, store_chunks, team_ids};
use crate::store::Db;

/// What an import came to.
#[derive(Clone, Debug, Default)]
pub struct ImportReport {
    /// Items read.
    pub read: usize,
    /// Events stored now.
    pub accepted: usize,
    /// Events already stored.
    pub duplicates: usize,
    /// Items skipped as invalid.
    pub invalid: usize,
    /// Wall time.
    pub elapsed: Duration,
}

/// Counts bytes as they are read, for the progress line.
struct Counting<R> {
    inner: R,
    bytes: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Most invalid items printed; the summary counts them all.
const MAX_PRINTED_PROBLEMS: usize = 20;

/// Events handed from the reading thread to the writer at a time: what the import holds in
/// memory is two of these, whatever the file's size or the transaction's.
const CHUNK: usize = 5_000;

/// Imports `path` (`-` for stdin) into the database, `batch` events per transaction. Reading and
/// checking run on their own thread, a chunk ahead of the writer, so parsing overlaps storing and
/// the file is streamed.
pub fn run(
    db: &Db,
    path: &str,
    format: Format,
    batch: usize,
    now: DateTime<Utc>,
) -> anyhow::Result<ImportReport> {
    let started = Instant::now();
    let mut conn = db.get().map_err(|e| anyhow::anyhow!("{e}"))?;
    let teams = team_ids(&mut conn).map_err(|e| anyhow::anyhow!("{e}"))?;
    let bytes = Arc::new(AtomicU64::new(0));
    let (source, total): (Box<dyn Read + Send>, Option<u64>) = if path == "-" {
        (Box::new(std::io::stdin()), None)
    } else {
        let file = std::fs::File::open(path).with_context(|| format!("cannot open {path}"))?;
        let size = file.metadata().ok().map(|m| m.len());
        (Box::new(file), size)
    };
    let reader = BufReader::with_capacity(
        1 << 20,
        Counting {
            inner: source,
            bytes: bytes.clone(),
        },
    );
    let mut progress = std::io::stderr().is_terminal().then(|| Progress {
        bytes,
        total,
        last: Instant::now(),
    });

    // One chunk may wait while the writer stores the previous one: memory stays at two chunks.
    let chunk = CHUNK.min(batch);
    let (batches, arrivals) = std::sync::mpsc::sync_channel::<Vec<event::NewEvent>>(1);
    let reading = std::thread::spawn(move || -> Result<(usize, usize), String> {
        let mut checker = BatchChecker::new(&teams, now);
        let mut invalid = 0;
        let mut take = |position: Position, item: Result<RawEvent, event::ItemProblem>| -> bool {
            checker.take(position, item);
            for problem in checker.problems.drain(..) {
                if invalid < MAX_PRINTED_PROBLEMS {
                    eprintln!(
                        "accord: skipped {}: {}: {}",
                        problem.position, problem.field, problem.reason
                    );
                }
                invalid += 1;
            }
            checker.events.len() < chunk
                || batches.send(std::mem::take(&mut checker.events)).is_ok()
        };
        let read = match format {
            Format::Csv => event::read_csv(reader, &mut take),
            Format::Ndjson => event::read_ndjson(reader, &mut take),
            Format::Json => {
                let mut body = Vec::new();
                let mut reader = reader;
                reader
                    .read_to_end(&mut body)
                    .map_err(|e| format!("cannot read the input: {e}"))?;
                event::read_json(&body, &mut take)
            }
        };
        read.map_err(|e| e.0)?;
        if !checker.events.is_empty() {
            let _ = batches.send(std::mem::take(&mut checker.events));
        }
        Ok((checker.items, invalid))
    });

    let mut report = ImportReport::default();
    let stored = store_chunks(
        &mut conn,
        arrivals.into_iter(),
        batch,
        &Principal::System.actor(),
        now,
        |total| {
            if let Some(progress) = progress.as_mut() {
                progress.show(total.accepted + total.duplicates, started);
            }
        },
    );
    // On a failure the receiver is dropped, which stops the reader at its next chunk.
    let failure = match stored {
        Ok(total) => {
            report.accepted = total.accepted;
            report.duplicates = total.duplicates;
            None
        }
        Err(error) => Some(error),
    };
    let read = reading
        .join()
        .map_err(|_| anyhow::anyhow!("the reading thread panicked"))?;
    if let Some(failure) = failure {
        return Err(anyhow::anyhow!("{failure}"))
            .context("storing a batch failed; re-run the import to continue");
    }
    let (items, invalid) = read.map_err(|e| anyhow::anyhow!(e))?;
    report.read = items;
    report.invalid = invalid;
    report.elapsed = started.elapsed();
    if progress.is_some() {
        eprint!("\r\x1b[2K");
    }
    Ok(report)
}

struct Progress {
    bytes: Arc<AtomicU64>,
    total: Option<u64>,
    last: Instant,
}

impl Progress {
    fn show(&mut self, items: usize, started: Instant) {
        if self.last.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last = Instant::now();
        let rate = items as f64 / started.elapsed().as_secs_f64().max(0.001);
        let line = match self.total.filter(|t| *t > 0) {
            Some(total) => {
                let done = self.bytes.load(Ordering::Relaxed).min(total) as f64 / total as f64;
                let filled = (done * 30.0) as usize;
                format!(
                    "[{}{}] {:>3.0}%  {items} events  {rate:.0}/s",
                    "#".repeat(filled),
                    " ".repeat(30 - filled),
                    done * 100.0
                )
            }
            None => format!("{items} events  {rate:.0}/s"),
        };
        eprint!("\r\x1b[2K{line}");
        let _ = std::io::stderr().flush();
    }
}

/// The process's peak resident memory in MiB, where the system tells it (Linux).
pub fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The format of `path`: by `--format`, else by extension (`.csv`), else NDJSON.
pub fn detect_format(path: &str, given: Option<Format>) -> Format {
    given.unwrap_or(if path.to_ascii_lowercase().ends_with(".csv") {
        Format::Csv
    } else {
        Format::Ndjson
    })
}
