//! The book against a deliberately naive reference model: a flat list of orders sorted on every
//! step. Random operation streams must produce the same outcomes, the same execution reports and
//! the same resting orders in the same priority order.

use super::*;
use proptest::prelude::*;
use tokenbook_protocol::SelfTradePrevention as Stp;

#[derive(Default)]
struct Model {
    orders: Vec<(u64, RestingOrder)>,
    seq: u64,
}

impl Model {
    /// Opposite-side orders in matching priority.
    fn queue(&self, side: Side) -> Vec<(u64, RestingOrder)> {
        let mut q: Vec<_> =
            self.orders.iter().copied().filter(|(_, o)| o.side == side.opposite()).collect();
        q.sort_by_key(|(seq, o)| {
            (if side == Side::Buy { o.price.get() } else { -o.price.get() }, *seq)
        });
        q
    }

    fn submit(&mut self, o: Incoming) -> (Outcome, Vec<Event>) {
        let acceptable = |p: Price| {
            if o.side == Side::Buy { p <= o.price } else { p >= o.price }
        };
        let queue = self.queue(o.side);
        let none = |reason| {
            (Outcome { filled: Qty::ZERO, resting: Qty::ZERO, unrested: Some(reason) }, vec![])
        };
        if o.style == Style::PostOnly && queue.first().is_some_and(|(_, m)| acceptable(m.price)) {
            return none(Unrested::PostOnlyWouldTake);
        }
        if o.style == Style::FillOrKill {
            let mut total = 0;
            for (_, m) in &queue {
                if !acceptable(m.price) || total >= o.qty.get() {
                    break;
                }
                let own = m.owner == o.owner || (o.group != 0 && m.group == o.group);
                if own && o.self_trade == Stp::ExpireMaker {
                    continue;
                }
                if own {
                    break;
                }
                total += m.qty.get();
            }
            if total < o.qty.get() {
                return none(Unrested::FillOrKill);
            }
        }
        let mut events = vec![];
        let mut remaining = o.qty.get();
        let mut stopped = false;
        for (seq, m) in queue {
            if remaining == 0 || !acceptable(m.price) {
                break;
            }
            let own = m.owner == o.owner || (o.group != 0 && m.group == o.group);
            if own {
                if o.self_trade != Stp::ExpireTaker {
                    self.orders.retain(|(s, _)| *s != seq);
                    events.push(Event::MakerExpired {
                        maker: m.id,
                        maker_owner: m.owner,
                        remaining: m.qty,
                    });
                }
                if o.self_trade != Stp::ExpireMaker {
                    stopped = true;
                    break;
                }
                continue;
            }
            let qty = remaining.min(m.qty.get());
            remaining -= qty;
            let done = qty == m.qty.get();
            events.push(Event::Fill {
                maker: m.id,
                maker_owner: m.owner,
                price: m.price,
                qty: Qty::new(qty),
                maker_done: done,
            });
            if done {
                self.orders.retain(|(s, _)| *s != seq);
            } else if let Some((_, r)) = self.orders.iter_mut().find(|(s, _)| *s == seq) {
                r.qty = Qty::new(r.qty.get() - qty);
            }
        }
        let filled = Qty::new(o.qty.get() - remaining);
        let outcome = if remaining == 0 {
            Outcome { filled, resting: Qty::ZERO, unrested: None }
        } else if stopped {
            Outcome { filled, resting: Qty::ZERO, unrested: Some(Unrested::SelfTrade) }
        } else if matches!(o.style, Style::Rest | Style::PostOnly) {
            self.seq += 1;
            self.orders.push((
                self.seq,
                RestingOrder {
                    id: o.id,
                    owner: o.owner,
                    group: o.group,
                    side: o.side,
                    price: o.price,
                    qty: Qty::new(remaining),
                    reduce_only: false,
                },
            ));
            Outcome { filled, resting: Qty::new(remaining), unrested: None }
        } else {
            Outcome { filled, resting: Qty::ZERO, unrested: Some(Unrested::ImmediateOrCancel) }
        };
        (outcome, events)
    }

    fn cancel(&mut self, id: OrderId) -> Option<RestingOrder> {
        let at = self.orders.iter().position(|(_, o)| o.id == id)?;
        Some(self.orders.remove(at).1)
    }

    fn reduce(&mut self, id: OrderId, qty: Qty) -> bool {
        match self.orders.iter_mut().find(|(_, o)| o.id == id) {
            Some((_, o)) if qty.get() > 0 && qty < o.qty => {
                o.qty = qty;
                true
            }
            _ => false,
        }
    }

    fn side(&self, side: Side) -> Vec<RestingOrder> {
        // Resting orders of `side` in priority order = the queue a taker of the other side sees.
        self.queue(side.opposite()).into_iter().map(|(_, o)| o).collect()
    }
}

#[derive(Clone, Debug)]
enum Op {
    Submit { buy: bool, price: i64, qty: i64, owner: u64, group: u128, style: u8, stp: u8 },
    Cancel(u64),
    Reduce(u64, i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<bool>(), 95i64..=105, 1i64..=10, 0u64..4, 0u128..2, 0u8..4, 0u8..3)
            .prop_map(|(buy, price, qty, owner, group, style, stp)| Op::Submit { buy, price, qty, owner, group, style, stp }),
        3 => (0u64..200).prop_map(Op::Cancel),
        1 => (0u64..200, 0i64..10).prop_map(|(id, q)| Op::Reduce(id, q)),
    ]
}

