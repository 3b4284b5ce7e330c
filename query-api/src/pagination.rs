//! Which messages a page of `GET /channels/{id}/messages` holds, as a pure
//! computation: [`Page::scans`] turns Discord's query (`before` / `after` / `around`,
//! `limit` 1–100, default 50) into at most two id-range reads, and [`assemble`] puts
//! their results together newest first.
//!
//! Discord's rules (`developers/resources/message.mdx`, "Get Channel Messages"):
//! * the answer is ordered newest to oldest, whatever the anchor;
//! * no anchor: the `limit` newest messages;
//! * `before=X`: the `limit` newest messages older than `X`;
//! * `after=X`: the `limit` messages right after `X` (the oldest ones newer than
//!   `X`), still answered newest first, so a client pages forward by passing the
//!   first id of each answer as the next `after`;
//! * `around=X`: the messages on both sides of `X`, `X` included when it exists.
//!   Discord does not document the split; CloudCord centres the page on `X`: the
//!   older side (with `X`) gets ⌈limit/2⌉, the newer side ⌊limit/2⌋, and never more
//!   than `limit` in all. A side with fewer messages is not topped up from the other
//!   (so the anchor stays in the middle of what a client shows).

use cloudcord_schemas::ids::MessageId;

/// The default `limit` of a message page.
pub const DEFAULT_LIMIT: u32 = 50;
/// The allowed `limit`s of a message page.
pub const LIMITS: std::ops::RangeInclusive<u32> = 1..=100;

/// Where a page is anchored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The newest messages.
    Latest,
    /// Older than this message.
    Before(MessageId),
    /// Newer than this message.
    After(MessageId),
    /// Centred on this message.
    Around(MessageId),
}

/// One page request: an anchor and a limit within [`LIMITS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Where.
    pub anchor: Anchor,
    /// How many at most.
    pub limit: u32,
}

/// The id range one read covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// Every id.
    All,
    /// Ids smaller than this.
    Below(u64),
    /// Ids up to and including this.
    AtOrBelow(u64),
    /// Ids greater than this.
    Above(u64),
}

impl Range {
    /// Whether `id` lies in the range.
    pub fn contains(self, id: u64) -> bool {
        match self {
            Self::All => true,
            Self::Below(bound) => id < bound,
            Self::AtOrBelow(bound) => id <= bound,
            Self::Above(bound) => id > bound,
        }
    }
}

/// One read: the first `limit` ids in `range`, starting from its newest end (or its
/// oldest end when `newest_first` is false).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    /// Which ids.
    pub range: Range,
    /// Which end the read starts from.
    pub newest_first: bool,
    /// How many at most (never 0).
    pub limit: u32,
}

impl Page {
    /// The reads that make up the page (one, or two for `around`).
    pub fn scans(&self) -> Vec<Scan> {
        let scan = |range, newest_first, limit| Scan {
            range,
            newest_first,
            limit,
        };
        match self.anchor {
            Anchor::Latest => vec![scan(Range::All, true, self.limit)],
            Anchor::Before(id) => vec![scan(Range::Below(id.get()), true, self.limit)],
            Anchor::After(id) => vec![scan(Range::Above(id.get()), false, self.limit)],
            Anchor::Around(id) => {
                let newer = self.limit / 2;
                let older = self.limit - newer;
                let mut scans = vec![scan(Range::AtOrBelow(id.get()), true, older)];
                if newer > 0 {
                    scans.push(scan(Range::Above(id.get()), false, newer));
                }
                scans
            }
        }
    }
}

/// The scans' results as one page, newest first (the scans never overlap, but a
/// duplicate would be dropped rather than shown twice).
pub fn assemble<M>(results: Vec<Vec<M>>, id: impl Fn(&M) -> u64) -> Vec<M> {
    let mut page: Vec<M> = results.into_iter().flatten().collect();
    page.sort_by_key(|message| std::cmp::Reverse(id(message)));
    page.dedup_by_key(|message| id(message));
    page
}

#[cfg(test)]
mod tests {
    use cloudcord_schemas::ids::MessageId;

