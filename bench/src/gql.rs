//! A small GraphQL client, and the mutations the benchmark seeds with.
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    url: reqwest::Url,
    auth: HeaderValue,
}

/// What a GraphQL request's body is: the query and its variables, serialized.
pub fn request_body(query: &str, variables: &Value) -> Bytes {
    Bytes::from(json!({ "query": query, "variables": variables }).to_string())
}

impl Client {
    pub fn new(url: &str, key: &str, connections: usize) -> Result<Client> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(connections.max(1))
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Client {
            http,
            url: url.parse().context("the GraphQL URL")?,
            auth: HeaderValue::from_str(&format!("Bearer {key}")).context("the API key")?,
        })
    }

    /// Sends one request body and answers the body of an HTTP 200 answer; anything else is
    /// Err(a short reason).
    pub async fn post(&self, body: Bytes) -> Result<Bytes, String> {
        let res = self
            .http
            .post(self.url.clone())
            .header(AUTHORIZATION, self.auth.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body)
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = res.status();
        let bytes = res
            .bytes()
            .await
            .map_err(|e| format!("HTTP {status}, unreadable body: {e}"))?;
        if status != reqwest::StatusCode::OK {
            let body = serde_json::from_slice::<Value>(&bytes).map_or_else(
                |_| String::from_utf8_lossy(&bytes).into_owned(),
                |v| short(&v),
            );
            return Err(format!("HTTP {status}: {body}"));
        }
        Ok(bytes)
    }

    /// Sends one request. Ok(data) only for HTTP 200 with no top-level GraphQL error;
    /// anything else is Err(a short reason).
    pub async fn call(&self, query: &str, variables: Value) -> Result<Value, String> {
        let bytes = self.post(request_body(query, &variables)).await?;
        data_of(&bytes)
    }

    /// Calls a mutation answering `{ <field> { payment { id status } errors { … } } }` and
    /// returns the payment's id and status; payload errors are Err.
    pub async fn payment_mutation(
        &self,
        query: &str,
        field: &str,
        variables: Value,
    ) -> Result<(String, String), String> {
        let data = self.call(query, variables).await?;
        let payload = &data[field];
        if let Some(errors) = payload["errors"].as_array()
            && !errors.is_empty()
        {
            return Err(format!("{field}: {}", short(&payload["errors"])));
        }
        let id = payload["payment"]["id"].as_str();
        let status = payload["payment"]["status"].as_str();
        match (id, status) {
            (Some(id), Some(status)) => Ok((id.to_string(), status.to_string())),
            _ => Err(format!("{field}: no payment in {}", short(payload))),
        }
    }
}

/// The `data` of a GraphQL answer's body; Err(a short reason) for an unreadable body, a
/// top-level GraphQL error or no data.
pub fn data_of(body: &[u8]) -> Result<Value, String> {
    let mut body: Value =
        serde_json::from_slice(body).map_err(|e| format!("HTTP 200, unreadable body: {e}"))?;
    if let Some(errors) = body.get("errors")
        && errors.as_array().is_some_and(|a| !a.is_empty())
    {
        return Err(format!("GraphQL error: {}", short(errors)));
    }
    body.get_mut("data")
        .map(Value::take)
        .filter(|d| !d.is_null())
        .ok_or_else(|| "no data".to_string())
}

/// At most 300 characters of a JSON value, for error samples.
pub fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() <= 300 {
        s
    } else {
        let mut end = 300;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    }
}

/// A customer with a stored, default 4242 test card; returns its id.
pub async fn seed_customer(client: &Client, i: usize) -> Result<String> {
    let data = client
        .call(
            "mutation($email: String!, $name: String!) { createCustomer(input: {email: $email, name: $name}) { customer { id } errors { code message } } }",
            json!({ "email": format!("bench{i}@example.com"), "name": format!("Bench customer {i}") }),
        )
        .await
        .map_err(|e| anyhow!(e))
        .context("createCustomer")?;
    let id = data["createCustomer"]["customer"]["id"]
        .as_str()
        .ok_or_else(|| anyhow!("createCustomer answered {data}"))?
        .to_string();
    let data = client
        .call(
            "mutation($c: ID!) { addTestCard(input: {customerId: $c, number: \"4242424242424242\", expMonth: 12, expYear: 2030}) { paymentMethod { id } errors { code message } } }",
            json!({ "c": id }),
        )
        .await
        .map_err(|e| anyhow!(e))
        .context("addTestCard")?;
    if data["addTestCard"]["paymentMethod"]["id"]
        .as_str()
        .is_none()
    {
        return Err(anyhow!("addTestCard answered {data}"));
    }
    Ok(id)
}

/// Registers a webhook endpoint for every event type; returns its id and secret.
pub async fn create_webhook_endpoint(client: &Client, target: &str) -> Result<(String, String)> {
    let data = client
        .call(
            "mutation($url: String!) { createWebhookEndpoint(input: {url: $url}) { endpoint { id } secret errors { code message } } }",
            json!({ "url": target }),
        )
        .await
        .map_err(|e| anyhow!(e))
        .context("createWebhookEndpoint")?;
    let payload = &data["createWebhookEndpoint"];
    match (
        payload["endpoint"]["id"].as_str(),
        payload["secret"].as_str(),
    ) {
        (Some(id), Some(secret)) => Ok((id.to_string(), secret.to_string())),
        _ => Err(anyhow!("createWebhookEndpoint answered {data}")),
    }
}
