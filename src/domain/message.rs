//! The words of every message accord sends: subject, text and HTML for email, text and blocks
//! for a Slack-compatible webhook. Rendered once, when the message is enqueued.

use serde_json::json;

/// What a message is about.
#[derive(Clone, Debug)]
pub struct MessageFacts {
    /// `breach.opened`, `breach.withdrawn`, `breach.reminder`, `sla.at_risk`, `sla.recovered`,
    /// `sla.data_stale`, `sla.data_resumed`, `sla.backfilled`, `sla.evaluation_failed`,
    /// `sla.proposed` or `sla.activated`.
    pub kind: &'static str,
    /// The SLA's key.
    pub sla_key: String,
    /// Its name.
    pub sla_name: String,
    /// Provider team slug.
    pub provider: String,
    /// Consumer team slug.
    pub consumer: String,
    /// The period, as people name it.
    pub period: String,
    /// The version concerned.
    pub version: i32,
    /// The measured value, as text.
    pub value: String,
    /// The objective, as text (`>= 400`).
    pub objective: String,
    /// Link to the SLA in the API.
    pub link: String,
    /// Extra line (a dispute reason, who acknowledged), if any.
    pub extra: Option<String>,
}

/// A rendered message.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    /// Email subject (also the chat headline).
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

fn headline(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "breach.opened" => (
            "BREACHED",
            "The objective was missed. The provider's head should acknowledge the breach with a note on what happens next (POST …/breaches/{id}/acknowledge), or dispute it with a reason.",
        ),
        "breach.reminder" => (
            "STILL OPEN",
            "This breach has not been acknowledged yet. A head of either team should acknowledge it with a note, or the provider's head dispute it.",
        ),
        "breach.withdrawn" => (
            "WITHDRAWN",
            "Late activity restated the period: the objective is met after all, and the breach is withdrawn. Nothing to do.",
        ),
        "breach.disputed" => (
            "DISPUTED",
            "The provider's head disputes this breach; both teams see the reason. Settle it between the heads, then resolve the breach (POST …/breaches/{id}/resolve).",
        ),
        "sla.at_risk" => (
            "AT RISK",
            "At the current pace the period will miss its objective. There is still time: look at the overdue items (GET …/violations) and the activity so far.",
        ),
        "sla.recovered" => ("RECOVERED", "The SLA is back on track. Nothing to do."),
        "sla.data_stale" => (
            "DATA STALE",
            "No activity of the kinds this SLA reads has arrived for a while. Check the sync from the CRM or marketing system: silence is not success.",
        ),
        "sla.data_resumed" => (
            "DATA RESUMED",
            "Activity of the kinds this SLA reads is arriving again. Periods the silence covered are restated as late events come in. Nothing to do.",
        ),
        "sla.backfilled" => (
            "HISTORY EVALUATED",
            "Periods that ended before this version was signed were evaluated once, as history. Their breaches are recorded as historical: listed with the SLA's breaches, never reminded. Nothing is due on them.",
        ),
        "sla.evaluation_failed" => (
            "EVALUATION FAILED",
            "accord cannot evaluate this SLA; the others go on. Its status reads error with the reason until an evaluation succeeds again. Fix the cause (the reason names it) or revise the SLA.",
        ),
        "sla.proposed" => (
            "PROPOSED",
            "An agreement awaits your signature. Review it and approve or reject it (POST …/approve or …/reject with a reason).",
        ),
        "sla.activated" => (
            "ACTIVE",
            "Both heads have signed. The agreement is in force and will be evaluated on schedule.",
        ),
        _ => ("NOTICE", ""),
    }
}

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Renders the email of `facts`.
pub fn render(facts: &MessageFacts) -> Rendered {
    let (label, next) = headline(facts.kind);
    let subject = format!(
        "[accord] {label}: {} ({} → {}), {}",
        facts.sla_name, facts.provider, facts.consumer, facts.period
    );
    let extra = facts
        .extra
        .as_deref()
        .map(|e| format!("\n{e}\n"))
        .unwrap_or_default();
    let text = format!(
        "{label}: {name} ({key}), {provider} → {consumer}\n\n\
         Period:  {period}\n\
         Target:  {objective}\n\
         Actual:  {value}\n\
         Version: {version}\n{extra}\n\
         What to do next: {next}\n\n\
         The SLA: {link}\n",
        name = facts.sla_name,
        key = facts.sla_key,
        provider = facts.provider,
        consumer = facts.consumer,
        period = facts.period,
        objective = facts.objective,
        value = facts.value,
        version = facts.version,
        link = facts.link,
    );
    let row = |k: &str, v: &str| {
        format!(
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
            escape(k),
            escape(v)
        )
    };
    let html = format!(
        "<!doctype html><html><body style=\"font-family: sans-serif\">\
         <h2>{label}: {name}</h2><p>{provider} → {consumer}</p>\
         <table>{period}{target}{actual}{version}</table>{extra}\
         <p><strong>What to do next:</strong> {next}</p>\
         <p><a href=\"{link}\">The SLA in accord</a></p></body></html>",
        name = escape(&facts.sla_name),
        provider = escape(&facts.provider),
        consumer = escape(&facts.consumer),
        period = row("Period", &facts.period),
        target = row("Target", &facts.objective),
        actual = row("Actual", &facts.value),
        version = row("Version", &facts.version.to_string()),
        extra = facts
            .extra
            .as_deref()
            .map(|e| format!("<p>{}</p>", escape(e)))
            .unwrap_or_default(),
        next = escape(next),
        link = escape(&facts.link),
    );
    Rendered {
        subject,
        text,
        html,
    }
}

/// The Slack-compatible webhook body: `text` as the fallback, `blocks` for the layout.
pub fn chat_payload(facts: &MessageFacts) -> serde_json::Value {
    let rendered = render(facts);
    let (_, next) = headline(facts.kind);
    json!({
        "text": rendered.subject,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": rendered.subject.trim_start_matches("[accord] ")}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": format!("*Period*\n{}", facts.period)},
                {"type": "mrkdwn", "text": format!("*Target*\n{}", facts.objective)},
                {"type": "mrkdwn", "text": format!("*Actual*\n{}", facts.value)},
                {"type": "mrkdwn", "text": format!("*Version*\n{}", facts.version)},
            ]},
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("{next}\n<{}|Open the SLA>", facts.link)}},
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> MessageFacts {
        MessageFacts {
            kind: "breach.opened",
            sla_key: "mql-volume".into(),
            sla_name: "MQL volume".into(),
            provider: "marketing".into(),
            consumer: "sales".into(),
            period: "2026-10".into(),
            version: 2,
            value: "380".into(),
            objective: ">= 400".into(),
            link: "http://127.0.0.1:8080/api/v1/slas/mql-volume".into(),
            extra: Some("<script>".into()),
        }
    }

    #[test]
    fn the_subject_names_status_sla_teams_and_period() {
        let rendered = render(&facts());
        assert_eq!(
            rendered.subject,
            "[accord] BREACHED: MQL volume (marketing → sales), 2026-10"
        );
        assert!(
            rendered.text.contains("Target:  >= 400")
                && rendered.text.contains("Actual:  380")
                && rendered.text.contains("Version: 2")
        );
        assert!(rendered.html.contains("&lt;script&gt;") && !rendered.html.contains("<script>"));
        assert_eq!(chat_payload(&facts())["text"], rendered.subject);
    }
}
