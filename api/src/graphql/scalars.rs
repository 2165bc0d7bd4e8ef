//! Custom scalars.
use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

/// An amount in integer minor units of its currency (cents for EUR, yen for JPY), 64-bit.
/// Accepted as a JSON number or a string of digits; answered as a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Amount(pub i64);

#[Scalar(name = "Amount")]
impl ScalarType for Amount {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::Number(n) => n.as_i64().map(Amount).ok_or_else(|| {
                InputValueError::custom("an Amount is a whole number of minor units")
            }),
            Value::String(s) => {
                s.trim().parse().map(Amount).map_err(|_| {
                    InputValueError::custom("an Amount is a whole number of minor units")
                })
            }
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::Number(self.0.into())
    }
}
