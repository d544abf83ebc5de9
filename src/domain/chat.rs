//! Chat message builders that keep to the receivers' limits: Slack Block Kit (used by the slash
//! command and the webhook posts alike) and Microsoft Teams Adaptive Cards. A builder cuts what
//! would not fit ("and N more" with a link) instead of sending something the receiver rejects.

use serde_json::{Value, json};

/// Slack: blocks per message.
pub const MAX_BLOCKS: usize = 50;
/// Slack: characters of a header's plain text.
pub const MAX_HEADER: usize = 150;
/// Slack: characters of a section's text.
pub const MAX_SECTION: usize = 3000;
/// Slack: characters of one section field.
pub const MAX_FIELD: usize = 2000;
/// Slack: fields per section.
pub const MAX_FIELDS: usize = 10;
/// Slack: characters of a button's text.
pub const MAX_BUTTON_TEXT: usize = 75;
/// Slack: characters of a button's URL.
pub const MAX_URL: usize = 3000;
/// Slack: elements of an actions block.
pub const MAX_ACTIONS: usize = 25;
/// All the text of one message's blocks: Slack refuses much longer messages
/// (`msg_blocks_too_long`) below the sum of the per-block limits, so lists stop here.
pub const MAX_TOTAL_TEXT: usize = 12_000;
/// Blocks a list leaves free for what follows it (next steps, buttons, the "and N more" line).
const RESERVED_BLOCKS: usize = 4;

/// Escapes user text for Slack mrkdwn: `&`, `<` and `>` (nothing else is decoded).
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A mrkdwn link: `<url|label>`, the label escaped.
pub fn link(url: &str, label: &str) -> String {
    format!("<{url}|{}>", escape(label).replace('|', "¦"))
}

/// Cuts `text` to at most `max` characters, ending in "…" when cut, never inside an escaped
/// character (`&amp;`) or a link (`<…>`).
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut kept: String = text.chars().take(max.saturating_sub(1)).collect();
    if let Some(open) = kept.rfind('<')
        && kept[open..].find('>').is_none()
    {
        kept.truncate(open);
    }
    if let Some(amp) = kept.rfind('&')
        && kept[amp..].find(';').is_none()
    {
        kept.truncate(amp);
    }
    kept.push('…');
    kept
}

/// One line of a list, with an optional button `(text, url)` beside it.
#[derive(Clone, Debug)]
pub struct Line {
    /// mrkdwn, already escaped.
    pub text: String,
    /// A button that opens a page.
    pub button: Option<(String, String)>,
}

/// A Slack message under construction.
#[derive(Clone, Debug)]
pub struct SlackMessage {
    text: String,
    blocks: Vec<Value>,
    total: usize,
}

impl SlackMessage {
    /// A message whose notification text (the fallback) is `text` (plain, not mrkdwn).
    pub fn new(text: &str) -> Self {
        Self {
            text: cut(&escape(text), MAX_SECTION),
            blocks: Vec::new(),
            total: 0,
        }
    }

