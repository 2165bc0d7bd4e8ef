//! A small GraphQL client, and the mutations the benchmark seeds with.
//!
//! One client is one HTTP/1.1 keep-alive connection, driven by hyper's connection API with
//! no pool, redirects or body decoding in between: the load generator shares the machine's
//! two cores with what it measures, so every microsecond it spends on a request is taken
//! from Paygate (with reqwest's pooled client it cost about 0.045 ms of CPU a page).
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

/// How long one request may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(30);

pub struct Client {
    /// host:port, to connect to and for the Host header.
    authority: String,
    host: HeaderValue,
    path: Uri,
    auth: HeaderValue,
    /// The connection; None after it failed, until the next request opens another.
    send: Option<SendRequest<Full<Bytes>>>,
}

/// What a GraphQL request's body is: the query and its variables, serialized.
pub fn request_body(query: &str, variables: &Value) -> Bytes {
    Bytes::from(json!({ "query": query, "variables": variables }).to_string())
}

impl Client {
    /// A client of `url` (http://host:port/path), connected.
    pub async fn connect(url: &str, key: &str) -> Result<Client> {
        let uri: Uri = url.parse().context("the GraphQL URL")?;
        if uri.scheme_str() != Some("http") {
            return Err(anyhow!("the GraphQL URL must be http://…, not {url}"));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| anyhow!("the GraphQL URL has no host: {url}"))?
            .to_string();
        let path: Uri = uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .context("the GraphQL URL's path")?;
        let mut client = Client {
            host: HeaderValue::from_str(&authority).context("the GraphQL URL's host")?,
            authority,
            path,
            auth: HeaderValue::from_str(&format!("Bearer {key}")).context("the API key")?,
            send: None,
        };
        let send = client.open().await.map_err(|e| anyhow!(e))?;
        client.send = Some(send);
        Ok(client)
    }

    async fn open(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let stream = TcpStream::connect(&self.authority)
            .await
            .map_err(|e| format!("connect to {}: {e}", self.authority))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("TCP_NODELAY: {e}"))?;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        // The connection's I/O runs as a task of its own; it ends when `send` is dropped.
        tokio::spawn(conn);
        Ok(send)
    }

    /// Sends one request body and answers the body of an HTTP 200 answer; anything else is
    /// Err(a short reason). A connection that failed is replaced at the next request; one
    /// that answered another status is kept.
    pub async fn post(&mut self, body: Bytes) -> Result<Bytes, String> {
        let (status, bytes) = match tokio::time::timeout(TIMEOUT, self.exchange(body)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(format!("no answer within {} s", TIMEOUT.as_secs())),
        };
        if status != StatusCode::OK {
            let body = serde_json::from_slice::<Value>(&bytes).map_or_else(
                |_| String::from_utf8_lossy(&bytes).into_owned(),
                |v| short(&v),
            );
            return Err(format!("HTTP {status}: {body}"));
        }
        Ok(bytes)
    }

    /// One request and its answer on the connection, opened first if there is none. The
    /// connection is put back only once its answer was read whole.
    async fn exchange(&mut self, body: Bytes) -> Result<(StatusCode, Bytes), String> {
        let mut send = match self.send.take() {
            Some(send) if !send.is_closed() => send,
            _ => self.open().await?,
        };
        send.ready()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.path.clone();
        let headers = req.headers_mut();
        headers.insert(HOST, self.host.clone());
        headers.insert(AUTHORIZATION, self.auth.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let res = send
            .send_request(req)
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = res.status();
        let bytes = res
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("HTTP {status}, unreadable body: {e}"))?
            .to_bytes();
        self.send = Some(send);
        Ok((status, bytes))
    }

    /// Sends one request. Ok(data) only for HTTP 200 with no top-level GraphQL error;
    /// anything else is Err(a short reason).
    pub async fn call(&mut self, query: &str, variables: Value) -> Result<Value, String> {
        let bytes = self.post(request_body(query, &variables)).await?;
        data_of(&bytes)
    }

    /// Calls a mutation answering `{ <field> { payment { id status } errors { … } } }` and
    /// returns the payment's id and status; payload errors are Err.
    pub async fn payment_mutation(
        &mut self,
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
pub async fn seed_customer(client: &mut Client, i: usize) -> Result<String> {
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
pub async fn create_webhook_endpoint(
    client: &mut Client,
    target: &str,
) -> Result<(String, String)> {
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