fn incoming(id: u64, op: &Op) -> Option<Incoming> {
    let Op::Submit { buy, price, qty, owner, group, style, stp } = *op else {
        return None;
    };
    Some(Incoming {
        id: OrderId::new(id),
        owner: AccountId::new(owner),
        group,
        side: if buy { Side::Buy } else { Side::Sell },
        price: Price::new(price),
        qty: Qty::new(qty),
        style: [Style::Rest, Style::ImmediateOrCancel, Style::FillOrKill, Style::PostOnly]
            [style as usize],
        self_trade: [Stp::ExpireMaker, Stp::ExpireTaker, Stp::ExpireBoth][stp as usize],
        reduce_only: false,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn book_matches_reference_model(ops in proptest::collection::vec(op(), 1..300)) {
        let mut book = Book::new();
        let mut model = Model::default();
        let mut events = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            match op {
                Op::Submit { .. } => {
                    let order = incoming(i as u64, op).unwrap();
                    events.clear();
                    let got = book.submit(order, &mut events, &Unlimited);
                    let (want, want_events) = model.submit(order);
                    prop_assert_eq!(got, want, "op {}: {:?}", i, op);
                    prop_assert_eq!(&events, &want_events, "op {}", i);
                }
                Op::Cancel(id) => prop_assert_eq!(book.cancel(OrderId::new(*id)), model.cancel(OrderId::new(*id))),
                Op::Reduce(id, q) => prop_assert_eq!(book.reduce(OrderId::new(*id), Qty::new(*q)), model.reduce(OrderId::new(*id), Qty::new(*q))),
            }
            book.check_invariants().map_err(TestCaseError::fail)?;
            for side in [Side::Buy, Side::Sell] {
                let got: Vec<RestingOrder> = book.orders(side).copied().collect();
                prop_assert_eq!(got, model.side(side), "op {} side {:?}", i, side);
            }
        }
    }
}

#[test]
fn self_trade_modes() {
    let mut book = Book::new();
    let mut ev = Vec::new();
    let base = Incoming {
        id: OrderId::new(1),
        owner: AccountId::new(7),
        group: 0,
        side: Side::Sell,
        price: Price::new(100),
        qty: Qty::new(5),
        style: Style::Rest,
        self_trade: Stp::ExpireMaker,
        reduce_only: false,
    };
    book.submit(base, &mut ev, &Unlimited);
    book.submit(
        Incoming { id: OrderId::new(2), owner: AccountId::new(8), ..base },
        &mut ev,
        &Unlimited,
    );
    // Same owner, expire taker: nothing trades, the taker is cancelled, the maker stays.
    let taker =
        Incoming { id: OrderId::new(3), side: Side::Buy, self_trade: Stp::ExpireTaker, ..base };
    let out = book.submit(taker, &mut ev, &Unlimited);
    assert_eq!(out.unrested, Some(Unrested::SelfTrade));
    assert_eq!(book.len(), 2);
    // Expire maker: the own order goes, the next one fills.
    ev.clear();
    let out = book.submit(
        Incoming { id: OrderId::new(4), self_trade: Stp::ExpireMaker, ..taker },
        &mut ev,
        &Unlimited,
    );
    assert_eq!(out.filled, Qty::new(5));
    assert!(matches!(ev[0], Event::MakerExpired { maker, .. } if maker == OrderId::new(1)));
    assert!(
        matches!(ev[1], Event::Fill { maker, maker_done: true, .. } if maker == OrderId::new(2))
    );
    assert!(book.is_empty());
}

#[test]
fn reduce_keeps_priority_and_cancel_frees_levels() {
    let mut book = Book::new();
    let mut ev = Vec::new();
    let o = |id, owner| Incoming {
        id: OrderId::new(id),
        owner: AccountId::new(owner),
        group: 0,
        side: Side::Buy,
        price: Price::new(50),
        qty: Qty::new(10),
        style: Style::Rest,
        self_trade: Stp::ExpireMaker,
        reduce_only: false,
    };
    book.submit(o(1, 1), &mut ev, &Unlimited);
    book.submit(o(2, 2), &mut ev, &Unlimited);
    assert!(book.reduce(OrderId::new(1), Qty::new(4)));
    assert!(!book.reduce(OrderId::new(1), Qty::new(4)), "not a reduction");
    let first: Vec<_> = book.orders(Side::Buy).map(|r| (r.id, r.qty)).collect();
    assert_eq!(first, vec![(OrderId::new(1), Qty::new(4)), (OrderId::new(2), Qty::new(10))]);
    assert_eq!(book.depth(Side::Buy, 5), vec![(Price::new(50), Qty::new(14), 2)]);
    book.cancel(OrderId::new(1));
    book.cancel(OrderId::new(2));
    assert_eq!(book.best_bid(), None);
    assert!(book.depth(Side::Buy, 5).is_empty());
    book.check_invariants().unwrap();
}