    /// Blocks so far.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether there are no blocks yet.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    fn push(&mut self, block: Value, chars: usize) {
        if self.blocks.len() < MAX_BLOCKS {
            self.blocks.push(block);
            self.total += chars;
        }
    }

    /// A header: plain text, cut to 150 characters.
    pub fn header(&mut self, text: &str) {
        let text = cut(text, MAX_HEADER);
        let chars = text.chars().count();
        self.push(
            json!({"type": "header", "text": {"type": "plain_text", "text": text}}),
            chars,
        );
    }

    /// A section of mrkdwn (escaped by the caller), cut to 3,000 characters.
    pub fn section(&mut self, mrkdwn: &str) {
        if mrkdwn.is_empty() {
            return;
        }
        let text = cut(mrkdwn, MAX_SECTION);
        let chars = text.chars().count();
        self.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}),
            chars,
        );
    }

    /// A section of labelled fields (plain values, escaped here), at most 10.
    pub fn fields(&mut self, fields: &[(&str, String)]) {
        let fields: Vec<Value> = fields
            .iter()
            .take(MAX_FIELDS)
            .map(|(name, value)| {
                let text = cut(&format!("*{name}*\n{}", escape(value)), MAX_FIELD);
                json!({"type": "mrkdwn", "text": text})
            })
            .collect();
        let chars = fields
            .iter()
            .map(|f| f["text"].as_str().map_or(0, |t| t.chars().count()))
            .sum();
        self.push(json!({"type": "section", "fields": fields}), chars);
    }

    /// A row of buttons that open pages, at most 25; a URL over 3,000 characters is left out.
    pub fn buttons(&mut self, buttons: &[(String, String)]) {
        let elements: Vec<Value> = buttons
            .iter()
            .filter(|(_, url)| url.len() <= MAX_URL)
            .take(MAX_ACTIONS)
            .map(|(text, url)| button(text, url))
            .collect();
        if !elements.is_empty() {
            self.push(json!({"type": "actions", "elements": elements}), 0);
        }
    }

    /// Lines, as many as fit: lines with a button one section each, the others packed into
    /// sections of at most 3,000 characters. What does not fit, plus `more` the caller left out
    /// already, is named in a last line "and N more" linking to `rest`.
    pub fn list(&mut self, lines: &[Line], more: usize, rest: &str) {
        let mut shown = 0;
        let mut pending = String::new();
        let room = |this: &Self, pending: &str, extra: usize| {
            this.blocks.len() + usize::from(!pending.is_empty()) + RESERVED_BLOCKS < MAX_BLOCKS
                && this.total + pending.chars().count() + extra <= MAX_TOTAL_TEXT
        };
        for line in lines {
            let text = cut(&line.text, MAX_SECTION);
            let chars = text.chars().count();
            if !room(self, &pending, chars + 1) {
                break;
            }
            match &line.button {
                Some((label, url)) if url.len() <= MAX_URL => {
                    if !pending.is_empty() {
                        let packed = std::mem::take(&mut pending);
                        self.section(&packed);
                    }
                    self.push(
                        json!({"type": "section", "text": {"type": "mrkdwn", "text": text},
                               "accessory": button(label, url)}),
                        chars,
                    );
                }
                _ => {
                    if pending.chars().count() + chars + 1 > MAX_SECTION {
                        let packed = std::mem::take(&mut pending);
                        self.section(&packed);
                    }
                    if !pending.is_empty() {
                        pending.push('\n');
                    }
                    pending.push_str(&text);
                }
            }
            shown += 1;
        }
        if !pending.is_empty() {
            self.section(&pending);
        }
        let left = lines.len() - shown + more;
        if left > 0 {
            self.section(&format!("and {left} more: {}", link(rest, "see them all")));
        }
    }

    /// The JSON Slack takes: `text` (the notification) and `blocks`; `ephemeral` for a slash
    /// command's answer only the caller sees.
    pub fn into_json(self, ephemeral: bool) -> Value {
        let mut body = json!({"text": self.text, "blocks": self.blocks});
        if ephemeral {
            body["response_type"] = json!("ephemeral");
        }
        body
    }
}

fn button(text: &str, url: &str) -> Value {
    json!({"type": "button", "text": {"type": "plain_text", "text": cut(text, MAX_BUTTON_TEXT)}, "url": url})
}

/// Teams: lines of one list.
pub const MAX_CARD_LINES: usize = 20;
/// Teams: characters of one text block.
pub const MAX_CARD_TEXT: usize = 2000;
/// Teams: bytes of a whole message (Teams refuses bigger posts).
pub const MAX_CARD_BYTES: usize = 28_000;

/// Text for Teams markdown: brackets, asterisks and underscores would turn into links and
/// emphasis.
pub fn markdown_text(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '[' => '(',
            ']' => ')',
            '*' | '_' => ' ',
            c => c,
        })
        .collect()
}

/// A Microsoft Teams Adaptive Card (1.4) under construction.
#[derive(Clone, Debug, Default)]
pub struct AdaptiveCard {
    body: Vec<Value>,
    actions: Vec<Value>,
}

impl AdaptiveCard {
    /// A bold title.
    pub fn title(&mut self, text: &str) {
        self.body.push(json!({"type": "TextBlock", "text": cut(text, 300), "weight": "Bolder", "size": "Medium", "wrap": true}));
    }

    /// A paragraph (Teams markdown).
    pub fn text(&mut self, text: &str) {
        self.body
            .push(json!({"type": "TextBlock", "text": cut(text, MAX_CARD_TEXT), "wrap": true}));
    }

    /// Labelled facts.
    pub fn facts(&mut self, facts: &[(&str, String)]) {
        let facts: Vec<Value> = facts
            .iter()
            .map(|(title, value)| json!({"title": title, "value": cut(value, MAX_CARD_TEXT)}))
            .collect();
        self.body.push(json!({"type": "FactSet", "facts": facts}));
    }

