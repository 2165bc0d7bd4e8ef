//! Money: integer minor units of an ISO 4217 currency, and line items with VAT included.
//!
//! Rounding: a line's VAT is `total × rate / (10000 + rate)` rounded half away from zero,
//! computed on the line total (unit price × quantity); the payment's VAT is the sum of its
//! lines. Totals are exact integer sums; nothing here ever touches a float.
use serde::{Deserialize, Serialize};

use crate::error::{Result, ServiceError};

/// The largest amount accepted, in minor units: it stays exact in a JSON number (< 2^53).
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;
pub const MAX_ITEMS: usize = 100;

/// ISO 4217 codes whose minor-unit exponent is not 2.
const EXPONENTS: &[(&str, u8)] = &[
    ("BIF", 0),
    ("CLP", 0),
    ("DJF", 0),
    ("GNF", 0),
    ("ISK", 0),
    ("JPY", 0),
    ("KMF", 0),
    ("KRW", 0),
    ("PYG", 0),
    ("RWF", 0),
    ("UGX", 0),
    ("UYI", 0),
    ("VND", 0),
    ("VUV", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("XPF", 0),
    ("BHD", 3),
    ("IQD", 3),
    ("JOD", 3),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("TND", 3),
    ("CLF", 4),
    ("UYW", 4),
];

/// Active ISO 4217 codes with exponent 2.
const TWO_DECIMALS: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF",
    "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR",
    "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF",
    "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR", "KPW", "KYD", "KZT", "LAK", "LBP",
    "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "PAB", "PEN", "PGK",
    "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD",
    "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TOP",
    "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "UYU", "UZS", "VES", "WST", "XCD", "YER", "ZAR",
    "ZMW", "ZWG",
];

/// An ISO 4217 currency code that Paygate knows, with its exponent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Currency {
    code: &'static str,
    exponent: u8,
}

impl Currency {
    pub fn parse(code: &str, field: &[&str]) -> Result<Currency> {
        let upper = code.trim().to_ascii_uppercase();
        if let Some((code, exponent)) = EXPONENTS.iter().find(|(c, _)| *c == upper) {
            return Ok(Currency {
                code,
                exponent: *exponent,
            });
        }
        if let Some(code) = TWO_DECIMALS.iter().find(|c| **c == upper) {
            return Ok(Currency { code, exponent: 2 });
        }
        Err(ServiceError::invalid(
            "INVALID_CURRENCY",
            field,
            format!("{code:?} is not an ISO 4217 currency code"),
        ))
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Digits after the decimal point: JPY 0, EUR 2, BHD 3.
    pub fn exponent(&self) -> u8 {
        self.exponent
    }

    /// Formats minor units for people: 1050 EUR → "10.50 EUR", 1050 JPY → "1050 JPY".
    pub fn format(&self, minor: i64) -> String {
        let exp = u32::from(self.exponent);
        if exp == 0 {
            return format!("{minor} {}", self.code);
        }
        let div = 10i64.pow(exp);
        let sign = if minor < 0 { "-" } else { "" };
        let abs = minor.unsigned_abs();
        let div = div.unsigned_abs();
        format!(
            "{sign}{}.{:0width$} {}",
            abs / div,
            abs % div,
            self.code,
            width = exp as usize
        )
    }
}

/// Checks an amount that must be positive (a charge, a capture, a refund).
pub fn positive_amount(amount: i64, field: &[&str]) -> Result<i64> {
    if amount <= 0 {
        return Err(ServiceError::invalid(
            "INVALID_AMOUNT",
            field,
            "amount must be greater than 0",
        ));
    }
    if amount > MAX_AMOUNT {
        return Err(ServiceError::invalid(
            "AMOUNT_TOO_LARGE",
            field,
            format!("amount must be at most {MAX_AMOUNT} minor units"),
        ));
    }
    Ok(amount)
}

/// A line item as a client sends it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ItemInput {
    pub name: String,
    pub description: Option<String>,
    /// Unit price including VAT, in minor units.
    pub unit_price: i64,
    /// VAT rate in basis points: 2500 = 25 %.
    pub vat_rate: i32,
    pub quantity: Option<i32>,
    pub client_item_reference: Option<String>,
}

/// A checked line item with its computed totals.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub name: String,
    pub description: Option<String>,
    pub unit_price: i64,
    pub vat_rate: i32,
    pub quantity: i32,
    pub client_item_reference: Option<String>,
    pub total: i64,
    pub vat_amount: i64,
}

