//! Test cards, Luhn check, brand detection, card validation and tokens.
//!
//! Tokens are self-describing (`tok_{behavior}_{last4}_{16 hex}`) so they keep
//! working after a simulator restart, and never contain the card number.

use thiserror::Error;

/// How the simulated issuer treats a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    Ok,
    Decline,
    NoFunds,
    Fraud,
    Flaky,
    Slow,
    ThreeDs,
    Chargeback,
    /// Pays once, then every later charge of the token is declined (an expired or
    /// cancelled card behind a saved token).
    DeclineLater,
}

impl Behavior {
    const ALL: [Behavior; 9] = [
        Behavior::Ok,
        Behavior::Decline,
        Behavior::NoFunds,
        Behavior::Fraud,
        Behavior::Flaky,
        Behavior::Slow,
        Behavior::ThreeDs,
        Behavior::Chargeback,
        Behavior::DeclineLater,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Behavior::Ok => "ok",
            Behavior::Decline => "decline",
            Behavior::NoFunds => "nofunds",
            Behavior::Fraud => "fraud",
            Behavior::Flaky => "flaky",
            Behavior::Slow => "slow",
            Behavior::ThreeDs => "threeds",
            Behavior::Chargeback => "chargeback",
            Behavior::DeclineLater => "declinelater",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.as_str() == s)
    }

    /// The behavior of a (valid) card number: the test cards, else `Ok`.
    pub fn for_number(number: &str) -> Self {
        match number {
            "4000000000000002" => Behavior::Decline,
            "4000000000009995" => Behavior::NoFunds,
            "4100000000000019" => Behavior::Fraud,
            "4000000000000119" => Behavior::Flaky,
            "4000000000006975" => Behavior::Slow,
            "4000000000003220" => Behavior::ThreeDs,
            "4000000000000259" => Behavior::Chargeback,
            "4000000000000341" => Behavior::DeclineLater,
            _ => Behavior::Ok,
        }
    }
}

/// Card network, from the number prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Brand {
    Visa,
    Mastercard,
    Amex,
    Unknown,
}

impl Brand {
    pub fn as_str(self) -> &'static str {
        match self {
            Brand::Visa => "visa",
            Brand::Mastercard => "mastercard",
            Brand::Amex => "amex",
            Brand::Unknown => "unknown",
        }
    }

    pub fn from_number(number: &str) -> Self {
        let prefix = |n: usize| number.get(..n).and_then(|p| p.parse::<u32>().ok());
        if number.starts_with('4') {
            Brand::Visa
        } else if matches!(prefix(2), Some(51..=55)) || matches!(prefix(4), Some(2221..=2720)) {
            Brand::Mastercard
        } else if matches!(prefix(2), Some(34 | 37)) {
            Brand::Amex
        } else {
            Brand::Unknown
        }
    }
}

/// Luhn checksum of a digits-only string (false if any non-digit).
pub fn luhn_valid(number: &str) -> bool {
    let mut sum = 0u32;
    for (i, c) in number.chars().rev().enumerate() {
        let Some(mut d) = c.to_digit(10) else {
            return false;
        };
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !number.is_empty() && sum.is_multiple_of(10)
}

/// Why a card was refused at tokenization.
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum CardError {
    #[error("the card number must be 12 to 19 digits and pass the Luhn check")]
    InvalidNumber,
    #[error("exp_month must be 1-12 and exp_year 4 digits (or 2 digits for 20YY)")]
    InvalidExpiry,
    #[error("the card has expired")]
    Expired,
    #[error("the cvc must be 3 or 4 digits")]
    InvalidCvc,
}

impl CardError {
    pub fn code(self) -> &'static str {
        match self {
            CardError::InvalidNumber => "invalid_number",
            CardError::InvalidExpiry => "invalid_expiry",
            CardError::Expired => "expired_card",
            CardError::InvalidCvc => "invalid_cvc",
        }
    }
}

/// A card as submitted for tokenization.
#[derive(Debug, Clone, Copy)]
pub struct CardInput<'a> {
    pub number: &'a str,
    pub exp_month: i64,
    pub exp_year: i64,
    pub cvc: Option<&'a str>,
}

/// A validated card: only what may be kept (no number, no cvc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidCard {
    pub brand: Brand,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
    pub behavior: Behavior,
}

