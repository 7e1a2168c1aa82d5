//! Human amounts at the edge: exact decimal text ↔ the ledger's integers (ARCHITECTURE.md
//! "Ledger": rust_decimal at the edges only).
//!
//! Cash is in USD with [`CASH_DECIMALS`] decimals (1 unit = 10⁻⁶ USD). A price is USD per quoted
//! unit (per 1M output tokens, per H100-hour) and must sit exactly on the market's tick grid; a
//! quantity is in contracts and must be a whole number of lots. Nothing is rounded: text off the
//! grid is refused with its own code, so `12.345` on a $0.01 tick is an error, not `12.34`.

use rust_decimal::Decimal;
use std::str::FromStr;
use tokenbook_protocol::{Cash, MarketSpec, Price, Qty};

/// Decimal places of the settlement asset's smallest unit.
pub const CASH_DECIMALS: u32 = 6;

/// Why text is not an amount on the grid. Each variant has a stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// Not a decimal number.
    #[error("{0:?} is not a decimal number")]
    NotANumber(String),
    /// More decimals than the settlement asset has.
    #[error("{0} has more than {CASH_DECIMALS} decimals")]
    TooPrecise(String),
    /// A price between two ticks.
    #[error("price {price} is not a multiple of the tick size {tick}")]
    OffTick {
        /// The price as given.
        price: String,
        /// The tick size in USD.
        tick: String,
    },
    /// A quantity that is not a whole number of lots.
    #[error("quantity {qty} is not a whole number of lots of {lot} contracts")]
    OffLot {
        /// The quantity as given.
        qty: String,
        /// Contracts per lot.
        lot: u64,
    },
    /// Beyond the integer range.
    #[error("{0} is out of range")]
    OutOfRange(String),
}

impl UnitError {
    /// Stable machine-readable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotANumber(_) => "not_a_number",
            Self::TooPrecise(_) => "too_precise",
            Self::OffTick { .. } => "price_off_tick",
            Self::OffLot { .. } => "qty_off_lot",
            Self::OutOfRange(_) => "out_of_range",
        }
    }
}

fn parse(text: &str) -> Result<Decimal, UnitError> {
    Decimal::from_str_exact(text.trim())
        .or_else(|_| Decimal::from_str(text.trim()))
        .map_err(|_| UnitError::NotANumber(text.to_owned()))
}

fn whole(value: Decimal, text: &str) -> Result<i128, UnitError> {
    if !value.fract().is_zero() {
        return Err(UnitError::TooPrecise(text.to_owned()));
    }
    i128::try_from(value).map_err(|_| UnitError::OutOfRange(text.to_owned()))
}

fn micro(text: &str) -> Result<i128, UnitError> {
    let value = parse(text)?;
    let scaled = value
        .checked_mul(Decimal::from(10i64.pow(CASH_DECIMALS)))
        .ok_or_else(|| UnitError::OutOfRange(text.to_owned()))?;
    whole(scaled, text)
}

/// USD text → cash units.
///
/// # Errors
/// Not a number, more than 6 decimals, or out of range.
pub fn cash_from_text(text: &str) -> Result<Cash, UnitError> {
    micro(text).map(Cash::new)
}

/// Cash units → USD text with all 6 decimals.
#[must_use]
pub fn cash_to_text(cash: Cash) -> String {
    // Integer formatting: every i128 prints, where a decimal holds only 96 bits.
    let scale = 10u128.pow(CASH_DECIMALS);
    let (sign, units) = (if cash.get() < 0 { "-" } else { "" }, cash.get().unsigned_abs());
    let width = CASH_DECIMALS as usize;
    format!("{sign}{}.{:0width$}", units / scale, units % scale)
}