    use super::{Anchor, Page, Scan, assemble};

    /// Runs the scans over a channel whose message ids are `ids` (any order), as a
    /// store would.
    fn page(ids: &[u64], anchor: Anchor, limit: u32) -> Vec<u64> {
        let mut sorted = ids.to_vec();
        sorted.sort_unstable();
        let results = Page { anchor, limit }
            .scans()
            .into_iter()
            .map(
                |Scan {
                     range,
                     newest_first,
                     limit,
                 }| {
                    let matching = sorted.iter().copied().filter(|id| range.contains(*id));
                    let limit = usize::try_from(limit).expect("small");
                    if newest_first {
                        matching.rev().take(limit).collect()
                    } else {
                        matching.take(limit).collect()
                    }
                },
            )
            .collect();
        assemble(results, |id| *id)
    }

    fn id(raw: u64) -> MessageId {
        MessageId::new(raw)
    }

    /// Ids 10, 20, …, 200.
    fn channel() -> Vec<u64> {
        (1..=20).map(|n| n * 10).collect()
    }

    #[test]
    fn no_anchor_gives_the_newest_messages_newest_first() {
        assert_eq!(page(&channel(), Anchor::Latest, 3), [200, 190, 180]);
        assert_eq!(page(&channel(), Anchor::Latest, 50).len(), 20);
    }

    #[test]
    fn before_gives_the_newest_older_messages() {
        assert_eq!(page(&channel(), Anchor::Before(id(100)), 3), [90, 80, 70]);
        // Not a message id: the bound still applies.
        assert_eq!(page(&channel(), Anchor::Before(id(95)), 2), [90, 80]);
        assert!(page(&channel(), Anchor::Before(id(10)), 5).is_empty());
    }

    #[test]
    fn after_gives_the_messages_right_after_still_newest_first() {
        assert_eq!(page(&channel(), Anchor::After(id(100)), 3), [130, 120, 110]);
        assert_eq!(page(&channel(), Anchor::After(id(180)), 50), [200, 190]);
        assert!(page(&channel(), Anchor::After(id(200)), 5).is_empty());
    }

    #[test]
    fn after_pages_forward_without_gaps_or_repeats() {
        let mut seen: Vec<u64> = Vec::new();
        let mut cursor = 0;
        loop {
            let answer = page(&channel(), Anchor::After(id(cursor)), 7);
            let Some(&newest) = answer.first() else { break };
            seen.extend(answer.iter().rev());
            cursor = newest;
        }
        assert_eq!(seen, channel());
    }

    #[test]
    fn around_centres_on_the_anchor_and_includes_it() {
        assert_eq!(
            page(&channel(), Anchor::Around(id(100)), 5),
            [120, 110, 100, 90, 80]
        );
        assert_eq!(
            page(&channel(), Anchor::Around(id(100)), 4),
            [120, 110, 100, 90]
        );
        assert_eq!(page(&channel(), Anchor::Around(id(100)), 1), [100]);
        // The default limit around a message in a short channel: what exists on
        // each side, up to 25.
        assert_eq!(page(&channel(), Anchor::Around(id(100)), 50).len(), 20);
    }

    #[test]
    fn around_near_an_end_does_not_top_up_from_the_other_side() {
        assert_eq!(
            page(&channel(), Anchor::Around(id(190)), 6),
            [200, 190, 180, 170]
        );
        // An anchor that is not a message: its neighbours.
        assert_eq!(page(&channel(), Anchor::Around(id(105)), 2), [110, 100]);
    }

    #[test]
    fn a_page_never_exceeds_its_limit() {
        let ids: Vec<u64> = (1..=500).collect();
        for limit in 1..=100 {
            for anchor in [
                Anchor::Latest,
                Anchor::Before(id(250)),
                Anchor::After(id(250)),
                Anchor::Around(id(250)),
            ] {
                let answer = page(&ids, anchor, limit);
                assert_eq!(answer.len(), usize::try_from(limit).expect("small"));
                assert!(answer.windows(2).all(|w| w[0] > w[1]), "newest first");
            }
        }
    }
}
