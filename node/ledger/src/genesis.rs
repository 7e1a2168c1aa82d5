//! The devnet's genesis contents: two indexes and the two first contracts.
//!
//! - `AIT-FRONTIER-DEC26`: frontier-model inference, quoted in USD per 1M output tokens, 100M
//!   tokens per contract, $0.01 tick — one tick on one contract is $1.
//! - `H100-HR-DEC26`: GPU time, quoted in USD per H100-hour, 1,000 hours per contract, $0.01 tick —
//!   one tick on one contract is $10.
//!
//! [`inference_contract`] and [`gpu_hour_contract`] (and [`devnet`], which tests use) expire
//! 2026-12-31 00:00 UTC; [`dated_devnet`] (what `tokenbook-devnet` runs) lists the same
//! contracts dated by its genesis time — they expire at 00:00 UTC on the last day of the first month ending at least 30 days after genesis,
//! and their symbols name that month (`…-DEC26`, `…-JAN27`) — so a devnet started on any day
//! trades live contracts. All settle on a one-hour TWAP of their index. Cash is in micro-USD
//! (see [`crate::units`]).

use crate::state::{Genesis, GenesisAdmin, GenesisMember};
use tokenbook_protocol::{
    AccountLimits, Cash, IndexId, IndexSpec, MarketParams, MarketSpec, Price, Qty, RiskParams,
    Timestamp,
};

/// 2026-12-31T00:00:00Z in milliseconds.
pub const DEC26_EXPIRY_MS: u64 = 1_798_675_200_000;

/// Fees, margins, band and position limit of the devnet contracts.
#[must_use]
pub fn devnet_params() -> MarketParams {
    MarketParams {
        maker_fee_bps: -1,
        taker_fee_bps: 4,
        initial_margin_bps: 1_000,
        maintenance_margin_bps: 500,
        price_band_bps: 500,
        position_limit: Qty::new(10_000),
        impact_lots: Qty::new(10),
    }
}

/// The inference-token contract.
#[must_use]
pub fn inference_contract() -> MarketSpec {
    MarketSpec {
        symbol: "AIT-FRONTIER-DEC26".into(),
        index: IndexId::new(1),
        tick_size: Cash::new(10_000),
        lot_size: 1,
        multiplier: 100,
        expiry: Timestamp::new(DEC26_EXPIRY_MS),
        settlement_window_ms: 3_600_000,
        reference_price: Price::new(1_000), // $10.00 per 1M output tokens
        params: devnet_params(),
    }
}

/// The GPU-hour contract.
#[must_use]
pub fn gpu_hour_contract() -> MarketSpec {
    MarketSpec {
        symbol: "H100-HR-DEC26".into(),
        index: IndexId::new(2),
        tick_size: Cash::new(10_000),
        lot_size: 1,
        multiplier: 1_000,
        expiry: Timestamp::new(DEC26_EXPIRY_MS),
        settlement_window_ms: 3_600_000,
        reference_price: Price::new(250), // $2.50 per H100-hour
        params: devnet_params(),
    }
}

/// The devnet's guaranty-fund floor per member: $10,000 (in micro-USD). Genesis members start
/// with it posted (an opening deposit, [`crate::apply::genesis_state`]).
pub const GUARANTY_FLOOR: i128 = 10_000_000_000;

/// Oracle, liquidation, settlement, portfolio-margin and default-waterfall parameters of the
/// devnet: a member's guaranty requirement is 10% of its traders' initial margin, at least
/// [`GUARANTY_FLOOR`]; one default may use all of a surviving member's contribution.
#[must_use]
pub fn devnet_risk() -> RiskParams {
    RiskParams {
        oracle_freshness_ms: 30_000,
        max_liquidations_per_block: 64,
        liquidation_fee_bps: 50,
        calendar_spread_charge_bps: 5_000,
        settlement_epoch_ms: 43_200_000,
        mark_band_bps: 100,
        cross_index_credit_bps: 0,
        guaranty_floor: Cash::new(GUARANTY_FLOOR),
        guaranty_margin_bps: 1_000,
        guaranty_assessment_cap_bps: 10_000,
    }
}

/// A devnet genesis: the given members and admins, both indexes (ids 1 and 2) and both contracts.
#[must_use]
pub fn devnet(
    chain_id: &str,
    time: Timestamp,
    members: Vec<GenesisMember>,
    admins: Vec<GenesisAdmin>,
) -> Genesis {
    Genesis {
        chain_id: chain_id.to_owned(),
        time,
        members,
        admins,
        indexes: vec![
            IndexSpec { name: "frontier-inference-usd-per-1m-output-tokens".into() },
            IndexSpec { name: "h100-usd-per-hour".into() },
        ],
        markets: vec![inference_contract(), gpu_hour_contract()],
        risk: devnet_risk(),
        member_limits: AccountLimits {
            max_order_qty: Qty::new(1_000),
            max_open_orders: 1_000,
            max_position: Qty::new(10_000),
        },
    }
}

