//! Trader actions: place, cancel, cancel-all, replace, dead-man's switch, scoped keys; fills with
//! fees and positions; good-til-time expiry.
//!
//! Order checks run before anything changes, in this order (each with its own code): account
//! may trade and is not frozen; market exists and is active; quantity and price positive and
//! within bounds; order type combination valid; not expired on arrival; within the price band
//! around the mark; within the account's per-order size; open-order count; client order id free;
//! reduce-only direction; the market's index fresh, or the order cannot add to the worst-case
//! position; position limit (worst case with open orders); initial margin (worst case with the
//! new order) plus the loss a fill at the order's own price would book against the mark, so
//! no price inside the band can bankrupt the account in one fill (a reduce-only order: only
//! that loss, against equity). Only then does the book see the order. A replace passes the same gates that can
//! apply to it (account not frozen, band, size, stale index, position limit, post-only, margin),
//! with the old order's open quantity released first.

use crate::book::{self, Incoming, Outcome, Style, Unrested};
use crate::margin::{self, MAX_LOTS, MAX_TICKS};
use crate::receipt::{CancelReason, Event, Events};
use crate::reject::{Reject, RejectCode, reject};
use crate::state::{KeyGrant, LedgerState, MarketStatus, OrderInfo, Position};
use tokenbook_protocol::{
    AccountId, AuthoriseKey, CancelOrder, Cash, MarketId, NewOrder, NonceWindow, OrderId,
    OrderKind, OrderRef, Price, PublicKey, Qty, ReplaceOrder, Side, TimeInForce,
};

/// Most scoped keys per account.
pub const MAX_SCOPED_KEYS: usize = 16;

impl LedgerState {
    pub(crate) fn place_order(
        &mut self,
        account: AccountId,
        order: &NewOrder,
        events: &mut Events,
    ) -> Result<(), Reject> {
        let id = self.next_order_id();
        self.place_with_id(account, id, order, events)
    }

    /// Checks and places an order under a given id (new, or a stop that just triggered).
    pub(crate) fn place_with_id(
        &mut self,
        account: AccountId,
        id: OrderId,
        order: &NewOrder,
        events: &mut Events,
    ) -> Result<(), Reject> {
        let qty = self.check_new_order(account, order)?;
        if order.trigger.is_some() {
            self.rest_trigger(account, id, order);
            events.push(Event::TriggerAccepted { order: id, market: order.market, account });
            return Ok(());
        }
        self.execute(account, id, order, qty, events)
    }

    /// Every check of a new order; returns the quantity to use (reduce-only orders are clipped to
    /// the position).
    fn check_new_order(&self, account_id: AccountId, order: &NewOrder) -> Result<Qty, Reject> {
        let account = &self.accounts[&account_id];
        let market = crate::admission::check_order(
            account,
            order,
            self.time,
            || self.active_market(order.market),
            |m| (m.mark, m.spec.params.price_band_bps),
        )?;
        let rests = order.trigger.is_some()
            || matches!(
                order.time_in_force,
                TimeInForce::Gtc | TimeInForce::Gtt(_) | TimeInForce::PostOnly
            );
        if rests && account.open_orders.len() >= account.limits.max_open_orders as usize {
            return reject(
                RejectCode::TooManyOpenOrders,
                format!(
                    "account has its maximum of {} open orders",
                    account.limits.max_open_orders
                ),
            );
        }
        if let Some(cid) = order.client_order_id {
            if account.client_ids.contains_key(&cid) {
                return reject(
                    RejectCode::ClientOrderIdInUse,
                    format!("client order id {cid} is already used by an open order"),
                );
            }
        }
        let position = account.positions.get(&order.market).copied().unwrap_or_default();
        let qty = if order.reduce_only {
            reduce_only_qty(&position, order.side, order.qty)?
        } else {
            order.qty
        };
        let worst = worst_after(&position, order.side, qty);
        self.risk_gate(account.member, market, margin::worst_position(&position), worst)?;
        let limit = market.spec.params.position_limit.min(account.limits.max_position);
        if worst > i128::from(limit.get()) {
            return reject(
                RejectCode::PositionLimit,
                format!("the order could take the position beyond the limit of {limit} lots"),
            );
        }
        if order.trigger.is_none() {
            let risk = margin::OrderRisk {
                market: order.market,
                side: order.side,
                price: order.price,
                qty,
                added: qty,
                reduce_only: order.reduce_only,
            };
            if let Some(short) = margin::order_shortfall(self, account, &risk) {
                return reject(
                    RejectCode::InsufficientMargin,
                    format!(
                        "initial margin and the loss a fill at {} would book against the mark \
                         {} exceed equity by {short}",
                        order.price, market.mark
                    ),
                );
            }
        }
        Ok(qty)
    }

