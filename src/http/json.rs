//! The JSON body extractor: size limit, media type, and errors that name the field at fault.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpRequest, dev::Payload};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::domain::validate;
use crate::error::AppError;

/// Largest JSON body accepted by default.
pub const DEFAULT_JSON_LIMIT: usize = 1024 * 1024;

/// A JSON request body of type `T`.
///
/// Unlike `web::Json`, a body that is valid JSON but of the wrong shape (wrong type, unknown or
/// missing field) is a 422 whose `errors` name the field by its path; broken JSON is a 400.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T> ApiJson<T> {
    /// The parsed body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if let Err(refused) = crate::auth::refuse_json_from_token(req) {
            return Box::pin(std::future::ready(Err(refused)));
        }
        let body = json_body(req, payload);
        Box::pin(async move {
            let (media_type, body) = body.await?;
            check_json_media_type(media_type.as_deref())?;
            Ok(Self(parse(&body)?))
        })
    }
}

/// A JSON body that may be left out (an empty body or `null` is `None`).
#[derive(Debug)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if let Err(refused) = crate::auth::refuse_json_from_token(req) {
            return Box::pin(std::future::ready(Err(refused)));
        }
        let body = json_body(req, payload);
        Box::pin(async move {
            let (media_type, body) = body.await?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Self(None));
            }
            check_json_media_type(media_type.as_deref())?;
            // `null` reads as "left out" too.
            Ok(Self(parse::<Option<T>>(&body)?))
        })
    }
}

/// The declared media type and the whole body (at most [`DEFAULT_JSON_LIMIT`] bytes).
fn json_body(
    req: &HttpRequest,
    payload: &mut Payload,
) -> impl Future<Output = Result<(Option<String>, BytesMut), AppError>> + 'static {
    let media_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = read_body(req, payload, DEFAULT_JSON_LIMIT);
    async move { Ok((media_type, body.await?)) }
}

fn check_json_media_type(media_type: Option<&str>) -> Result<(), AppError> {
    let essence = media_type.map(|m| {
        m.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    });
    match essence.as_deref() {
        None | Some("application/json") => Ok(()),
        Some(other) if other.starts_with("application/") && other.ends_with("+json") => Ok(()),
        Some(other) => Err(AppError::UnsupportedMediaType(format!(
            "expected Content-Type: application/json, got {other}"
        ))),
    }
}

/// Reads a whole body of at most `limit` bytes; a larger one is refused with 413 before it is
/// read whole (at once when `Content-Length` says so).
pub fn read_body(
    req: &HttpRequest,
    payload: &mut Payload,
    limit: usize,
) -> impl Future<Output = Result<BytesMut, AppError>> + 'static {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let mut payload = payload.take();
    let too_large = move || {
        AppError::PayloadTooLarge(format!(
            "the body is larger than the limit of {limit} bytes"
        ))
    };
    async move {
        if declared.is_some_and(|length| length > limit) {
            return Err(too_large());
        }
        let mut body = BytesMut::with_capacity(declared.unwrap_or(0).min(limit));
        while let Some(chunk) = payload.next().await {
            let chunk =
                chunk.map_err(|e| AppError::BadRequest(format!("could not read the body: {e}")))?;
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Parses JSON into `T`, naming the field at fault in the error.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(AppError::BadRequest(
            "the body is empty; expected a JSON object".into(),
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(shape_error)?;
    deserializer
        .end()
        .map_err(|e| AppError::BadRequest(format!("malformed JSON: {e}")))?;
    // The parser refuses a raw NUL byte in a string, so only the escape can put one in; the
    // body is read a second time, as a tree, only when it holds that escape.
    if bytes.windows(6).any(|w| w == br"\u0000") {
        // A body that reads as `T` may still not read as a tree (a number out of range in a
        // field `T` ignores): it is refused rather than let a NUL through unchecked.
        let tree = serde_json::from_slice::<serde_json::Value>(bytes)
            .map_err(|e| AppError::BadRequest(format!("malformed JSON: {e}")))?;
        if let Some(path) = validate::nul_in_json(&tree) {
            let field = if path.is_empty() { "body".into() } else { path };
            return Err(AppError::invalid(field, validate::NUL_REASON));
        }
    }
    Ok(value)
}

fn shape_error(error: serde_path_to_error::Error<serde_json::Error>) -> AppError {
    use serde_json::error::Category;
    let path = error.path().to_string();
    let inner = error.into_inner();
    if matches!(
        inner.classify(),
        Category::Syntax | Category::Eof | Category::Io
    ) {
        return AppError::BadRequest(format!("malformed JSON: {inner}"));
    }
    let message = inner.to_string();
    // serde_json ends its messages with the position; the field path says more.
    let message = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(m, _)| m)
        .to_string();
    let prefix = if path == "." {
        String::new()
    } else {
        format!("{path}.")
    };
    let field = match message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
    {
        Some((missing, _)) => format!("{prefix}{missing}"),
        None if path == "." => "body".into(),
        None => path,
    };
    let message = if message.starts_with("missing field") {
        "is required".into()
    } else {
        message
    };
    AppError::invalid(field, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only the parse result matters")]
    struct Outer {
        name: String,
        inner: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only the parse result matters")]
    struct Inner {
        count: u32,
    }

    fn fields(result: Result<Outer, AppError>) -> Vec<(String, String)> {
        match result {
            Err(AppError::Validation { errors, .. }) => errors.into_iter().collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn names_the_field_of_a_wrong_type() {
        let errors = fields(parse(br#"{"name": "x", "inner": {"count": "three"}}"#));
        assert_eq!(errors[0].0, "inner.count");
        assert!(errors[0].1.contains("invalid type"), "{errors:?}");
    }

    #[test]
    fn names_a_missing_field() {
        assert_eq!(
            fields(parse(br#"{"inner": {"count": 3}}"#)),
            vec![("name".into(), "is required".into())]
        );
        assert_eq!(
            fields(parse(br#"{"name": "x", "inner": {}}"#))[0].0,
            "inner.count"
        );
    }

    #[test]
    fn names_an_unknown_field() {
        let errors = fields(parse(
            br#"{"name": "x", "inner": {"count": 3, "colour": 1}}"#,
        ));
        assert!(errors[0].0.starts_with("inner"), "{errors:?}");
        assert!(errors[0].1.contains("unknown field `colour`"), "{errors:?}");
    }

    #[test]
    fn broken_json_is_a_bad_request() {
        assert!(matches!(
            parse::<Outer>(br#"{"name": "#),
            Err(AppError::BadRequest(_))
        ));
        assert!(matches!(
            parse::<Outer>(b"  "),
            Err(AppError::BadRequest(_))
        ));
        assert!(matches!(
            parse::<Outer>(br#"{"name":"x","inner":{"count":1}} trailing"#),
            Err(AppError::BadRequest(_))
        ));
    }
}