/// [`devnet`] with its contracts dated by `time` (see the module docs): a devnet started on any
/// day trades contracts that have not expired.
#[must_use]
pub fn dated_devnet(
    chain_id: &str,
    time: Timestamp,
    members: Vec<GenesisMember>,
    admins: Vec<GenesisAdmin>,
) -> Genesis {
    let mut genesis = devnet(chain_id, time, members, admins);
    genesis.markets = dated(genesis.markets, time);
    genesis
}

/// Milliseconds per day.
const DAY_MS: u64 = 86_400_000;

/// The contracts re-dated to expire on the last day of the first month whose last day starts
/// at least 30 days after `genesis` (symbol suffix `MONYY` names it).
fn dated(mut contracts: Vec<MarketSpec>, genesis: Timestamp) -> Vec<MarketSpec> {
    const MONTHS: [&str; 12] =
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
    let earliest = genesis.get().saturating_add(30 * DAY_MS);
    let (mut year, mut month, _) = civil_from_days(earliest / DAY_MS);
    if last_day(year, month) * DAY_MS < earliest {
        (year, month) = next_month(year, month);
    }
    let name = usize::try_from(month - 1).ok().and_then(|m| MONTHS.get(m)).unwrap_or(&"M");
    let suffix = format!("{name}{:02}", year % 100);
    for contract in &mut contracts {
        contract.expiry = Timestamp::new(last_day(year, month) * DAY_MS);
        if let Some((base, _)) = contract.symbol.rsplit_once('-') {
            contract.symbol = format!("{base}-{suffix}");
        }
    }
    contracts
}

fn next_month(year: u64, month: u64) -> (u64, u64) {
    if month == 12 { (year + 1, 1) } else { (year, month + 1) }
}

/// Days since 1970-01-01 of the month's last day.
fn last_day(year: u64, month: u64) -> u64 {
    let (y, m) = next_month(year, month);
    days_from_civil(y, m, 1) - 1
}

/// Days since 1970-01-01 of a proleptic Gregorian date (years ≥ 1970), integers only.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenbook_protocol::{Keypair, Validator};

    #[test]
    fn devnet_genesis_builds_and_round_trips_through_json() {
        let key = |n: u8| Keypair::from_seed(&[n; 32]).public_key();
        let members = (1..=4)
            .map(|n| GenesisMember {
                name: format!("Member {n}"),
                key: key(n),
                validator: Some(Validator {
                    consensus_key: key(10 + n),
                    network_key: key(20 + n),
                    power: 1,
                }),
            })
            .collect();
        let genesis =
            devnet("tokenbook-devnet", Timestamp::new(1_795_478_400_000), members, vec![]);
        let json = serde_json::to_string_pretty(&genesis).unwrap();
        let back: Genesis = serde_json::from_str(&json).unwrap();
        assert_eq!(back, genesis);
        let state = crate::genesis_state(&genesis).unwrap();
        assert_eq!(
            state.market_by_symbol("AIT-FRONTIER-DEC26").map(|m| m.lot_tick_value),
            Some(Cash::new(1_000_000))
        );
        assert_eq!(
            state.market_by_symbol("H100-HR-DEC26").map(|m| m.lot_tick_value),
            Some(Cash::new(10_000_000))
        );
        assert_eq!(state.validators.validators.len(), 4);
    }

    #[test]
    fn devnet_contracts_are_dated_by_genesis() {
        let at = |ms: u64| {
            let m = dated_devnet("c", Timestamp::new(ms), vec![], vec![]).markets;
            (m[0].symbol.clone(), m[1].symbol.clone(), m[0].expiry.get())
        };
        // 2026-11-25: the first month ending 30+ days later is December 2026.
        let (ait, gpu, expiry) = at(1_795_564_800_000);
        assert_eq!((ait.as_str(), gpu.as_str()), ("AIT-FRONTIER-DEC26", "H100-HR-DEC26"));
        assert_eq!(expiry, DEC26_EXPIRY_MS);
        // 2026-12-15: January 2027, expiring 2027-01-31.
        let (ait, _, expiry) = at(1_797_292_800_000);
        assert_eq!(ait, "AIT-FRONTIER-JAN27");
        assert_eq!(expiry, 1_801_353_600_000);
        // 2027-01-30: 30 days later is 2027-03-01, so March.
        assert_eq!(at(1_801_267_200_000).0, "AIT-FRONTIER-MAR27");
        // A leap year's February: 2028-01-10 → 2028-02-09 → February 2028, expiring the 29th.
        let (ait, _, expiry) = at(1_831_075_200_000);
        assert_eq!(ait, "AIT-FRONTIER-FEB28");
        assert_eq!(expiry, 1_835_395_200_000);
        assert_eq!(civil_from_days(days_from_civil(2028, 2, 29)), (2028, 2, 29));
        // 2026-12-01 12:00: the 31st starts before 30 days have passed, so January.
        assert_eq!(at(1_796_126_400_000).0, "AIT-FRONTIER-JAN27");
    }
}
