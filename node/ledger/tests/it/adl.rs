//! Issue #18, build item 3: auto-deleveraging takes the minimum, pro rata.
//!
//! A scripted crash over 1,000 accounts: 500 longs at 1,000 ticks with deposits between one
//! and three times initial margin, each facing a short of the same size; the book is empty and
//! the index gaps to 850. Every long below maintenance is deleveraged (there is no book to close
//! in). The queue rule of before issue #18 closed the whole position of every such long against
//! the head of a profit × leverage queue; the rule now closes the fewest lots that bring each
//! long back to maintenance (all of them for the bankrupt), spread pro rata over the shorts.
//!
//! Units: one tick on one lot = 10^6 cash units; IM 10 %, MM 5 %, taker fee 4 bp.

use crate::harness::*;
use std::collections::BTreeMap;
use tokenbook_ledger::liquidation::pro_rata;
use tokenbook_ledger::*;
use tokenbook_protocol::*;

const PAIRS: usize = 500;
const ENTRY: i64 = 1_000;
const GAP_TO: i64 = 850;
/// Cash of one tick on one lot.
const TICK_LOT: i128 = 1_000_000;

/// splitmix64: the crash's sizes and deposits, the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One long and its short: (long, short, lots).
type Pair = (AccountId, AccountId, i64);

/// The 500 pairs, each long `lots` at 1,000 from its short. The long deposits IM × f plus the
/// taker fee, f uniform in [1, 3) in hundredths; the short, 3 × IM.
fn open_pairs(h: &mut Harness, rng: &mut Rng) -> Vec<Pair> {
    let mut pairs = Vec::with_capacity(PAIRS);
    for _ in 0..PAIRS {
        let lots = 1 + rng.below(100) as i64;
        let im = i128::from(lots) * i128::from(ENTRY) * TICK_LOT / 10;
        let fee = i128::from(lots) * i128::from(ENTRY) * TICK_LOT * 4 / 10_000;
        let hundredths = 100 + i128::from(rng.below(200));
        let (long, short) = (h.trader(im * hundredths / 100 + fee), h.trader(3 * im + fee));
        h.apply(short, place(limit(AIT, Side::Sell, ENTRY, lots))).unwrap();
        h.apply(long, place(limit(AIT, Side::Buy, ENTRY, lots))).unwrap();
        pairs.push((long, short, lots));
    }
    pairs
}

/// The fewest lots a long must shed to be back at maintenance at the mark `GAP_TO`, worked out
/// here from the definitions (MM 5 % of |position| × mark, equity unchanged by a close at the
/// mark): all of them when equity is not positive, else `lots − ⌊equity / MM per lot⌋`.
fn minimum_to_close(equity: i128, lots: i64) -> i64 {
    let per_lot = i128::from(GAP_TO) * TICK_LOT * 500 / 10_000;
    if equity <= 0 {
        return lots;
    }
    let keep = i64::try_from(equity / per_lot).unwrap_or(i64::MAX);
    (lots - keep).max(0)
}

#[test]
fn adl_after_a_scripted_crash_closes_the_minimum_pro_rata() {
    // Nothing stands behind the longs (no guaranty fund, an empty insurance fund): the last
    // resort alone.
    let mut h = Harness::without_guaranty();
    let pairs = open_pairs(&mut h, &mut Rng(18));
    let shorts: BTreeMap<AccountId, i64> = pairs.iter().map(|(_, s, lots)| (*s, *lots)).collect();
    h.set_index_ticks(AIT, GAP_TO);
    // Before the gap's block: what each long would need at the new mark.
    let mut equity_at_gap = BTreeMap::new();
    for (long, _, lots) in &pairs {
        let cash = h.cash(*long);
        let equity = cash + i128::from(*lots) * i128::from(GAP_TO - ENTRY) * TICK_LOT;
        equity_at_gap.insert(*long, (equity, *lots));
    }
    let mut deleveraged: BTreeMap<AccountId, i64> = BTreeMap::new();
    let mut taken: BTreeMap<AccountId, i64> = BTreeMap::new();
    let mut liquidated = Vec::new();
    let mut blocks = 0;
    loop {
        let out = h.block(&[]);
        blocks += 1;
        for event in &out.end_events {
            match event {
                Event::Liquidated { account, .. } => liquidated.push(*account),
                Event::Deleveraged { account, counterparty, qty, price, .. } => {
                    assert!(shorts.contains_key(counterparty), "only the shorts take longs");
                    assert!(price.get() >= GAP_TO, "at the mark or the bankruptcy price");
                    *deleveraged.entry(*account).or_default() += qty.get();
                    *taken.entry(*counterparty).or_default() += qty.get();
                }
                _ => {}
            }
        }
        if !h.state.liquidation_backlog {
            break;
        }
        assert!(blocks < 20, "the crash is worked off in a few blocks");
    }
    let queue: i64 = liquidated.iter().map(|a| equity_at_gap[a].1).sum();
    let minimum: i64 = liquidated
        .iter()
        .map(|a| {
            let (equity, lots) = equity_at_gap[a];
            minimum_to_close(equity, lots)
        })
        .sum();
    let closed: i64 = deleveraged.values().sum();
    let bankrupt = liquidated.iter().filter(|a| equity_at_gap[*a].0 <= 0).count();
    println!(
        "adl crash: {PAIRS} pairs, {} liquidated ({bankrupt} bankrupt) over {blocks} blocks; \
         queue rule closes {queue} lots, minimum {minimum}, closed {closed} lots over {} \
         counterparties (largest share {} lots)",
        liquidated.len(),
        taken.len(),
        taken.values().max().copied().unwrap_or(0),
    );
    assert!(liquidated.len() >= 100 && bankrupt >= 10, "the crash reaches both kinds");
    assert!(10 * closed <= 11 * minimum, "closed {closed} lots, minimum {minimum}");
    assert!(closed < queue, "the queue rule closes {queue}, we close {closed}");
    // The rest of the crash is whole: nobody needs liquidation, positions sum to zero.
    for (long, short, _) in &pairs {
        assert_eq!(h.state.liquidation_need(*long), None);
        assert_eq!(h.state.liquidation_need(*short), None);
    }
    let net: i64 = pairs.iter().map(|(l, s, _)| h.position(*l, AIT) + h.position(*s, AIT)).sum();
    assert_eq!(net, 0, "positions are zero-sum");
    invariants::check_full(&h.state).unwrap();
}

