//! Payment options, as a list or as SPiD's bit mask (1 Masterpass, 2 card, 4 SMS, 8 invoice,
//! 16 voucher, 32 Klarna invoice, 64 Klarna mobile, 128 wallet).
use serde::{Deserialize, Serialize};

use crate::error::{Result, ServiceError};

pub const KINDS: &[(&str, i32)] = &[
    ("MASTERPASS", 1),
    ("CARD", 2),
    ("SMS", 4),
    ("INVOICE", 8),
    ("VOUCHER", 16),
    ("KLARNA_INVOICE", 32),
    ("KLARNA_MOBILE", 64),
    ("WALLET", 128),
];
pub const DEFAULT_MASK: i32 = 2;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentOption {
    #[serde(rename = "type")]
    pub kind: String,
    pub sub_type: Option<String>,
    pub url: Option<String>,
    pub name: Option<String>,
    pub image_url: Option<String>,
    pub description: Option<String>,
}

impl PaymentOption {
    pub fn simple(kind: &str) -> PaymentOption {
        PaymentOption {
            kind: kind.into(),
            sub_type: None,
            url: None,
            name: None,
            image_url: None,
            description: None,
        }
    }
}

/// Checks the options (list or mask, not both) and returns (list, mask).
pub fn resolve(
    list: Option<Vec<PaymentOption>>,
    mask: Option<i32>,
) -> Result<(Vec<PaymentOption>, i32)> {
    match (list, mask) {
        (Some(_), Some(_)) => Err(ServiceError::invalid(
            "OPTIONS_AND_MASK",
            &["paymentOptions"],
            "give paymentOptions or paymentOptionsMask, not both",
        )),
        (None, mask) => {
            let mask = mask.unwrap_or(DEFAULT_MASK);
            if mask <= 0 || mask > 255 {
                return Err(ServiceError::invalid(
                    "INVALID_PAYMENT_OPTIONS",
                    &["paymentOptionsMask"],
                    "paymentOptionsMask is a sum of 1, 2, 4, …, 128",
                ));
            }
            let list = KINDS
                .iter()
                .filter(|(_, bit)| mask & bit != 0)
                .map(|(k, _)| PaymentOption::simple(k))
                .collect();
            Ok((list, mask))
        }
        (Some(list), None) => {
            if list.is_empty() {
                return Err(ServiceError::invalid(
                    "INVALID_PAYMENT_OPTIONS",
                    &["paymentOptions"],
                    "give at least one option",
                ));
            }
            let mut mask = 0;
            for (i, o) in list.iter().enumerate() {
                let field =
                    |f: &str| vec!["paymentOptions".to_string(), i.to_string(), f.to_string()];
                if o.kind == "PROVIDED" {
                    for (name, value) in [
                        ("subType", &o.sub_type),
                        ("url", &o.url),
                        ("name", &o.name),
                        ("imageUrl", &o.image_url),
                        ("description", &o.description),
                    ] {
                        if value.as_ref().is_none_or(|v| v.trim().is_empty()) {
                            return Err(ServiceError::Invalid {
                                code: "REQUIRED",
                                field: field(name),
                                message: format!("a PROVIDED option needs {name}"),
                            });
                        }
                    }
                    for (name, value) in [("url", &o.url), ("imageUrl", &o.image_url)] {
                        super::check_uri(value.as_deref().unwrap_or_default(), &field(name))?;
                    }
                } else {
                    let bit = KINDS
                        .iter()
                        .find(|(k, _)| *k == o.kind)
                        .map(|(_, b)| *b)
                        .ok_or_else(|| ServiceError::Invalid {
                            code: "INVALID_PAYMENT_OPTIONS",
                            field: field("type"),
                            message: format!("unknown payment option {:?}", o.kind),
                        })?;
                    mask |= bit;
                }
            }
            Ok((list, mask))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mask_and_the_list_describe_the_same_options() {
        let (list, mask) = resolve(None, None).unwrap();
        assert_eq!((list.len(), mask), (1, 2));
        assert_eq!(list[0].kind, "CARD");
        let (list, _) = resolve(None, Some(2 + 8 + 128)).unwrap();
        let kinds: Vec<_> = list.iter().map(|o| o.kind.as_str()).collect();
        assert_eq!(kinds, vec!["CARD", "INVOICE", "WALLET"]);
        let (_, mask) = resolve(
            Some(vec![
                PaymentOption::simple("CARD"),
                PaymentOption::simple("SMS"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(mask, 6);
        assert_eq!(
            resolve(None, Some(256)).unwrap_err().code(),
            "INVALID_PAYMENT_OPTIONS"
        );
        let provided = PaymentOption {
            url: Some("https://x.example/v".into()),
            ..PaymentOption::simple("PROVIDED")
        };
        let err = resolve(Some(vec![provided]), None).unwrap_err();
        assert_eq!(err.field(), vec!["paymentOptions", "0", "subType"]);
    }
}
