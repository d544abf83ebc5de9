//! Cursor pagination shared by every list: `?limit=&cursor=` in, `{items, next_cursor}` out.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::service::{Page, PageRequest};

/// Items per page when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 50;
/// Most items one page may hold.
pub const MAX_LIMIT: usize = 1000;

/// The paging part of a list's query string.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    /// Checks the limit and decodes the cursor.
    pub fn to_request(&self) -> Result<PageRequest, AppError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(AppError::BadRequest(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        let after = self.cursor.as_deref().map(decode_cursor).transpose()?;
        Ok(PageRequest { limit, after })
    }
}

/// A page of a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListResponse<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> ListResponse<T> {
    /// Converts a service page, encoding where the next page starts.
    pub fn from_page<D>(page: Page<D>, convert: impl FnMut(D) -> T) -> Self {
        Self {
            items: page.items.into_iter().map(convert).collect(),
            next_cursor: page.next_after.as_deref().map(encode_cursor),
        }
    }
}

impl<T> ListResponse<T> {
    /// Like [`ListResponse::from_page`], for conversions that can fail.
    pub fn try_from_page<D, E>(
        page: Page<D>,
        convert: impl FnMut(D) -> Result<T, E>,
    ) -> Result<Self, E> {
        Ok(Self {
            items: page
                .items
                .into_iter()
                .map(convert)
                .collect::<Result<_, _>>()?,
            next_cursor: page.next_after.as_deref().map(encode_cursor),
        })
    }
}

const CURSOR_VERSION: &str = "v1:";

fn encode_cursor(after: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_VERSION}{after}"))
}

fn decode_cursor(cursor: &str) -> Result<String, AppError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(CURSOR_VERSION).map(str::to_owned))
        .ok_or_else(|| {
            AppError::BadRequest(
                "cursor is not valid; pass next_cursor from a previous page".into(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(decode_cursor(&encode_cursor("sales")).unwrap(), "sales");
        assert!(decode_cursor("not a cursor!").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("sales")).is_err());
    }

    #[test]
    fn limits_are_bounded() {
        let params = |limit| PageParams {
            limit: Some(limit),
            cursor: None,
        };
        assert!(params(0).to_request().is_err());
        assert!(params(1001).to_request().is_err());
        assert_eq!(params(1000).to_request().unwrap().limit, 1000);
    }
}