    /// An order may not raise the account's worst-case position in a market (from `before` to
    /// `after` lots) while the market's index is stale, or while the account's clearing member
    /// owes its guaranty fund a top-up (issue #18).
    fn risk_gate(
        &self,
        member: AccountId,
        market: &crate::state::Market,
        before: i128,
        after: i128,
    ) -> Result<(), Reject> {
        if after <= before {
            return Ok(());
        }
        if let Some(g) = self.accounts.get(&member).map(|m| m.guaranty).filter(|g| g.is_short()) {
            return reject(
                RejectCode::GuarantyShortfall,
                format!(
                    "clearing member {member} must top up its guaranty fund (posted {}, required \
                     {}, due {}): only orders that cannot increase the position are accepted",
                    g.posted, g.required, g.due
                ),
            );
        }
        if self.indexes.get(&market.spec.index).is_some_and(|i| i.fresh) {
            return Ok(());
        }
        reject(
            RejectCode::IndexStale,
            format!(
                "index {} of market {} is stale: only orders that cannot increase the position \
                 are accepted",
                market.spec.index, market.spec.symbol
            ),
        )
    }

    pub(crate) fn active_market(&self, id: MarketId) -> Result<&crate::state::Market, Reject> {
        let Some(market) = self.markets.get(&id) else {
            return reject(RejectCode::MarketUnknown, format!("market {id} does not exist"));
        };
        if market.status != MarketStatus::Active {
            return reject(
                RejectCode::MarketNotActive,
                format!("market {} is {:?}", market.spec.symbol, market.status),
            );
        }
        Ok(market)
    }

    pub(crate) fn next_order_id(&mut self) -> OrderId {
        let id = OrderId::new(self.height.get() << crate::apply::ORDER_SEQ_BITS | self.order_seq);
        self.order_seq += 1;
        id
    }

    fn rest_trigger(&mut self, account: AccountId, id: OrderId, order: &NewOrder) {
        self.track_open(id, order_info(account, order, Some(Box::new(order.clone()))), Qty::ZERO);
    }

