//! Masks: how the allowed tokens of a matcher state are computed
//! ([`compute`]) and what is kept between masks ([`cache`]).
//!
//! Callers never name these types: a [`TokenConstraint`](crate::TokenConstraint)
//! owns the cache and a [`TokenMatcher`](crate::TokenMatcher) asks for its
//! masks; index files export and import the cache's parts.

pub(crate) mod cache;
pub(crate) mod compute;

pub(crate) use cache::{BoundaryGroup, CacheContents, LexemePart, MaskCache, SubtreePart};
pub use cache::{CacheStats, MemoStats};
pub(crate) use compute::{Masks, clear};
