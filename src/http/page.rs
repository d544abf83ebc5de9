//! `GET /`: a read-only status page, rendered on the server (no front-end build), with a small
//! SVG chart of each SLA's last periods against its target.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};

use crate::auth::policy::Action;
use crate::auth::{PageViewer, Principal};
use crate::domain::breach::Breach;
use crate::domain::evaluation::{Evaluation, OpenItem};
use crate::domain::message::escape;
use crate::error::AppError;
use crate::service::{self, PageRequest, reports::StatusLine};
use crate::startup::AppState;

/// What the page shows.
struct Board {
    lines: Vec<(StatusLine, Vec<Evaluation>, Vec<OpenItem>)>,
    /// `None` when the viewer may not read breaches (a share link without `breaches:read`).
    breaches: Option<Vec<Breach>>,
    now: DateTime<Utc>,
}

/// The board as `actor` may see it: agreements and overdue leads for anyone who may read them,
/// breaches (with their notes) only for those who may read breaches.
fn load(
    conn: &mut crate::store::DbConn,
    actor: &Principal,
    now: DateTime<Utc>,
) -> Result<Board, AppError> {
    let mut lines = Vec::new();
    for line in service::reports::board(conn, actor, None, now)? {
        let page = PageRequest {
            limit: 1000,
            after: None,
        };
        let mut history =
            service::evaluation::history(conn, actor, &line.sla, None, None, &page)?.items;
        history.retain(|e| e.period_start <= now);
        let keep = history.len().saturating_sub(12);
        history.drain(..keep);
        // An SLA that cannot be evaluated shows its error, not a failed page.
        let overdue = if line.overdue.is_some() && line.error.is_none() {
            service::evaluation::violations(conn, actor, &line.sla, now)?
                .into_iter()
                .filter(|i| i.overdue)
                .take(5)
                .collect()
        } else {
            Vec::new()
        };
        lines.push((line, history, overdue));
    }
    let page = PageRequest {
        limit: 50,
        after: None,
    };
    let breaches = if actor.allows(Action::ReadBreaches) {
        Some(
            service::breaches::list(conn, actor, Default::default(), &page)?
                .items
                .into_iter()
                .filter(|b| b.status.is_live())
                .collect(),
        )
    } else {
        None
    };
    Ok(Board {
        lines,
        breaches,
        now,
    })
}

fn colour(status: &str) -> &'static str {
    match status {
        "met" | "on_track" => "#1a7f37",
        "at_risk" => "#bf8700",
        "breached" => "#cf222e",
        _ => "#6e7781",
    }
}

/// Bars of the last periods' values with the target as a dashed line.
fn chart(history: &[Evaluation], target: f64) -> String {
    let (width, height, pad) = (240.0, 64.0, 4.0);
    let top = history
        .iter()
        .filter_map(|e| e.value)
        .fold(target, f64::max)
        .max(f64::MIN_POSITIVE)
        * 1.15;
    let y = |v: f64| height - pad - (v / top) * (height - 2.0 * pad);
    let n = history.len().max(1) as f64;
    let slot = (width - 2.0 * pad) / n;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"last periods against the target\">"
    );
    for (i, e) in history.iter().enumerate() {
        let value = e.value.unwrap_or(0.0);
        let x = pad + i as f64 * slot + slot * 0.15;
        let h = (height - pad - y(value)).max(1.0);
        svg.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" rx=\"2\" fill=\"{}\"><title>{}: {}</title></rect>",
            y(value),
            slot * 0.7,
            colour(e.status.as_str()),
            e.period_start.format("%Y-%m-%d"),
            e.value.map_or("no data".into(), |v| format!("{v:.2}")),
        ));
    }
    svg.push_str(&format!(
        "<line x1=\"{pad}\" x2=\"{:.1}\" y1=\"{t:.1}\" y2=\"{t:.1}\" stroke=\"#24292f\" stroke-dasharray=\"4 3\" stroke-width=\"1.2\"><title>target {target}</title></line></svg>",
        width - pad,
        t = y(target)
    ));
    svg
}

