//! Gap and duplicate detection from each aggregate's `seq`: the projectors never
//! assume delivery, they check it.
//!
//! An aggregate's events carry `seq` 1, 2, 3, … without gaps. Given the last `seq`
//! a read model has applied for the aggregate, the next record is either the next
//! event (apply it), one already applied (a duplicate: skip it), or beyond the next
//! one (a gap: something is missing, and applying it would make the read model
//! silently wrong — the partition stops instead).

/// What to do with a record, given the aggregate's last applied `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The next event of the aggregate.
    Apply,
    /// Already applied (`seq` ≤ last): skip.
    Duplicate,
    /// Events `missing_from..=missing_to` never arrived: stop the partition.
    Gap {
        /// The first missing `seq`.
        missing_from: u64,
        /// The last missing `seq`.
        missing_to: u64,
    },
}

/// Judges the record with `seq` of an aggregate whose last applied `seq` is `last`
/// (0 when none was applied yet).
pub fn judge(last: u64, seq: u64) -> Verdict {
    if seq <= last {
        Verdict::Duplicate
    } else if seq == last + 1 {
        Verdict::Apply
    } else {
        Verdict::Gap {
            missing_from: last + 1,
            missing_to: seq - 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Verdict, judge};

    #[test]
    fn the_next_seq_is_applied() {
        assert_eq!(judge(0, 1), Verdict::Apply);
        assert_eq!(judge(41, 42), Verdict::Apply);
    }

    #[test]
    fn a_seq_already_applied_is_a_duplicate() {
        assert_eq!(judge(5, 5), Verdict::Duplicate);
        assert_eq!(judge(5, 1), Verdict::Duplicate);
    }

    #[test]
    fn a_seq_beyond_the_next_names_the_missing_range() {
        assert_eq!(
            judge(5, 9),
            Verdict::Gap {
                missing_from: 6,
                missing_to: 8
            }
        );
        assert_eq!(
            judge(0, 2),
            Verdict::Gap {
                missing_from: 1,
                missing_to: 1
            }
        );
    }
}
