//! The devnet's genesis contents: two indexes and the two first contracts.
//!
//! - `AIT-FRONTIER-DEC26`: frontier-model inference, quoted in USD per 1M output tokens, 100M
//!   tokens per contract, $0.01 tick — one tick on one contract is $1.
//! - `H100-HR-DEC26`: GPU time, quoted in USD per H100-hour, 1,000 hours per contract, $0.01 tick —
//!   one tick on one contract is $10.
//!
//! Both expire 2026-12-31 00:00 UTC and settle on a one-hour TWAP of their index. Cash is in
//! micro-USD (see [`crate::units`]).

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
        price_band_bps: 2_000,
        position_limit: Qty::new(10_000),
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

/// Oracle, liquidation and settlement parameters of the devnet.
#[must_use]
pub fn devnet_risk() -> RiskParams {
    RiskParams {
        oracle_freshness_ms: 30_000,
        max_liquidations_per_block: 64,
        liquidation_fee_bps: 50,
        calendar_spread_credit_bps: 5_000,
        settlement_epoch_ms: 43_200_000,
        mark_band_bps: 100,
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
}