    /// Sends a checked order to the book and books the consequences.
    pub(crate) fn execute(
        &mut self,
        account_id: AccountId,
        id: OrderId,
        order: &NewOrder,
        qty: Qty,
        events: &mut Events,
    ) -> Result<(), Reject> {
        let group = self_trade_key(&self.accounts[&account_id]);
        let incoming = Incoming {
            id,
            owner: account_id,
            group,
            side: order.side,
            price: order.price,
            qty,
            style: style_of(order),
            self_trade: order.self_trade,
            reduce_only: order.reduce_only,
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        self.market_mut(order.market)?;
        // The book reads positions (reduce-only capacities) while it changes: split the borrow.
        let accounts = &self.accounts;
        let maker_side = order.side.opposite();
        let capacity =
            |owner: AccountId| reduce_capacity(accounts, owner, order.market, maker_side);
        let Some(market) = self.markets.get_mut(&order.market) else {
            return reject(
                RejectCode::MarketUnknown,
                format!("market {} does not exist", order.market),
            );
        };
        let outcome = market.book.submit(incoming, &mut scratch, &capacity);
        let result = self.book_outcome(account_id, id, order, qty, outcome, &scratch, events);
        self.scratch = scratch;
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn book_outcome(
        &mut self,
        account: AccountId,
        id: OrderId,
        order: &NewOrder,
        qty: Qty,
        outcome: Outcome,
        reports: &[book::Event],
        events: &mut Events,
    ) -> Result<(), Reject> {
        match outcome.unrested {
            Some(Unrested::PostOnlyWouldTake) => {
                return reject(
                    RejectCode::PostOnlyWouldTake,
                    "post-only order would take liquidity",
                );
            }
            Some(Unrested::FillOrKill) => {
                return reject(
                    RejectCode::FillOrKillUnfilled,
                    "fill-or-kill order cannot fill completely",
                );
            }
            _ => {}
        }
        events.push(Event::OrderAccepted {
            order: id,
            market: order.market,
            account,
            side: order.side,
            price: order.price,
            qty,
            resting: outcome.resting,
        });
        for report in reports {
            self.book_report(order.market, account, id, order.side, report, events);
        }
        // Reduce-only orders of the makers are re-checked once every report of this sweep is
        // booked: removing one mid-sweep would orphan a fill the book already made.
        let mut makers: Vec<AccountId> = reports
            .iter()
            .filter_map(|r| match r {
                book::Event::Fill { maker_owner, .. } => Some(*maker_owner),
                book::Event::MakerExpired { .. } | book::Event::MakerReduceOnlyExpired { .. } => {
                    None
                }
            })
            .collect();
        makers.sort_unstable();
        makers.dedup();
        for maker in makers {
            self.enforce_reduce_only(order.market, maker, events);
        }
        if outcome.resting.is_positive() {
            let mut info = order_info(account, order, None);
            info.queue_seq = self.next_queue_seq;
            self.next_queue_seq += 1;
            self.track_open(id, info, outcome.resting);
        }
        let remaining = Qty::new(qty.get() - outcome.filled.get() - outcome.resting.get());
        if let Some(reason) = outcome.unrested.filter(|_| remaining.is_positive()) {
            let reason = if reason == Unrested::SelfTrade {
                CancelReason::SelfTrade
            } else {
                CancelReason::ImmediateOrCancel
            };
            events.push(Event::OrderCancelled {
                order: id,
                market: order.market,
                account,
                remaining,
                reason,
            });
        }
        if outcome.filled.is_positive() {
            self.enforce_reduce_only(order.market, account, events);
        }
        Ok(())
    }

    fn book_report(
        &mut self,
        market: MarketId,
        taker: AccountId,
        taker_order: OrderId,
        taker_side: Side,
        report: &book::Event,
        events: &mut Events,
    ) {
        match *report {
            book::Event::Fill { maker, maker_owner, price, qty, maker_done } => {
                self.settle_fill(
                    market,
                    maker_owner,
                    taker,
                    taker_side,
                    price,
                    qty,
                    maker,
                    taker_order,
                    events,
                );
                self.reduce_open(maker, qty, maker_done);
            }
            book::Event::MakerReduceOnlyExpired { maker, maker_owner, remaining }
            | book::Event::MakerExpired { maker, maker_owner, remaining } => {
                let reason = if matches!(report, book::Event::MakerExpired { .. }) {
                    CancelReason::SelfTrade
                } else {
                    CancelReason::ReduceOnly
                };
                self.reduce_open(maker, remaining, true);
                events.push(Event::OrderCancelled {
                    order: maker,
                    market,
                    account: maker_owner,
                    remaining,
                    reason,
                });
            }
        }
    }

    /// Moves positions, costs and fees for one fill.
    #[allow(clippy::too_many_arguments)]
    fn settle_fill(
        &mut self,
        market_id: MarketId,
        maker: AccountId,
        taker: AccountId,
        taker_side: Side,
        price: Price,
        qty: Qty,
        maker_order: OrderId,
        taker_order: OrderId,
        events: &mut Events,
    ) {
        let market = &self.markets[&market_id];
        let value = margin::notional(market, price, qty);
        let params = market.spec.params;
        let mut maker_fee = fee(value, params.maker_fee_bps);
        let liquidation = self.liquidation_order == Some(taker_order);
        let taker_fee = if liquidation {
            let charge = margin::bps_ceil(value, i128::from(self.risk.liquidation_fee_bps));
            // A maker rebate is paid out of the liquidation fee, at most all of it.
            maker_fee = maker_fee.max(-charge);
            charge
        } else {
            fee(value, params.taker_fee_bps)
        };
        let signed = if taker_side == Side::Buy { qty.get() } else { -qty.get() };
        let long_delta = self.move_position(taker, market_id, signed, value, taker_fee)
            + self.move_position(maker, market_id, -signed, value, maker_fee);
        if liquidation {
            self.fee_pool = Cash::new(self.fee_pool.get() + maker_fee.max(0));
            self.insurance_fund =
                Cash::new(self.insurance_fund.get() + taker_fee + maker_fee.min(0));
        } else {
            self.fee_pool = Cash::new(self.fee_pool.get() + maker_fee + taker_fee);
        }
        self.total_cash = Cash::new(self.total_cash.get() - maker_fee - taker_fee);
        if let Some(m) = self.markets.get_mut(&market_id) {
            m.long_interest = Qty::new(m.long_interest.get() + long_delta);
            m.short_interest = Qty::new(m.short_interest.get() + long_delta);
        }
        events.push(Event::Fill {
            market: market_id,
            maker_order,
            taker_order,
            maker,
            taker,
            taker_side,
            price,
            qty,
            maker_fee: Cash::new(maker_fee),
            taker_fee: Cash::new(taker_fee),
        });
    }

    /// Changes one account's position by `lots` (signed) at cash `value`, charges `fee`;
    /// returns the change in the market's long interest this causes.
    pub(crate) fn move_position(
        &mut self,
        account: AccountId,
        market: MarketId,
        lots: i64,
        value: i128,
        fee: i128,
    ) -> i64 {
        self.touched.account(account);
        let Some(acct) = self.accounts.get_mut(&account) else {
            unreachable!("filled order of a missing account")
        };
        acct.cash = Cash::new(acct.cash.get() - fee);
        let p = acct.positions.entry_or_default(market);
        let before = p.qty.get();
        p.qty = Qty::new(before + lots);
        // A closed position keeps its cost (realised PnL) until variation margin moves it to
        // cash (issue #4).
        p.cost = Cash::new(p.cost.get() + if lots > 0 { value } else { -value });
        p.qty.get().max(0) - before.max(0)
    }

    /// Shrinks a resting order's open quantity after a fill or removal.
    fn reduce_open(&mut self, order: OrderId, lots: Qty, done: bool) {
        let Some(info) = self.orders.get(&order) else {
            unreachable!("book order {order} has no ledger record")
        };
        let (account, market, side) = (info.account, info.market, info.side);
        self.touched.orders.push(order);
        if let Some(p) = self.accounts.get_mut(&account).and_then(|a| a.positions.get_mut(&market))
        {
            match side {
                Side::Buy => p.open_buy = Qty::new(p.open_buy.get() - lots.get()),
                Side::Sell => p.open_sell = Qty::new(p.open_sell.get() - lots.get()),
            }
        }
        if done {
            self.untrack_open(order);
        }
    }

    /// Records a new open order everywhere it is indexed; `open` lots rest in the book (zero for
    /// an untriggered stop).
    fn track_open(&mut self, id: OrderId, info: OrderInfo, open: Qty) {
        self.touched.orders.push(id);
        self.touched.account(info.account);
        if let Some(expiry) = info.expires_at {
            self.expiries.insert((expiry, id));
        }
        if info.reduce_only && info.pending_trigger.is_none() {
            self.reduce_only.insert((info.account, info.market, id));
        }
        self.index_trigger(id, &info);
        if let Some(account) = self.accounts.get_mut(&info.account) {
            account.open_orders.insert(id);
            if let Some(cid) = info.client_order_id {
                account.client_ids.insert(cid, id);
            }
            if open.is_positive() {
                let p = account.positions.entry_or_default(info.market);
                match info.side {
                    Side::Buy => p.open_buy = Qty::new(p.open_buy.get() + open.get()),
                    Side::Sell => p.open_sell = Qty::new(p.open_sell.get() + open.get()),
                }
            }
        }
        self.orders.insert(id, info);
    }

    /// Forgets an open order (its open quantity must already be released).
    pub(crate) fn untrack_open(&mut self, id: OrderId) -> Option<OrderInfo> {
        let info = self.orders.remove(&id)?;
        self.touched.orders.push(id);
        self.touched.account(info.account);
        if let Some(expiry) = info.expires_at {
            self.expiries.remove(&(expiry, id));
        }
        if info.reduce_only {
            self.reduce_only.remove(&(info.account, info.market, id));
        }
        self.unindex_trigger(id, &info);
        if let Some(account) = self.accounts.get_mut(&info.account) {
            account.open_orders.remove(&id);
            if let Some(cid) = info.client_order_id {
                account.client_ids.remove(&cid);
            }
            if account.positions.get(&info.market).is_some_and(Position::is_flat) {
                account.positions.remove(&info.market);
            }
        }
        Some(info)
    }

    /// Removes an open order (from the book or the trigger book) and reports it.
    pub(crate) fn remove_order(&mut self, id: OrderId, reason: CancelReason, events: &mut Events) {
        let Some(info) = self.orders.get(&id) else {
            return;
        };
        let (market, account) = (info.market, info.account);
        let remaining = if let Some(pending) = &info.pending_trigger {
            pending.qty
        } else {
            self.touched.markets.push(market);
            let resting = self.markets.get_mut(&market).and_then(|m| m.book.cancel(id));
            let Some(resting) = resting else {
                unreachable!("open order {id} missing from its book")
            };
            self.reduce_open(id, resting.qty, false);
            resting.qty
        };
        self.untrack_open(id);
        events.push(Event::OrderCancelled { order: id, market, account, remaining, reason });
    }

    /// Cancels the resting orders of `market` that a fill at their price would lose on by more
    /// than the price band against the (new) mark: bids above `mark × (1 + band)`, asks below
    /// `mark × (1 − band)`. With the band at most IM − MM, no fill can then take an account at
    /// initial margin past maintenance, however the mark moved since the order was placed.
    pub(crate) fn cancel_outside_band(&mut self, market: MarketId, events: &mut Events) {
        let Some(m) = self.markets.get(&market) else { return };
        let (mark, band) = (i128::from(m.mark.get()), i128::from(m.spec.params.price_band_bps));
        let beyond = |price: Price, side: Side| {
            let loss = match side {
                Side::Buy => i128::from(price.get()) - mark,
                Side::Sell => mark - i128::from(price.get()),
            };
            loss * 10_000 > mark * band
        };
        let mut gone = Vec::new();
        for side in [Side::Buy, Side::Sell] {
            let losing = m.book.orders(side).take_while(|o| beyond(o.price, side));
            gone.extend(losing.map(|o| o.id));
        }
        for id in gone {
            self.remove_order(id, CancelReason::OutsideBand, events);
        }
    }

    pub(crate) fn cancel_order(
        &mut self,
        account: AccountId,
        cancel: &CancelOrder,
        events: &mut Events,
    ) -> Result<(), Reject> {
        let id = self.resolve_order(account, cancel.market, cancel.order)?;
        self.remove_order(id, CancelReason::Requested, events);
        Ok(())
    }

    /// Finds an open order of `account` in `market`.
    fn resolve_order(
        &self,
        account: AccountId,
        market: MarketId,
        order: OrderRef,
    ) -> Result<OrderId, Reject> {
        let id = match order {
            OrderRef::Id(id) => Some(id),
            OrderRef::Client(cid) => self.accounts[&account].client_ids.get(&cid).copied(),
        };
        match id.and_then(|id| self.orders.get(&id).map(|info| (id, info))) {
            Some((id, info)) if info.account == account && info.market == market => Ok(id),
            _ => reject(
                RejectCode::OrderUnknown,
                format!("no open order {order:?} of account {account} in market {market}"),
            ),
        }
    }

    pub(crate) fn cancel_all(
        &mut self,
        account: AccountId,
        market: Option<MarketId>,
        reason: CancelReason,
        events: &mut Events,
    ) -> Result<(), Reject> {
        let ids: Vec<OrderId> = self.accounts[&account]
            .open_orders
            .iter()
            .copied()
            .filter(|id| market.is_none_or(|m| self.orders.get(id).is_some_and(|o| o.market == m)))
            .collect();
        for id in ids {
            self.remove_order(id, reason, events);
        }
        Ok(())
    }

    pub(crate) fn replace_order(
        &mut self,
        account: AccountId,
        replace: &ReplaceOrder,
        events: &mut Events,
    ) -> Result<(), Reject> {
        if self.accounts.get(&account).is_some_and(|a| a.frozen) {
            return reject(RejectCode::AccountFrozen, format!("account {account} is frozen"));
        }
        let id = self.resolve_order(account, replace.market, replace.order)?;
        let info = self.orders[&id].clone();
        if info.pending_trigger.is_some() {
            return reject(
                RejectCode::InvalidReplace,
                "an untriggered stop order cannot be replaced; cancel it and place a new one",
            );
        }
        let market = self.active_market(replace.market)?;
        check_price_qty(replace.new_price, replace.new_qty)?;
        check_band(market.mark, replace.new_price, market.spec.params.price_band_bps)?;
        let current = market.book.get(id).map_or(Qty::ZERO, |o| o.qty);
        if replace.new_price == info.price && replace.new_qty == current {
            return reject(
                RejectCode::InvalidReplace,
                "the replace changes neither price nor size",
            );
        }
        if replace.new_qty > self.accounts[&account].limits.max_order_qty {
            return reject(
                RejectCode::OrderTooLarge,
                "new size exceeds the account's per-order limit",
            );
        }
        if replace.new_price == info.price && replace.new_qty < current {
            self.market_mut(replace.market)?.book.reduce(id, replace.new_qty);
            self.reduce_open(id, Qty::new(current.get() - replace.new_qty.get()), false);
            events.push(Event::OrderReplaced {
                order: id,
                price: info.price,
                qty: replace.new_qty,
                kept_priority: true,
            });
            return Ok(());
        }
        self.requeue(account, id, &info, current, replace, events)
    }

    /// Replace that loses priority: checks the new order as if fresh (the old one's open quantity
    /// released), then takes the old one out and sends the new one through the book.
    fn requeue(
        &mut self,
        account: AccountId,
        id: OrderId,
        info: &OrderInfo,
        current: Qty,
        replace: &ReplaceOrder,
        events: &mut Events,
    ) -> Result<(), Reject> {
        let order = NewOrder {
            market: replace.market,
            side: info.side,
            kind: OrderKind::Limit,
            price: replace.new_price,
            qty: replace.new_qty,
            time_in_force: match (info.post_only, info.expires_at) {
                (true, _) => TimeInForce::PostOnly,
                (false, Some(t)) => TimeInForce::Gtt(t),
                (false, None) => TimeInForce::Gtc,
            },
            reduce_only: info.reduce_only,
            client_order_id: info.client_order_id,
            self_trade: info.self_trade,
            trigger: None,
        };
        let account_ref = &self.accounts[&account];
        let mut position = account_ref.positions.get(&replace.market).copied().unwrap_or_default();
        let worst_before = margin::worst_position(&position);
        match info.side {
            Side::Buy => position.open_buy = Qty::new(position.open_buy.get() - current.get()),
            Side::Sell => position.open_sell = Qty::new(position.open_sell.get() - current.get()),
        }
        let new_qty = if info.reduce_only {
            reduce_only_qty(&position, info.side, replace.new_qty)?
        } else {
            replace.new_qty
        };
        let limit = self.markets[&replace.market]
            .spec
            .params
            .position_limit
            .min(account_ref.limits.max_position);
        let worst = worst_after(&position, info.side, new_qty);
        self.risk_gate(account_ref.member, &self.markets[&replace.market], worst_before, worst)?;
        if worst > i128::from(limit.get()) {
            return reject(
                RejectCode::PositionLimit,
                "the new size could take the position beyond its limit",
            );
        }
        if info.post_only
            && self.markets[&replace.market].book_crosses(info.side, replace.new_price)
        {
            return reject(
                RejectCode::PostOnlyWouldTake,
                "post-only order would take liquidity at the new price",
            );
        }
        let risk = margin::OrderRisk {
            market: replace.market,
            side: info.side,
            price: replace.new_price,
            qty: new_qty,
            added: Qty::new((new_qty.get() - current.get()).max(0)),
            reduce_only: info.reduce_only,
        };
        if margin::order_shortfall(self, account_ref, &risk).is_some() {
            return reject(
                RejectCode::InsufficientMargin,
                "initial margin and the loss a fill at the new price would book against the mark \
                 exceed equity",
            );
        }
        // Take the old order out quietly (the replace event reports it) and send the new one.
        let market = self.market_mut(replace.market)?;
        market.book.cancel(id);
        self.reduce_open(id, current, true);
        events.push(Event::OrderReplaced {
            order: id,
            price: replace.new_price,
            qty: new_qty,
            kept_priority: false,
        });
        self.execute(account, id, &order, new_qty, events)
    }

    /// Cancels an account's resting reduce-only orders in a market that can no longer reduce its
    /// position (flat, or now on their side). Ones that still reduce may rest larger than the
    /// position: when they trade, the book caps them at what is left of it.
    pub(crate) fn enforce_reduce_only(
        &mut self,
        market: MarketId,
        account: AccountId,
        events: &mut Events,
    ) {
        let Some(acct) = self.accounts.get(&account) else {
            return;
        };
        let position = acct.positions.get(&market).map_or(0, |p| p.qty.get());
        let range = (account, market, OrderId::new(0))..=(account, market, OrderId::new(u64::MAX));
        let offending: Vec<OrderId> = self
            .reduce_only
            .range(range)
            .map(|&(_, _, id)| id)
            .filter(|id| self.orders.get(id).is_some_and(|o| !reduces(position, o.side)))
            .collect();
        for id in offending {
            self.remove_order(id, CancelReason::ReduceOnly, events);
        }
    }

    pub(crate) fn set_deadman(
        &mut self,
        account: AccountId,
        timeout_ms: u64,
        events: &mut Events,
    ) -> Result<(), Reject> {
        let deadline = match timeout_ms {
            0 => None,
            ms => Some(
                self.time
                    .checked_add_ms(ms)
                    .ok_or_else(|| Reject::new(RejectCode::Overflow, "timeout too large"))?,
            ),
        };
        let acct = self.account_mut(account)?;
        let previous = std::mem::replace(&mut acct.deadman, deadline);
        if let Some(t) = previous {
            self.deadmen.remove(&(t, account));
        }
        if let Some(t) = deadline {
            self.deadmen.insert((t, account));
        }
        self.touched.globals = true;
        events.push(Event::DeadmanSet { account, deadline });
        Ok(())
    }

    /// Cancels all orders of accounts whose dead-man's switch deadline has passed.
    pub(crate) fn fire_deadmen(&mut self, events: &mut Events) {
        while let Some(&(deadline, account)) = self.deadmen.first() {
            if deadline > self.time {
                break;
            }
            self.deadmen.remove(&(deadline, account));
            if let Some(acct) = self.accounts.get_mut(&account) {
                acct.deadman = None;
            }
            self.touched.account(account);
            self.touched.globals = true;
            events.push(Event::DeadmanFired { account });
            let _ = self.cancel_all(account, None, CancelReason::DeadmanSwitch, events);
        }
    }

    /// Removes good-til-time orders whose time has come.
    pub(crate) fn expire_orders(&mut self, events: &mut Events) {
        while let Some(&(expiry, id)) = self.expiries.first() {
            if expiry > self.time {
                break;
            }
            self.remove_order(id, CancelReason::Expired, events);
        }
    }

    pub(crate) fn authorise_key(
        &mut self,
        account: AccountId,
        auth: &AuthoriseKey,
        events: &mut Events,
    ) -> Result<(), Reject> {
        self.check_new_key(&auth.key)?;
        if self.accounts[&account].scoped_keys.len() >= MAX_SCOPED_KEYS {
            return reject(
                RejectCode::TooManyKeys,
                format!("an account may have at most {MAX_SCOPED_KEYS} scoped keys"),
            );
        }
        self.account_mut(account)?.scoped_keys.insert(auth.key, NonceWindow::default());
        self.keys.insert(auth.key, KeyGrant::Trading { account, expires_at: auth.expires_at });
        self.touched.keys.push(auth.key);
        events.push(Event::KeyAuthorised { account, key: auth.key });
        Ok(())
    }

    pub(crate) fn revoke_key(
        &mut self,
        account: AccountId,
        key: PublicKey,
        events: &mut Events,
    ) -> Result<(), Reject> {
        if self.account_mut(account)?.scoped_keys.remove(&key).is_none() {
            return reject(
                RejectCode::KeyUnknown,
                format!("{key} is not a scoped key of account {account}"),
            );
        }
        self.keys.remove(&key);
        self.touched.keys.push(key);
        events.push(Event::KeyRevoked { account, key });
        Ok(())
    }
}

impl crate::state::Market {
    /// True when an order on `side` at `price` would take liquidity.
    #[must_use]
    pub fn book_crosses(&self, side: Side, price: Price) -> bool {
        match side {
            Side::Buy => self.book.best_ask().is_some_and(|ask| ask <= price),
            Side::Sell => self.book.best_bid().is_some_and(|bid| bid >= price),
        }
    }
}

pub(crate) fn check_price_qty(price: Price, qty: Qty) -> Result<(), Reject> {
    if !qty.is_positive() {
        return reject(RejectCode::QtyNotPositive, format!("quantity {qty} must be positive"));
    }
    if !price.is_positive() {
        return reject(RejectCode::PriceNotPositive, format!("price {price} must be positive"));
    }
    if price.get() > MAX_TICKS || qty.get() > MAX_LOTS {
        return reject(
            RejectCode::Overflow,
            format!("price {price} × quantity {qty} is beyond the ledger's bounds"),
        );
    }
    Ok(())
}

pub(crate) fn check_order_type(
    order: &NewOrder,
    now: tokenbook_protocol::Timestamp,
) -> Result<(), Reject> {
    match (order.kind, order.time_in_force) {
        (OrderKind::Market, TimeInForce::Ioc | TimeInForce::Fok) | (OrderKind::Limit, _) => {}
        (OrderKind::Market, tif) => {
            return reject(
                RejectCode::InvalidOrderType,
                format!("a market order cannot be {tif:?}; use ioc or fok"),
            );
        }
    }
    if let TimeInForce::Gtt(expiry) = order.time_in_force {
        if expiry <= now {
            return reject(
                RejectCode::ExpiredOnArrival,
                format!("good-til-time {expiry} is not after block time {now}"),
            );
        }
    }
    Ok(())
}

/// Refuses prices further than `band_bps` from the mark.
pub(crate) fn check_band(mark: Price, price: Price, band_bps: u32) -> Result<(), Reject> {
    let distance = i128::from((price.get() - mark.get()).abs()) * 10_000;
    if distance > i128::from(mark.get()) * i128::from(band_bps) {
        return reject(
            RejectCode::PriceOutsideBand,
            format!("price {price} is more than {band_bps} bps from the mark {mark}"),
        );
    }
    Ok(())
}

/// The largest reduce-only quantity: at most the opposite position.
fn reduce_only_qty(position: &Position, side: Side, qty: Qty) -> Result<Qty, Reject> {
    let pos = position.qty.get();
    if !reduces(pos, side) {
        return reject(
            RejectCode::ReduceOnlyWouldIncrease,
            format!("a reduce-only {side:?} cannot reduce a position of {pos}"),
        );
    }
    Ok(Qty::new(qty.get().min(pos.abs())))
}

/// How many lots `owner`'s resting reduce-only orders on `maker_side` may trade: the size of
/// its position on the side those orders reduce (a resting sell reduces a long).
fn reduce_capacity(
    accounts: &crate::state::Accounts,
    owner: AccountId,
    market: MarketId,
    maker_side: Side,
) -> i64 {
    let position =
        accounts.get(&owner).and_then(|a| a.positions.get(&market)).map_or(0, |p| p.qty.get());
    match maker_side {
        Side::Sell => position.max(0),
        Side::Buy => (-position).max(0),
    }
}

/// True when trading `side` makes a position of `pos` smaller in size.
fn reduces(pos: i64, side: Side) -> bool {
    match side {
        Side::Buy => pos < 0,
        Side::Sell => pos > 0,
    }
}

/// Worst absolute position if all same-side open orders plus `qty` more fill.
fn worst_after(p: &Position, side: Side, qty: Qty) -> i128 {
    let pos = i128::from(p.qty.get());
    match side {
        Side::Buy => (pos + i128::from(p.open_buy.get()) + i128::from(qty.get())).abs(),
        Side::Sell => (pos - i128::from(p.open_sell.get()) - i128::from(qty.get())).abs(),
    }
}

fn style_of(order: &NewOrder) -> Style {
    match (order.kind, order.time_in_force) {
        (_, TimeInForce::Fok) => Style::FillOrKill,
        (OrderKind::Market, _) | (_, TimeInForce::Ioc) => Style::ImmediateOrCancel,
        (_, TimeInForce::PostOnly) => Style::PostOnly,
        (_, TimeInForce::Gtc | TimeInForce::Gtt(_)) => Style::Rest,
    }
}

fn order_info(
    account: AccountId,
    order: &NewOrder,
    pending_trigger: Option<Box<NewOrder>>,
) -> OrderInfo {
    OrderInfo {
        account,
        market: order.market,
        side: order.side,
        price: order.price,
        client_order_id: order.client_order_id,
        expires_at: match order.time_in_force {
            TimeInForce::Gtt(t) => Some(t),
            _ => None,
        },
        reduce_only: order.reduce_only,
        post_only: order.time_in_force == TimeInForce::PostOnly,
        self_trade: order.self_trade,
        pending_trigger,
        queue_seq: 0,
    }
}

/// A fee of `bps` on `value`, rounded toward the fee pool: charges round up, rebates round down
/// in size.
fn fee(value: i128, bps: i32) -> i128 {
    if bps >= 0 {
        margin::bps_ceil(value, i128::from(bps))
    } else {
        -((value * i128::from(-bps)) / 10_000)
    }
}

/// The book's self-trade group of an account: 0 for an account alone, else its clearing member
/// and its group number together — the group number is the member's to assign, so accounts of
/// two members never share a group whatever numbers they pick.
fn self_trade_key(account: &crate::state::Account) -> u128 {
    match account.self_trade_group {
        0 => 0,
        group => (u128::from(account.member.get()) << 64) | u128::from(group),
    }
}
