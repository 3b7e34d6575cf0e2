//! Overlap resolution: keep the longest finding, then the most sensitive, then the
//! earliest; drop whatever overlaps a kept one.

use std::collections::BTreeMap;

/// Returns a non-overlapping subset of `items`, sorted by start.
pub(crate) fn resolve<T>(items: Vec<T>, span: impl Fn(&T) -> (usize, usize), rank: impl Fn(&T) -> u8) -> Vec<T> {
    // The common case, and the many-values one (a body of 300,000 e-mail addresses): spans
    // already in order and disjoint are all kept, found in one pass without the ordering
    // and the map below (which cost a third of such a body's inspection).
    if is_sorted_and_disjoint(&items, &span) {
        let mut items = items;
        items.retain(|it| {
            let (s, e) = span(it);
            s < e
        });
        return items;
    }
    let mut order: Vec<(usize, u8, usize, usize)> = items
        .iter()
        .enumerate()
        .map(|(k, it)| {
            let (s, e) = span(it);
            (e.saturating_sub(s), rank(it), s, k)
        })
        .collect();
    // Unstable sorts throughout (the index breaks ties): stable sort code is large in wasm.
    order.sort_unstable_by(|a, b| {
        b.0.cmp(&a.0)
            .then(b.1.cmp(&a.1))
            .then(a.2.cmp(&b.2))
            .then(a.3.cmp(&b.3))
    });
    // Kept spans: start → (end, index). Disjoint, so only the one with the greatest start
    // before a candidate's end can overlap it.
    let mut kept: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    for &(_, _, s, k) in &order {
        let e = items.get(k).map_or(s, |it| span(it).1);
        if e <= s {
            continue;
        }
        let overlaps = kept.range(..e).next_back().is_some_and(|(_, &(ke, _))| ke > s);
        if !overlaps {
            kept.insert(s, (e, k));
        }
    }
    let mut keep = vec![false; items.len()];
    for (_, (_, k)) in kept {
        if let Some(x) = keep.get_mut(k) {
            *x = true;
        }
    }
    let mut out: Vec<T> = items
        .into_iter()
        .zip(keep)
        .filter_map(|(it, k)| k.then_some(it))
        .collect();
    out.sort_unstable_by_key(|it| span(it).0);
    out
}

/// Whether the non-empty spans come by increasing start, each ending before the next starts.
fn is_sorted_and_disjoint<T>(items: &[T], span: impl Fn(&T) -> (usize, usize)) -> bool {
    let mut last_end = 0;
    let mut first = true;
    for it in items {
        let (s, e) = span(it);
        if e <= s {
            continue;
        }
        if !first && s < last_end {
            return false;
        }
        first = false;
        last_end = e;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_then_rank_then_earliest() {
        let items = vec![(0, 5, 1), (3, 10, 1), (3, 10, 2), (10, 12, 0), (11, 12, 9), (20, 20, 9)];
        let out = resolve(items, |t| (t.0, t.1), |t| t.2);
        assert_eq!(out, vec![(3, 10, 2), (10, 12, 0)]);
    }

    #[test]
    fn disjoint_spans_in_order_are_all_kept_and_empty_ones_dropped() {
        let items = vec![(0, 5, 1), (5, 5, 9), (5, 9, 0), (12, 20, 3)];
        let out = resolve(items, |t| (t.0, t.1), |t| t.2);
        assert_eq!(out, vec![(0, 5, 1), (5, 9, 0), (12, 20, 3)]);
    }

    #[test]
    fn spans_out_of_order_or_overlapping_take_the_general_path() {
        // Disjoint but out of order: all kept, sorted by start.
        let out = resolve(vec![(10, 12, 0), (0, 5, 1)], |t| (t.0, t.1), |t| t.2);
        assert_eq!(out, vec![(0, 5, 1), (10, 12, 0)]);
        // In order, but the second overlaps the first and is longer: it wins.
        let out = resolve(vec![(0, 5, 1), (4, 12, 0)], |t| (t.0, t.1), |t| t.2);
        assert_eq!(out, vec![(4, 12, 0)]);
        // An empty span between two that overlap does not hide the overlap.
        let out = resolve(vec![(0, 5, 1), (5, 5, 0), (3, 6, 0)], |t| (t.0, t.1), |t| t.2);
        assert_eq!(out, vec![(0, 5, 1)]);
    }
}