#[test]
fn a_partial_deleverage_spreads_pro_rata_over_the_profitable_side() {
    let mut h = Harness::new();
    // a long 10 at 1,000 with initial margin and the fee; three shorts of 6, 3 and 1 lots.
    let a = h.trader(1_004_000_000);
    let shorts: Vec<AccountId> = (0..3).map(|_| h.trader(1_000_000_000_000)).collect();
    for (short, lots) in shorts.iter().zip([6, 3, 1]) {
        h.apply(*short, place(limit(AIT, Side::Sell, ENTRY, lots))).unwrap();
    }
    h.apply(a, place(limit(AIT, Side::Buy, ENTRY, 10))).unwrap();
    // At 945: a's equity 10^9 − 55 ticks × 10 lots × 10^6 = 450,000,000 < MM 472,500,000;
    // keeping 9 lots needs 425,250,000: one lot is enough.
    h.set_index_ticks(AIT, 945);
    let out = h.block(&[]);
    let moved: Vec<(AccountId, i64)> = out
        .end_events
        .iter()
        .filter_map(|e| match e {
            Event::Deleveraged { counterparty, qty, price, .. } => {
                assert_eq!(*price, Price::new(945), "at the mark: a can bear it");
                Some((*counterparty, qty.get()))
            }
            _ => None,
        })
        .collect();
    // One lot over 6, 3, 1: exact shares 0.6, 0.3, 0.1 — the largest remainder takes it.
    assert_eq!(moved, vec![(shorts[0], 1)]);
    assert_eq!(h.position(a, AIT), 9);
    assert_eq!(h.state.liquidation_need(a), None);
}

#[test]
fn pro_rata_rounds_to_lots_by_largest_remainder() {
    let ids: Vec<AccountId> = (1..=4).map(AccountId::new).collect();
    let holders =
        |sizes: &[i64]| ids.iter().copied().zip(sizes.iter().copied()).collect::<Vec<_>>();
    // 7 lots over 10, 10, 10, 10: 1.75 each; the three leftover lots go to the earliest.
    let shares = pro_rata(&holders(&[10, 10, 10, 10]), 7);
    assert_eq!(shares, vec![(ids[0], 2), (ids[1], 2), (ids[2], 2), (ids[3], 1)]);
    // More lots than the holders have: each gives its whole size.
    assert_eq!(pro_rata(&holders(&[1, 2]), 5), vec![(ids[0], 1), (ids[1], 2)]);
    assert_eq!(pro_rata(&holders(&[5, 5]), 0), vec![]);
}

proptest::proptest! {
    /// Any sizes and lots: the shares sum to the lots (or to all the holders have), none exceeds
    /// its holder's size, and each is less than one lot from its exact proportional share.
    #[test]
    fn pro_rata_is_exact_to_a_lot(
        sizes in proptest::collection::vec(1i64..1_000_000_000, 1..40),
        lots in 0i64..2_000_000_000,
    ) {
        let holders: Vec<(AccountId, i64)> =
            sizes.iter().enumerate().map(|(i, s)| (AccountId::new(i as u64 + 1), *s)).collect();
        let shares = pro_rata(&holders, lots);
        let total: i128 = sizes.iter().map(|s| i128::from(*s)).sum();
        let given: i128 = shares.iter().map(|(_, s)| i128::from(*s)).sum();
        proptest::prop_assert_eq!(given, total.min(i128::from(lots)));
        for (id, share) in &shares {
            let size = holders.iter().find(|(h, _)| h == id).map(|(_, s)| *s).unwrap();
            proptest::prop_assert!(*share > 0 && *share <= size);
            if total > i128::from(lots) {
                // |share × total − lots × size| < total
                let off = i128::from(*share) * total - i128::from(lots) * i128::from(size);
                proptest::prop_assert!(off.abs() < total, "{id:?} {share} of {size}");
            }
        }
    }
}
