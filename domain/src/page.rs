//! Keyset pagination shared by every list.

/// The largest page any list returns.
pub const MAX_PAGE_SIZE: u32 = 500;
/// The page size when the caller does not ask for one.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// Which page to return: at most `limit` items strictly after `after`
/// (an opaque cursor produced by the previous page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<String>,
}

impl PageRequest {
    /// Clamps `limit` into `1..=MAX_PAGE_SIZE`.
    pub fn new(limit: Option<u32>, after: Option<String>) -> Self {
        let limit = limit.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE);
        Self { limit, after }
    }

    pub fn first(limit: u32) -> Self {
        Self::new(Some(limit), None)
    }
}

/// One page of results and the cursor of the next page, `None` on the last.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched in order: the extra row
    /// only tells that another page exists.
    pub fn from_overfetch(mut rows: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> String) -> Self {
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if has_more { rows.last().map(cursor_of) } else { None };
        Self { items: rows, next_cursor }
    }
}
