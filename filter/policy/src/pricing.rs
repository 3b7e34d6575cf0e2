//! Prices and cost, in integer micro-dollars so that sums never drift.

use crate::config::raw::RawPricing;

/// Micro-dollars per million tokens, per kind of token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pricing {
    pub input: u64,
    pub cached_input: u64,
    pub cache_write: u64,
    pub output: u64,
}

/// Token counts as the provider reported them, normalised (see genai-usage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenCounts {
    /// Every prompt token, cached and cache-written ones included.
    pub input: u64,
    pub cached_input: u64,
    pub cache_write: u64,
    /// Every generated token, reasoning included.
    pub output: u64,
}

/// Largest price accepted, per million tokens ($100,000), to keep arithmetic far from overflow.
const MAX_DOLLARS_PER_MILLION: f64 = 100_000.0;

impl Pricing {
    /// Converts dollar prices to micro-dollars; `Err` names the offending field.
    pub fn from_raw(raw: &RawPricing) -> Result<Self, (&'static str, String)> {
        let micro = |field: &'static str, v: f64| -> Result<u64, (&'static str, String)> {
            if !v.is_finite() || !(0.0..=MAX_DOLLARS_PER_MILLION).contains(&v) {
                return Err((
                    field,
                    format!("must be a price between 0 and {MAX_DOLLARS_PER_MILLION} dollars"),
                ));
            }
            // Prices have at most 6 decimals in practice; rounding makes 2.5 exactly 2_500_000.
            Ok((v * 1_000_000.0).round() as u64)
        };
        let input = micro("input_per_million", raw.input_per_million)?;
        Ok(Pricing {
            input,
            cached_input: raw
                .cached_input_per_million
                .map_or(Ok(input), |v| micro("cached_input_per_million", v))?,
            cache_write: raw
                .cache_write_per_million
                .map_or(Ok(input), |v| micro("cache_write_per_million", v))?,
            output: micro("output_per_million", raw.output_per_million)?,
        })
    }

    /// The cost of one request in micro-dollars, rounded to the nearest micro-dollar once,
    /// at the end. Cached and cache-written tokens are priced apart from the rest of the input.
    pub fn cost_microdollars(&self, t: &TokenCounts) -> u64 {
        let uncached = t.input.saturating_sub(t.cached_input).saturating_sub(t.cache_write);
        let pico: u128 = u128::from(uncached) * u128::from(self.input)
            + u128::from(t.cached_input) * u128::from(self.cached_input)
            + u128::from(t.cache_write) * u128::from(self.cache_write)
            + u128::from(t.output) * u128::from(self.output);
        // pico is micro-dollars × 1e6 (prices are per million tokens).
        let micro = (pico + 500_000) / 1_000_000;
        u64::try_from(micro).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(input: f64, cached: Option<f64>, write: Option<f64>, output: f64) -> RawPricing {
        RawPricing {
            input_per_million: input,
            cached_input_per_million: cached,
            cache_write_per_million: write,
            output_per_million: output,
        }
    }

    #[test]
    fn converts_dollars_exactly() {
        let p = Pricing::from_raw(&raw(2.5, Some(1.25), None, 10.0)).unwrap();
        assert_eq!(
            p,
            Pricing {
                input: 2_500_000,
                cached_input: 1_250_000,
                cache_write: 2_500_000,
                output: 10_000_000
            }
        );
        assert_eq!(Pricing::from_raw(&raw(0.15, None, None, 0.6)).unwrap().input, 150_000);
        assert_eq!(
            Pricing::from_raw(&raw(-1.0, None, None, 1.0)).unwrap_err().0,
            "input_per_million"
        );
        assert_eq!(
            Pricing::from_raw(&raw(1.0, None, Some(f64::NAN), 1.0)).unwrap_err().0,
            "cache_write_per_million"
        );
    }

    #[test]
    fn cost_prices_each_kind_of_token() {
        // gpt-4o: $2.50 in, $1.25 cached, $10 out.
        let p = Pricing::from_raw(&raw(2.5, Some(1.25), None, 10.0)).unwrap();
        let t = TokenCounts {
            input: 1000,
            cached_input: 400,
            cache_write: 0,
            output: 500,
        };
        // 600 × 2.5 + 400 × 1.25 + 500 × 10 = 1500 + 500 + 5000 = 7000 µ$
        assert_eq!(p.cost_microdollars(&t), 7000);
        // Anthropic-style cache write priced apart.
        let p = Pricing::from_raw(&raw(3.0, Some(0.3), Some(3.75), 15.0)).unwrap();
        let t = TokenCounts {
            input: 40,
            cached_input: 12,
            cache_write: 13,
            output: 21,
        };
        // 15×3 + 12×0.3 + 13×3.75 + 21×15 = 45 + 3.6 + 48.75 + 315 = 412.35 → 412
        assert_eq!(p.cost_microdollars(&t), 412);
    }

    #[test]
    fn sums_do_not_drift() {
        let p = Pricing::from_raw(&raw(0.1, None, None, 0.3)).unwrap();
        let t = TokenCounts {
            input: 10,
            cached_input: 0,
            cache_write: 0,
            output: 10,
        };
        let one = p.cost_microdollars(&t); // 1 + 3 = 4 µ$
        assert_eq!(one, 4);
        assert_eq!((0..1_000_000).map(|_| one).sum::<u64>(), 4_000_000);
        let huge = TokenCounts {
            input: u64::MAX,
            cached_input: 0,
            cache_write: 0,
            output: u64::MAX,
        };
        assert!(p.cost_microdollars(&huge) > 0, "no overflow panic");
    }
}