fn render(board: &Board) -> String {
    let mut rows = String::new();
    for (line, history, overdue) in &board.lines {
        let e = line.evaluation.as_ref();
        let status = line.status_or("not evaluated yet");
        let value = e.and_then(|e| e.value).map_or("–".to_string(), |v| {
            if v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            }
        });
        let period = line.period.clone().unwrap_or_default();
        let stale = match &line.error {
            Some(reason) => format!("<br><small>{}</small>", escape(reason)),
            None if e.is_some_and(|e| e.data_stale) => {
                "<span class=\"badge stale\">data stale</span>".to_string()
            }
            None => String::new(),
        };
        let late: String = overdue
            .iter()
            .map(|i| {
                format!(
                    "<li>{} — {} h overdue</li>",
                    escape(&i.subject_id),
                    i.overdue_secs / 3600
                )
            })
            .collect();
        let late = if late.is_empty() {
            String::new()
        } else {
            format!("<ul class=\"overdue\">{late}</ul>")
        };
        rows.push_str(&format!(
            "<tr class=\"sla\" data-sla=\"{key}\"><td><strong>{name}</strong><br><small>{key} · {provider} → {consumer}</small></td>\
             <td>{period}</td><td class=\"num\">{value} <small>{op} {target}</small>{overdue_count}</td>\
             <td><span class=\"badge\" style=\"background:{c}\">{status}</span>{stale}</td><td>{chart}{late}</td></tr>",
            key = escape(&line.sla),
            name = escape(&line.name),
            provider = escape(&line.provider),
            consumer = escape(&line.consumer),
            op = escape(line.op),
            target = line.target,
            overdue_count = line.overdue.map_or(String::new(), |n| format!("<br><small>{n} overdue</small>")),
            c = colour(status),
            chart = chart(history, line.target),
        ));
    }
    let shown = board.breaches.as_deref().unwrap_or_default();
    let breaches: String = shown
        .iter()
        .map(|b| {
            format!(
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{} <small>{} {}</small></td><td><span class=\"badge\" style=\"background:#cf222e\">{}</span></td><td>{}</td></tr>",
                escape(&b.sla),
                b.period_start.format("%Y-%m-%d"),
                b.value.map_or("–".into(), |v| if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.2}") }),
                b.op.as_str(),
                b.target,
                b.status.as_str(),
                escape(b.note.as_deref().or(b.dispute_reason.as_deref()).unwrap_or("")),
            )
        })
        .collect();
    let breaches = if board.breaches.is_none() {
        "<p>Breaches are not shown to this link (its token lacks the breaches:read scope).</p>"
            .to_string()
    } else if breaches.is_empty() {
        "<p>No open breaches.</p>".to_string()
    } else {
        format!(
            "<table><thead><tr><th>SLA</th><th>Period</th><th>Value</th><th>Status</th><th>Note</th></tr></thead><tbody>{breaches}</tbody></table>"
        )
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>accord — where the agreements stand</title><style>{STYLE}</style></head><body>\
         <header><h1>accord</h1><p>Where every agreement stands · {now}</p></header>\
         <main><h2>Agreements</h2><table id=\"slas\"><thead><tr><th>SLA</th><th>Current period</th><th>Value</th><th>Status</th><th>Last periods against the target</th></tr></thead>\
         <tbody>{rows}</tbody></table><h2>Open breaches</h2>{breaches}</main>\
         <footer>Read-only. The API: <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a></footer></body></html>",
        now = board.now.format("%Y-%m-%d %H:%M UTC"),
    )
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;background:#f6f8fa;color:#24292f}\
header{background:#24292f;color:#fff;padding:16px 32px}header h1{margin:0;font-size:22px}header p{margin:4px 0 0;opacity:.8}\
main{padding:16px 32px;max-width:1200px}h2{font-size:18px;margin:24px 0 8px}table{border-collapse:collapse;width:100%;background:#fff;\
border:1px solid #d0d7de;border-radius:6px}th,td{padding:10px 12px;border-bottom:1px solid #d8dee4;text-align:left;vertical-align:top}\
th{background:#f6f8fa;font-size:13px;color:#57606a}td.num{font-variant-numeric:tabular-nums;font-size:18px}small{color:#57606a;font-size:12px}\
.badge{display:inline-block;color:#fff;border-radius:12px;padding:2px 10px;font-size:12px;font-weight:600}.badge.stale{background:#8250df;margin-left:6px}\
ul.overdue{margin:6px 0 0;padding-left:18px;font-size:12px;color:#cf222e}footer{padding:16px 32px;color:#57606a;font-size:12px}";

/// The status page, for a signed-in person or a share link.
pub async fn status_page(
    state: web::Data<AppState>,
    viewer: PageViewer,
) -> Result<HttpResponse, AppError> {
    let (now, viewer) = (state.clock.now(), viewer.0);
    let board = state.db.run(move |conn| load(conn, &viewer, now)).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(render(&board)))
}