    /// A list of at most 20 lines under an optional heading, then "and N more".
    pub fn list(&mut self, heading: &str, lines: &[String], more: usize) {
        if !heading.is_empty() {
            self.body.push(json!({"type": "TextBlock", "text": heading, "weight": "Bolder", "wrap": true, "spacing": "Medium"}));
        }
        for line in lines.iter().take(MAX_CARD_LINES) {
            self.body.push(json!({"type": "TextBlock", "text": cut(&format!("- {line}"), 600), "wrap": true, "spacing": "None"}));
        }
        let left = lines.len().saturating_sub(MAX_CARD_LINES) + more;
        if left > 0 {
            self.body.push(json!({"type": "TextBlock", "text": format!("and {left} more"), "isSubtle": true, "wrap": true}));
        }
    }

    /// A button that opens a page.
    pub fn open_url(&mut self, title: &str, url: &str) {
        self.actions
            .push(json!({"type": "Action.OpenUrl", "title": title, "url": url}));
    }

    /// The message Teams' incoming webhooks (Workflows) take.
    pub fn into_message(self) -> Value {
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": self.body,
                    "actions": self.actions,
                }
            }]
        })
    }
}

/// What in a Slack message breaks Block Kit's limits (empty when nothing does).
#[cfg(test)]
pub(crate) fn slack_violations(body: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let chars = |v: &Value| v.as_str().map_or(0, |t| t.chars().count());
    let blocks = body["blocks"].as_array().cloned().unwrap_or_default();
    if blocks.len() > MAX_BLOCKS {
        problems.push(format!("{} blocks", blocks.len()));
    }
    let mut total = 0;
    for (i, block) in blocks.iter().enumerate() {
        match block["type"].as_str() {
            Some("header") => {
                if block["text"]["type"] != "plain_text"
                    || chars(&block["text"]["text"]) > MAX_HEADER
                {
                    problems.push(format!("block {i}: header"));
                }
                total += chars(&block["text"]["text"]);
            }
            Some("section") => {
                let text = chars(&block["text"]["text"]);
                if block.get("text").is_some() && !(1..=MAX_SECTION).contains(&text) {
                    problems.push(format!("block {i}: section of {text}"));
                }
                total += text;
                let fields = block["fields"].as_array().cloned().unwrap_or_default();
                if fields.len() > MAX_FIELDS || fields.iter().any(|f| chars(&f["text"]) > MAX_FIELD)
                {
                    problems.push(format!("block {i}: fields"));
                }
                total += fields.iter().map(|f| chars(&f["text"])).sum::<usize>();
                if let Some(button) = block.get("accessory")
                    && chars(&button["text"]["text"]) > MAX_BUTTON_TEXT
                {
                    problems.push(format!("block {i}: button"));
                }
            }
            Some("actions") => {
                let elements = block["elements"].as_array().cloned().unwrap_or_default();
                if elements.len() > MAX_ACTIONS
                    || elements.iter().any(|e| {
                        chars(&e["text"]["text"]) > MAX_BUTTON_TEXT || chars(&e["url"]) > MAX_URL
                    })
                {
                    problems.push(format!("block {i}: actions"));
                }
            }
            other => problems.push(format!("block {i}: unexpected {other:?}")),
        }
    }
    if total > MAX_TOTAL_TEXT {
        problems.push(format!("{total} characters of text"));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrkdwn_is_escaped_and_cuts_keep_entities_whole() {
        assert_eq!(escape(">= 90 & <b>"), "&gt;= 90 &amp; &lt;b&gt;");
        let cut_text = cut(&escape(&"a&".repeat(10)), 8);
        assert!(cut_text.ends_with('…') && !cut_text.contains("&a…") && !cut_text.contains("&am…"));
        assert_eq!(cut("short", 10), "short");
        assert_eq!(
            cut(&"x".repeat(200), MAX_HEADER).chars().count(),
            MAX_HEADER
        );
    }

    #[test]
    fn a_long_list_stays_within_the_limits_and_says_how_many_are_left() {
        let mut message = SlackMessage::new("title");
        message.header(&"h".repeat(400));
        let lines: Vec<Line> = (0..500)
            .map(|i| Line {
                text: format!("{i} {}", "n".repeat(200)),
                button: (i % 2 == 0).then(|| ("Open".to_string(), format!("https://x/{i}"))),
            })
            .collect();
        message.list(&lines, 0, "https://x/");
        message.section("next");
        message.buttons(&[("b".into(), "https://x/b".into())]);
        let body = message.into_json(true);
        let blocks = body["blocks"].as_array().unwrap();
        assert!(blocks.len() <= MAX_BLOCKS);
        let last_list = blocks[blocks.len() - 3]["text"]["text"].as_str().unwrap();
        assert!(
            last_list.starts_with("and ") && last_list.contains("more"),
            "{last_list}"
        );
    }
}