/// Cash units → USD text without trailing zeros (`12.5`, not `12.500000`).
#[must_use]
pub fn cash_to_short_text(cash: Cash) -> String {
    cash_to_text(cash).trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// USD-per-quoted-unit text → ticks of the market.
///
/// # Errors
/// Not a number, finer than a cash unit, off the tick grid, or out of range.
pub fn price_from_text(spec: &MarketSpec, text: &str) -> Result<Price, UnitError> {
    price_from_text_on(spec.tick_size, text)
}

/// USD-per-quoted-unit text → ticks of `tick` cash units (for callers that know a market's
/// tick size only, as the CLI does from `/v1/markets`).
///
/// # Errors
/// Not a number, finer than a cash unit, off the tick grid, or out of range.
pub fn price_from_text_on(tick: Cash, text: &str) -> Result<Price, UnitError> {
    let off_tick = || UnitError::OffTick { price: text.to_owned(), tick: cash_to_short_text(tick) };
    let units = micro(text).map_err(|e| match e {
        UnitError::TooPrecise(_) => off_tick(),
        other => other,
    })?;
    if tick.get() <= 0 || units % tick.get() != 0 {
        return Err(off_tick());
    }
    i64::try_from(units / tick.get())
        .map(Price::new)
        .map_err(|_| UnitError::OutOfRange(text.to_owned()))
}

/// Ticks → USD-per-quoted-unit text.
#[must_use]
pub fn price_to_text(spec: &MarketSpec, price: Price) -> String {
    price_to_text_on(spec.tick_size, price)
}

/// Ticks of `tick` cash units → USD-per-quoted-unit text, without trailing zeros.
#[must_use]
pub fn price_to_text_on(tick: Cash, price: Price) -> String {
    cash_to_short_text(Cash::new(i128::from(price.get()).saturating_mul(tick.get())))
}

/// Contracts text → lots of the market.
///
/// # Errors
/// Not a number, not a whole number of lots, or out of range.
pub fn qty_from_text(spec: &MarketSpec, text: &str) -> Result<Qty, UnitError> {
    let contracts = whole(parse(text)?, text).map_err(|e| match e {
        UnitError::TooPrecise(_) => UnitError::OffLot { qty: text.to_owned(), lot: spec.lot_size },
        other => other,
    })?;
    let lot = i128::from(spec.lot_size.max(1));
    if contracts % lot != 0 {
        return Err(UnitError::OffLot { qty: text.to_owned(), lot: spec.lot_size });
    }
    i64::try_from(contracts / lot).map(Qty::new).map_err(|_| UnitError::OutOfRange(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenbook_protocol::{IndexId, MarketParams, Timestamp};

    fn spec() -> MarketSpec {
        MarketSpec {
            symbol: "AIT-FRONTIER-DEC26".into(),
            index: IndexId::new(1),
            tick_size: Cash::new(10_000),
            lot_size: 5,
            multiplier: 100,
            expiry: Timestamp::new(1),
            settlement_window_ms: 1,
            reference_price: Price::new(1_000),
            params: MarketParams {
                maker_fee_bps: 0,
                taker_fee_bps: 0,
                initial_margin_bps: 1_000,
                maintenance_margin_bps: 500,
                price_band_bps: 1_000,
                position_limit: Qty::new(1),
                impact_lots: Qty::new(1),
            },
        }
    }

    #[test]
    fn prices_on_the_grid_only() {
        let s = spec();
        assert_eq!(price_from_text(&s, "12.34"), Ok(Price::new(1_234)));
        assert_eq!(price_from_text(&s, "12.340000"), Ok(Price::new(1_234)));
        assert_eq!(price_to_text(&s, Price::new(1_234)), "12.34");
        assert_eq!(price_from_text(&s, "12.345").unwrap_err().code(), "price_off_tick");
        assert_eq!(price_from_text(&s, "12.3400001").unwrap_err().code(), "price_off_tick");
        assert_eq!(price_from_text(&s, "abc").unwrap_err().code(), "not_a_number");
        assert_eq!(price_from_text(&s, "1e40").unwrap_err().code(), "not_a_number");
    }

    #[test]
    fn cash_and_quantities_exact() {
        assert_eq!(cash_from_text("1000.5"), Ok(Cash::new(1_000_500_000)));
        assert_eq!(cash_from_text("0.0000001").unwrap_err().code(), "too_precise");
        assert_eq!(cash_to_text(Cash::new(-1_500_000)), "-1.500000");
        let s = spec();
        assert_eq!(qty_from_text(&s, "15"), Ok(Qty::new(3)));
        assert_eq!(qty_from_text(&s, "7").unwrap_err().code(), "qty_off_lot");
        assert_eq!(qty_from_text(&s, "2.5").unwrap_err().code(), "qty_off_lot");
    }

    /// Issue #18, finding 7: cash beyond a decimal's 96-bit mantissa (~7.9 × 10^28 units) was a
    /// panic in `cash_to_text` (the CLI's balance display) and raw units in the short form.
    #[test]
    fn cash_beyond_a_decimals_range_prints_exactly() {
        let huge = 10i128.pow(36) + 5;
        assert_eq!(cash_to_text(Cash::new(huge)), "1000000000000000000000000000000.000005");
        assert_eq!(cash_to_short_text(Cash::new(huge)), "1000000000000000000000000000000.000005");
        assert_eq!(
            cash_to_short_text(Cash::new(-(10i128.pow(36)))),
            "-1000000000000000000000000000000"
        );
        assert_eq!(cash_to_text(Cash::new(i128::MIN)).len(), 41);
        assert_eq!(cash_to_short_text(Cash::new(-1_500_000)), "-1.5");
        assert_eq!(cash_to_short_text(Cash::new(5)), "0.000005");
        assert_eq!(cash_to_short_text(Cash::ZERO), "0");
    }
}