/// Validates a card against `today` = (year, month) in UTC.
pub fn validate(card: CardInput<'_>, today: (i64, i64)) -> Result<ValidCard, CardError> {
    let number = card.number;
    if !(12..=19).contains(&number.len())
        || !number.bytes().all(|b| b.is_ascii_digit())
        || !luhn_valid(number)
    {
        return Err(CardError::InvalidNumber);
    }
    if !(1..=12).contains(&card.exp_month) {
        return Err(CardError::InvalidExpiry);
    }
    let exp_year = match card.exp_year {
        y @ 0..=99 => 2000 + y,
        y @ 1000..=9999 => y,
        _ => return Err(CardError::InvalidExpiry),
    };
    if (exp_year, card.exp_month) < today {
        return Err(CardError::Expired);
    }
    if let Some(cvc) = card.cvc
        && (!(3..=4).contains(&cvc.len()) || !cvc.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(CardError::InvalidCvc);
    }
    Ok(ValidCard {
        brand: Brand::from_number(number),
        last4: number[number.len() - 4..].to_owned(),
        exp_month: card.exp_month,
        exp_year,
        behavior: Behavior::for_number(number),
    })
}

/// What a token tells about its card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub behavior: Behavior,
    pub last4: String,
}

impl Token {
    /// A fresh token `tok_{behavior}_{last4}_{16 hex}`.
    pub fn issue(card: &ValidCard) -> String {
        format!(
            "tok_{}_{}_{:016x}",
            card.behavior.as_str(),
            card.last4,
            rand::random::<u64>()
        )
    }

    /// Parses a token issued by [`Token::issue`] (by this or an earlier run).
    pub fn parse(token: &str) -> Option<Token> {
        let rest = token.strip_prefix("tok_")?;
        let mut parts = rest.split('_');
        let behavior = Behavior::parse(parts.next()?)?;
        let last4 = parts.next()?;
        let random = parts.next()?;
        if parts.next().is_some()
            || last4.len() != 4
            || !last4.bytes().all(|b| b.is_ascii_digit())
            || random.len() != 16
            || !random.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return None;
        }
        Some(Token {
            behavior,
            last4: last4.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: (i64, i64) = (2025, 6);

    fn input(number: &str) -> CardInput<'_> {
        CardInput {
            number,
            exp_month: 12,
            exp_year: 2030,
            cvc: Some("123"),
        }
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid("4242424242424242"));
        assert!(luhn_valid("4000000000000002"));
        assert!(luhn_valid("378282246310005"));
        assert!(luhn_valid("5555555555554444"));
        assert!(!luhn_valid("4242424242424241"));
        assert!(!luhn_valid("4242a24242424242"));
        assert!(!luhn_valid(""));
    }

    #[test]
    fn all_test_cards_are_luhn_valid() {
        for n in [
            "4242424242424242",
            "4000000000000002",
            "4000000000009995",
            "4100000000000019",
            "4000000000000119",
            "4000000000006975",
            "4000000000003220",
            "4000000000000259",
        ] {
            assert!(luhn_valid(n), "{n}");
        }
    }

    #[test]
    fn brands() {
        assert_eq!(Brand::from_number("4242424242424242"), Brand::Visa);
        assert_eq!(Brand::from_number("5105105105105100"), Brand::Mastercard);
        assert_eq!(Brand::from_number("5555555555554444"), Brand::Mastercard);
        assert_eq!(Brand::from_number("2221000000000009"), Brand::Mastercard);
        assert_eq!(Brand::from_number("2720990000000007"), Brand::Mastercard);
        assert_eq!(Brand::from_number("2220990000000007"), Brand::Unknown);
        assert_eq!(Brand::from_number("2721000000000007"), Brand::Unknown);
        assert_eq!(Brand::from_number("5605105105105100"), Brand::Unknown);
        assert_eq!(Brand::from_number("378282246310005"), Brand::Amex);
        assert_eq!(Brand::from_number("341111111111111"), Brand::Amex);
        assert_eq!(Brand::from_number("6011111111111117"), Brand::Unknown);
    }

