//! Newtypes for every identifier and quantity (STYLE.md 6).
//!
//! Each is a fixed-width integer with an explicit constructor (`new`) and accessor (`get`); there
//! is deliberately no `From<u64>` so a height cannot silently become a price. Arithmetic on
//! quantities is checked and returns `None` on overflow; callers turn that into a rejection.
//!
//! Units:
//! - [`Price`]: ticks of the market's tick size (i64). A market's tick size is in [`Cash`] units.
//! - [`Qty`]: lots of the market's lot size (i64), signed so positions can be short.
//! - [`Cash`]: the settlement asset's smallest unit (i128; one unit = 10⁻⁶ USD on the devnet).
//! - [`Timestamp`]: milliseconds since the Unix epoch, taken from block headers only.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// `new` and `get`, shared by every newtype below.
macro_rules! newtype_access {
    ($name:ident($inner:ty)) => {
        impl $name {
            /// Wraps a raw value.
            #[must_use]
            pub const fn new(value: $inner) -> Self {
                Self(value)
            }

            /// The raw value.
            #[must_use]
            pub const fn get(self) -> $inner {
                self.0
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

/// Declares an identifier newtype over an unsigned integer.
macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident($inner:ty)) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash,
            Encode, Decode, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name($inner);

        newtype_access!($name($inner));
    };
}

id_type!(
    /// A ledger account (member or trader), assigned sequentially by the ledger at registration.
    AccountId(u64)
);
id_type!(
    /// A listed market, assigned sequentially by the ledger when governance lists it.
    MarketId(u32)
);
id_type!(
    /// A price index that members publish (e.g. frontier-model inference price).
    IndexId(u32)
);
id_type!(
    /// An order, assigned by the ledger: `(height << 20) | sequence-in-block`, so ids are unique
    /// and increase with time.
    OrderId(u64)
);
id_type!(
    /// A trader-chosen order id, unique among the account's open orders.
    ClientOrderId(u64)
);
id_type!(
    /// A governance proposal, assigned sequentially by the ledger.
    ProposalId(u64)
);
id_type!(
    /// Block height; genesis state is height 0, the first block is height 1.
    Height(u64)
);
id_type!(
    /// Consensus round within a height.
    Round(u32)
);
id_type!(
    /// Milliseconds since the Unix epoch (block time; never the local clock in pure code).
    Timestamp(u64)
);

impl Height {
    /// The next height, or `None` at `u64::MAX`.
    #[must_use]
    pub fn next(self) -> Option<Self> {
        self.0.checked_add(1).map(Self)
    }
}

impl Round {
    /// The next round, or `None` at `u32::MAX`.
    #[must_use]
    pub fn next(self) -> Option<Self> {
        self.0.checked_add(1).map(Self)
    }
}

impl Timestamp {
    /// `self + ms`, or `None` on overflow.
    #[must_use]
    pub fn checked_add_ms(self, ms: u64) -> Option<Self> {
        self.0.checked_add(ms).map(Self)
    }

    /// Absolute distance between two timestamps in milliseconds.
    #[must_use]
    pub fn abs_diff_ms(self, other: Self) -> u64 {
        self.0.abs_diff(other.0)
    }
}

/// Declares a signed quantity newtype with checked arithmetic.
macro_rules! quantity_type {
    ($(#[$meta:meta])* $name:ident($inner:ty)) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode,
        )]
        pub struct $name($inner);

        newtype_access!($name($inner));

        impl $name {
            /// Zero.
            pub const ZERO: Self = Self(0);

            /// `self + rhs`, or `None` on overflow.
            #[must_use]
            pub fn checked_add(self, rhs: Self) -> Option<Self> {
                self.0.checked_add(rhs.0).map(Self)
            }

            /// `self - rhs`, or `None` on overflow.
            #[must_use]
            pub fn checked_sub(self, rhs: Self) -> Option<Self> {
                self.0.checked_sub(rhs.0).map(Self)
            }

            /// `-self`, or `None` on overflow.
            #[must_use]
            pub fn checked_neg(self) -> Option<Self> {
                self.0.checked_neg().map(Self)
            }

            /// True when strictly greater than zero.
            #[must_use]
            pub const fn is_positive(self) -> bool {
                self.0 > 0
            }
        }

        // JSON carries quantities as decimal strings: JavaScript numbers lose precision past
        // 2^53, and an i128 does not fit them at all.
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                text.parse::<$inner>().map(Self).map_err(serde::de::Error::custom)
            }
        }
    };
}

quantity_type!(
    /// A price in ticks of the market's tick size.
    Price(i64)
);
quantity_type!(
    /// A quantity in lots of the market's lot size; positions are signed (short < 0).
    Qty(i64)
);
quantity_type!(
    /// An amount of the settlement asset in its smallest unit.
    Cash(i128)
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_arithmetic_refuses_overflow() {
        assert_eq!(Price::new(i64::MAX).checked_add(Price::new(1)), None);
        assert_eq!(Qty::new(i64::MIN).checked_neg(), None);
        assert_eq!(Cash::new(i128::MIN).checked_sub(Cash::new(1)), None);
        assert_eq!(Height::new(u64::MAX).next(), None);
        assert_eq!(Price::new(5).checked_sub(Price::new(7)), Some(Price::new(-2)));
    }

    #[test]
    fn quantities_are_json_strings() {
        let json =
            serde_json::to_string(&Cash::new(-170_141_183_460_469_231_731_687_303_715_884_105_728))
                .unwrap();
        assert_eq!(json, "\"-170141183460469231731687303715884105728\"");
        let back: Cash = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Cash::new(i128::MIN));
        assert!(serde_json::from_str::<Qty>("\"1.5\"").is_err());
    }
}