/// VAT contained in a VAT-inclusive total, rounded half away from zero.
pub fn included_vat(total: i64, rate_bp: i32) -> i64 {
    let num = i128::from(total) * i128::from(rate_bp);
    let den = 10_000i128 + i128::from(rate_bp);
    let q = num / den;
    let r = num % den;
    let rounded = if 2 * r.abs() >= den {
        q + num.signum()
    } else {
        q
    };
    // |rounded| ≤ |total|, so it fits in i64.
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

/// Checks items and computes (items, total, vat total). `base` is the field path of the list.
pub fn price_items(items: &[ItemInput], base: &str) -> Result<(Vec<Item>, i64, i64)> {
    if items.is_empty() {
        return Err(ServiceError::invalid(
            "ITEMS_REQUIRED",
            &[base],
            "at least one item is required",
        ));
    }
    if items.len() > MAX_ITEMS {
        return Err(ServiceError::invalid(
            "TOO_MANY_ITEMS",
            &[base],
            format!("at most {MAX_ITEMS} items are allowed, got {}", items.len()),
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    let (mut total, mut vat) = (0i64, 0i64);
    for (i, item) in items.iter().enumerate() {
        let idx = i.to_string();
        let path = |f: &str| -> Vec<String> { vec![base.to_string(), idx.clone(), f.to_string()] };
        let invalid = |code: &'static str, f: &str, msg: String| ServiceError::Invalid {
            code,
            field: path(f),
            message: msg,
        };
        if item.name.trim().is_empty() {
            return Err(invalid("REQUIRED", "name", "name must not be empty".into()));
        }
        if item.unit_price < 0 || item.unit_price > MAX_AMOUNT {
            return Err(invalid(
                "INVALID_AMOUNT",
                "unitPrice",
                format!("unitPrice must be between 0 and {MAX_AMOUNT}"),
            ));
        }
        if !(0..=10_000).contains(&item.vat_rate) {
            return Err(invalid(
                "INVALID_VAT_RATE",
                "vatRate",
                "vatRate is in basis points and must be between 0 and 10000".into(),
            ));
        }
        let quantity = item.quantity.unwrap_or(1);
        if quantity < 1 {
            return Err(invalid(
                "INVALID_QUANTITY",
                "quantity",
                "quantity must be at least 1".into(),
            ));
        }
        let line = item
            .unit_price
            .checked_mul(i64::from(quantity))
            .filter(|t| *t <= MAX_AMOUNT)
            .ok_or_else(|| {
                invalid(
                    "AMOUNT_OVERFLOW",
                    "quantity",
                    "the line total is too large".into(),
                )
            })?;
        let line_vat = included_vat(line, item.vat_rate);
        total = total
            .checked_add(line)
            .filter(|t| *t <= MAX_AMOUNT)
            .ok_or_else(|| {
                invalid(
                    "AMOUNT_OVERFLOW",
                    "unitPrice",
                    "the total is too large".into(),
                )
            })?;
        vat += line_vat;
        out.push(Item {
            name: item.name.trim().to_string(),
            description: item.description.clone(),
            unit_price: item.unit_price,
            vat_rate: item.vat_rate,
            quantity,
            client_item_reference: item.client_item_reference.clone(),
            total: line,
            vat_amount: line_vat,
        });
    }
    Ok((out, total, vat))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(price: i64, vat: i32, qty: i32) -> ItemInput {
        ItemInput {
            name: "Thing".into(),
            description: None,
            unit_price: price,
            vat_rate: vat,
            quantity: Some(qty),
            client_item_reference: None,
        }
    }

    #[test]
    fn currencies_know_their_exponent() {
        assert_eq!(
            Currency::parse("jpy", &[]).map(|c| c.exponent()).ok(),
            Some(0)
        );
        assert_eq!(
            Currency::parse("EUR", &[]).map(|c| c.exponent()).ok(),
            Some(2)
        );
        assert_eq!(
            Currency::parse("BHD", &[]).map(|c| c.exponent()).ok(),
            Some(3)
        );
        assert_eq!(
            Currency::parse("XYZ", &["currency"])
                .map_err(|e| e.code().to_string())
                .err()
                .as_deref(),
            Some("INVALID_CURRENCY")
        );
    }

    #[test]
    fn formatting_respects_the_exponent() {
        let f = |c: &str, m| {
            Currency::parse(c, &[])
                .map(|c| c.format(m))
                .unwrap_or_default()
        };
        assert_eq!(f("EUR", 1050), "10.50 EUR");
        assert_eq!(f("JPY", 1050), "1050 JPY");
        assert_eq!(f("BHD", 1050), "1.050 BHD");
    }

    #[test]
    fn included_vat_rounds_half_away_from_zero() {
        assert_eq!(included_vat(12500, 2500), 2500);
        assert_eq!(included_vat(100, 2500), 20);
        assert_eq!(included_vat(1, 2500), 0); // 0.2 → 0
        assert_eq!(included_vat(3, 2500), 1); // 0.6 → 1
        assert_eq!(included_vat(1000, 0), 0);
    }

    #[test]
    fn items_total_and_vat_are_exact() {
        let (items, total, vat) =
            price_items(&[item(12500, 2500, 2), item(999, 1200, 1)], "items").unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(total, 25999);
        assert_eq!(vat, 5000 + 107);
    }

    #[test]
    fn bad_items_name_the_failing_field() {
        let err = price_items(&[item(100, 2500, 1), item(100, 20000, 1)], "items").unwrap_err();
        assert_eq!(err.code(), "INVALID_VAT_RATE");
        assert_eq!(err.field(), vec!["items", "1", "vatRate"]);
        let many = vec![item(1, 0, 1); 101];
        assert_eq!(
            price_items(&many, "items").unwrap_err().code(),
            "TOO_MANY_ITEMS"
        );
        let err = price_items(&[item(MAX_AMOUNT, 0, 2)], "items").unwrap_err();
        assert_eq!(err.code(), "AMOUNT_OVERFLOW");
    }

    #[test]
    fn amounts_must_be_positive() {
        assert_eq!(
            positive_amount(0, &["amount"]).unwrap_err().code(),
            "INVALID_AMOUNT"
        );
        assert_eq!(
            positive_amount(-5, &["amount"]).unwrap_err().code(),
            "INVALID_AMOUNT"
        );
        assert_eq!(
            positive_amount(MAX_AMOUNT + 1, &["amount"])
                .unwrap_err()
                .code(),
            "AMOUNT_TOO_LARGE"
        );
        assert_eq!(positive_amount(1, &["amount"]).ok(), Some(1));
    }
}