    #[test]
    fn behaviors_of_test_cards() {
        assert_eq!(Behavior::for_number("4242424242424242"), Behavior::Ok);
        assert_eq!(Behavior::for_number("4000000000000002"), Behavior::Decline);
        assert_eq!(Behavior::for_number("4000000000009995"), Behavior::NoFunds);
        assert_eq!(Behavior::for_number("4100000000000019"), Behavior::Fraud);
        assert_eq!(Behavior::for_number("4000000000000119"), Behavior::Flaky);
        assert_eq!(Behavior::for_number("4000000000006975"), Behavior::Slow);
        assert_eq!(Behavior::for_number("4000000000003220"), Behavior::ThreeDs);
        assert_eq!(
            Behavior::for_number("4000000000000259"),
            Behavior::Chargeback
        );
        assert_eq!(Behavior::for_number("5555555555554444"), Behavior::Ok);
        for b in Behavior::ALL {
            assert_eq!(Behavior::parse(b.as_str()), Some(b));
        }
    }

    #[test]
    fn validates_numbers() {
        let card = validate(input("4242424242424242"), TODAY);
        assert_eq!(
            card,
            Ok(ValidCard {
                brand: Brand::Visa,
                last4: "4242".into(),
                exp_month: 12,
                exp_year: 2030,
                behavior: Behavior::Ok,
            })
        );
        for bad in [
            "4242424242424241",
            "4242 4242 4242 4242",
            "42424242424",
            "42424242424242424242",
            "",
            "-4242424242424242",
        ] {
            assert_eq!(
                validate(input(bad), TODAY),
                Err(CardError::InvalidNumber),
                "{bad}"
            );
        }
        // 12 digits, Luhn valid.
        assert!(validate(input("424242424242"), TODAY).is_ok());
    }

    #[test]
    fn validates_expiry() {
        let with = |m, y| CardInput {
            exp_month: m,
            exp_year: y,
            ..input("4242424242424242")
        };
        assert_eq!(
            validate(with(0, 2030), TODAY),
            Err(CardError::InvalidExpiry)
        );
        assert_eq!(
            validate(with(13, 2030), TODAY),
            Err(CardError::InvalidExpiry)
        );
        assert_eq!(validate(with(1, 203), TODAY), Err(CardError::InvalidExpiry));
        assert_eq!(validate(with(1, -1), TODAY), Err(CardError::InvalidExpiry));
        assert_eq!(validate(with(5, 2025), TODAY), Err(CardError::Expired));
        assert_eq!(validate(with(12, 2024), TODAY), Err(CardError::Expired));
        assert_eq!(validate(with(5, 25), TODAY), Err(CardError::Expired));
        assert!(validate(with(6, 2025), TODAY).is_ok());
        let two_digit = validate(with(7, 30), TODAY);
        assert_eq!(two_digit.map(|c| c.exp_year), Ok(2030));
    }

    #[test]
    fn validates_cvc() {
        let with = |cvc| CardInput {
            cvc,
            ..input("4242424242424242")
        };
        assert!(validate(with(None), TODAY).is_ok());
        assert!(validate(with(Some("123")), TODAY).is_ok());
        assert!(validate(with(Some("1234")), TODAY).is_ok());
        for bad in ["12", "12345", "12a", ""] {
            assert_eq!(validate(with(Some(bad)), TODAY), Err(CardError::InvalidCvc));
        }
    }

    #[test]
    fn tokens_are_self_describing_and_hide_the_number() {
        let number = "4000000000000119";
        let card = validate(input(number), TODAY).unwrap();
        let token = Token::issue(&card);
        assert!(token.starts_with("tok_flaky_0119_"), "{token}");
        assert_eq!(token.len(), "tok_flaky_0119_".len() + 16);
        assert!(!token.contains(number));
        assert!(!token.contains(&number[..12]));
        assert_eq!(
            Token::parse(&token),
            Some(Token {
                behavior: Behavior::Flaky,
                last4: "0119".into()
            })
        );
        assert_ne!(token, Token::issue(&card));
    }

    #[test]
    fn rejects_malformed_tokens() {
        for bad in [
            "",
            "tok_",
            "tok_ok_4242",
            "tok_ok_4242_0123456789abcdef_x",
            "tok_nope_4242_0123456789abcdef",
            "tok_ok_42a2_0123456789abcdef",
            "tok_ok_4242_0123456789abcdeg",
            "tok_ok_4242_0123456789abcde",
            "tk_ok_4242_0123456789abcdef",
            "4242424242424242",
        ] {
            assert_eq!(Token::parse(bad), None, "{bad}");
        }
        assert!(Token::parse("tok_ok_4242_0123456789abcdef").is_some());
    }
}
