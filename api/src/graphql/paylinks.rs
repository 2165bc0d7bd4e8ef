//! Paylinks and the product catalogue.
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{paylink, paylink_item, product};
use service::ServiceError;
use service::page::PageRequest;
use service::paylinks::{self, ItemInput, PaylinkFilter, PaylinkInput, PaymentOption};
use service::products::{self, ProductInput};

use super::context::{caller, gateway, id_of, idempotent, parse_id};
use super::errors::{UserError, graphql_error, split};
use super::payments::Payment;
use super::scalars::Amount;
use super::{EdgeCursor, PageInfo};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PurchaseFlow {
    /// Capture at once: the payment is PAID.
    Direct,
    /// Authorize only: the payment is HOLD until captured.
    Authorize,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PaylinkStatus {
    Available,
    Used,
    Expired,
    Deleted,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PaymentOptionType {
    Card,
    Masterpass,
    Sms,
    Invoice,
    Voucher,
    KlarnaInvoice,
    KlarnaMobile,
    Wallet,
    /// An external method; subType, url, name, imageUrl and description are required.
    Provided,
}

impl PaymentOptionType {
    fn as_str(&self) -> &'static str {
        match self {
            PaymentOptionType::Card => "CARD",
            PaymentOptionType::Masterpass => "MASTERPASS",
            PaymentOptionType::Sms => "SMS",
            PaymentOptionType::Invoice => "INVOICE",
            PaymentOptionType::Voucher => "VOUCHER",
            PaymentOptionType::KlarnaInvoice => "KLARNA_INVOICE",
            PaymentOptionType::KlarnaMobile => "KLARNA_MOBILE",
            PaymentOptionType::Wallet => "WALLET",
            PaymentOptionType::Provided => "PROVIDED",
        }
    }
}

#[derive(InputObject)]
pub struct PaymentOptionInput {
    #[graphql(name = "type")]
    pub kind: PaymentOptionType,
    pub sub_type: Option<String>,
    pub url: Option<String>,
    pub name: Option<String>,
    pub image_url: Option<String>,
    pub description: Option<String>,
}

#[derive(SimpleObject)]
pub struct PaymentOptionObject {
    #[graphql(name = "type")]
    pub kind: String,
    pub sub_type: Option<String>,
    pub url: Option<String>,
    pub name: Option<String>,
    pub image_url: Option<String>,
    pub description: Option<String>,
}

#[derive(InputObject)]
pub struct PaylinkItemInput {
    pub name: Option<String>,
    /// Required unless productId is given.
    pub description: Option<String>,
    /// Price including VAT, minor units, ≥ 0. Required unless productId is given.
    pub price: Option<Amount>,
    /// VAT in basis points (2500 = 25 %), 0–10000. Required unless productId is given.
    pub vat: Option<i32>,
    pub quantity: Option<i32>,
    pub currency: Option<String>,
    pub client_item_reference: Option<String>,
    pub ogp_uri: Option<String>,
    pub product_id: Option<ID>,
}

#[derive(InputObject)]
pub struct CreatePaylinkInput {
    /// Required.
    pub title: Option<String>,
    /// Required: 1 to 100 items, all in one currency.
    pub items: Option<Vec<PaylinkItemInput>>,
    pub client_reference: Option<String>,
    pub purchase_flow: Option<PurchaseFlow>,
    pub payment_options: Option<Vec<PaymentOptionInput>>,
    /// The SPiD bit mask: 1 Masterpass, 2 card, 4 SMS, 8 invoice, 16 voucher, 32 Klarna
    /// invoice, 64 Klarna mobile, 128 wallet. Default 2.
    pub payment_options_mask: Option<i32>,
    /// Default: 24 hours from now.
    pub expires_at: Option<DateTime<Utc>>,
    pub redirect_uri: Option<String>,
    pub cancel_uri: Option<String>,
    /// Only this customer may pay it.
    pub buyer_customer_id: Option<ID>,
    pub idempotency_key: Option<String>,
}

pub struct Paylink(pub paylink::Model);

#[Object]
impl Paylink {
    async fn id(&self) -> ID {
        id_of(self.0.id)
    }
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// The hosted page; for a buyer-locked paylink it carries the buyer's signed token.
    async fn url(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        paylinks::url(gateway(ctx)?, &self.0).map_err(|e| graphql_error(&e))
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn client_reference(&self) -> Option<&str> {
        self.0.client_reference.as_deref()
    }
    async fn items(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<PaylinkItem>> {
        let rows = paylinks::items(&gateway(ctx)?.db, self.0.id)
            .await
            .map_err(|e| graphql_error(&e))?;
        Ok(rows.into_iter().map(PaylinkItem).collect())
    }
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    async fn total(&self) -> Amount {
        Amount(self.0.total)
    }
    async fn vat_total(&self) -> Amount {
        Amount(self.0.vat_total)
    }
    async fn purchase_flow(&self) -> PurchaseFlow {
        if self.0.purchase_flow == "AUTHORIZE" {
            PurchaseFlow::Authorize
        } else {
            PurchaseFlow::Direct
        }
    }
    async fn payment_options(&self) -> Vec<PaymentOptionObject> {
        let list: Vec<PaymentOption> =
            serde_json::from_value(self.0.payment_options.clone()).unwrap_or_default();
        list.into_iter()
            .map(|o| PaymentOptionObject {
                kind: o.kind,
                sub_type: o.sub_type,
                url: o.url,
                name: o.name,
                image_url: o.image_url,
                description: o.description,
            })
            .collect()
    }
    async fn payment_options_mask(&self) -> i32 {
        self.0.payment_options_mask
    }
    async fn status(&self) -> PaylinkStatus {
        match self.0.status.as_str() {
            "USED" => PaylinkStatus::Used,
            "EXPIRED" => PaylinkStatus::Expired,
            "DELETED" => PaylinkStatus::Deleted,
            _ => PaylinkStatus::Available,
        }
    }
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
    async fn redirect_uri(&self) -> Option<&str> {
        self.0.redirect_uri.as_deref()
    }
    async fn cancel_uri(&self) -> Option<&str> {
        self.0.cancel_uri.as_deref()
    }
    async fn buyer_customer_id(&self) -> Option<ID> {
        self.0.buyer_customer_id.map(id_of)
    }
    /// The payments made through it.
    async fn payments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Payment>> {
        let rows = paylinks::payments_of(gateway(ctx)?, self.0.id)
            .await
            .map_err(|e| graphql_error(&e))?;
        Ok(rows.into_iter().map(Payment::from).collect())
    }
    /// The API key that made it.
    async fn created_by(&self) -> ID {
        id_of(self.0.created_by)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

pub struct PaylinkItem(pub paylink_item::Model);

#[Object]
impl PaylinkItem {
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn price(&self) -> Amount {
        Amount(self.0.price)
    }
    async fn vat(&self) -> i32 {
        self.0.vat
    }
    async fn quantity(&self) -> i32 {
        self.0.quantity
    }
    async fn total(&self) -> Amount {
        Amount(self.0.total)
    }
    /// The VAT included in the line total.
    async fn vat_amount(&self) -> Amount {
        Amount(self.0.vat_amount)
    }
    async fn client_item_reference(&self) -> Option<&str> {
        self.0.client_item_reference.as_deref()
    }
    async fn ogp_uri(&self) -> Option<&str> {
        self.0.ogp_uri.as_deref()
    }
    async fn product_id(&self) -> Option<ID> {
        self.0.product_id.map(id_of)
    }
}

pub struct Product(pub product::Model);

#[Object]
impl Product {
    async fn id(&self) -> ID {
        id_of(self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn price(&self) -> Amount {
        Amount(self.0.price)
    }
    async fn vat(&self) -> i32 {
        self.0.vat
    }
    async fn currency(&self) -> &str {
        &self.0.currency
    }
}

#[derive(InputObject)]
pub struct CreateProductInput {
    pub name: String,
    pub description: Option<String>,
    pub price: Amount,
    pub vat: i32,
    pub currency: String,
}

#[derive(InputObject)]
pub struct UpdateProductInput {
    pub id: ID,
    pub name: Option<String>,
    pub description: Option<String>,
    pub price: Option<Amount>,
    pub vat: Option<i32>,
    pub currency: Option<String>,
}

#[derive(InputObject)]
pub struct DeletePaylinkInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct PaylinkPayload {
    pub paylink: Option<Paylink>,
    pub errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct ProductPayload {
    pub product: Option<Product>,
    pub errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct PaylinkEdge {
    pub cursor: EdgeCursor,
    pub node: Paylink,
}

#[derive(SimpleObject)]
pub struct PaylinkConnection {
    pub edges: Vec<PaylinkEdge>,
    pub page_info: PageInfo,
    pub total_count: u64,
}

#[derive(InputObject)]
pub struct PaylinksFilter {
    pub status: Option<PaylinkStatus>,
    pub client_reference: Option<String>,
}

#[derive(Default)]
pub struct PaylinkQuery;

#[Object]
impl PaylinkQuery {
    async fn paylink(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Paylink> {
        let caller = caller(ctx)?;
        let id = parse_id(&id, "id").map_err(|_| graphql_error(&ServiceError::NotFound))?;
        Ok(Paylink(
            paylinks::get(&gateway(ctx)?.db, &caller, id)
                .await
                .map_err(|e| graphql_error(&e))?,
        ))
    }

    /// Paylinks newest first.
    async fn paylinks(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<PaylinksFilter>,
    ) -> async_graphql::Result<PaylinkConnection> {
        let caller = caller(ctx)?;
        let mut page = PageRequest::new(first, after.as_deref()).map_err(|e| graphql_error(&e))?;
        page.with_total = ctx.look_ahead().field("totalCount").exists();
        let filter = filter
            .map(|f| PaylinkFilter {
                status: f.status.map(|s| {
                    match s {
                        PaylinkStatus::Available => paylinks::AVAILABLE,
                        PaylinkStatus::Used => paylinks::USED,
                        PaylinkStatus::Expired => paylinks::EXPIRED,
                        PaylinkStatus::Deleted => paylinks::DELETED,
                    }
                    .to_string()
                }),
                client_reference: f.client_reference,
            })
            .unwrap_or_default();
        let page = paylinks::list(gateway(ctx)?, &caller, &filter, page)
            .await
            .map_err(|e| graphql_error(&e))?;
        let end_cursor = page.items.last().map(|(c, _)| c.encode());
        Ok(PaylinkConnection {
            edges: page
                .items
                .into_iter()
                .map(|(c, node)| PaylinkEdge {
                    cursor: EdgeCursor(c),
                    node: Paylink(node),
                })
                .collect(),
            page_info: PageInfo {
                has_next_page: page.has_next_page,
                end_cursor,
            },
            total_count: page.total_count,
        })
    }

    async fn products(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Product>> {
        let caller = caller(ctx)?;
        let rows = products::list(gateway(ctx)?, &caller)
            .await
            .map_err(|e| graphql_error(&e))?;
        Ok(rows.into_iter().map(Product).collect())
    }
}

fn paylink_input(input: CreatePaylinkInput) -> Result<PaylinkInput, ServiceError> {
    let given = input.items.is_some();
    let mut items = Vec::new();
    for (i, item) in input.items.unwrap_or_default().into_iter().enumerate() {
        let product_id = match item.product_id {
            Some(id) => Some(
                parse_id(&id, "productId").map_err(|_| ServiceError::Invalid {
                    code: "UNKNOWN_PRODUCT",
                    field: vec!["items".into(), i.to_string(), "productId".into()],
                    message: "no such product".into(),
                })?,
            ),
            None => None,
        };
        items.push(ItemInput {
            name: item.name,
            description: item.description,
            price: item.price.map(|a| a.0),
            vat: item.vat,
            quantity: item.quantity,
            currency: item.currency,
            client_item_reference: item.client_item_reference,
            ogp_uri: item.ogp_uri,
            product_id,
        });
    }
    let buyer_customer_id = match input.buyer_customer_id {
        Some(id) => Some(parse_id(&id, "buyerCustomerId").map_err(|_| {
            ServiceError::invalid("UNKNOWN_BUYER", &["buyerCustomerId"], "no such customer")
        })?),
        None => None,
    };
    Ok(PaylinkInput {
        title: input.title,
        items: given.then_some(items),
        client_reference: input.client_reference,
        purchase_flow: input.purchase_flow.map(|f| match f {
            PurchaseFlow::Direct => "DIRECT".into(),
            PurchaseFlow::Authorize => "AUTHORIZE".into(),
        }),
        payment_options: input.payment_options.map(|list| {
            list.into_iter()
                .map(|o| PaymentOption {
                    kind: o.kind.as_str().into(),
                    sub_type: o.sub_type,
                    url: o.url,
                    name: o.name,
                    image_url: o.image_url,
                    description: o.description,
                })
                .collect()
        }),
        payment_options_mask: input.payment_options_mask,
        expires_at: input.expires_at,
        redirect_uri: input.redirect_uri,
        cancel_uri: input.cancel_uri,
        buyer_customer_id,
    })
}

#[derive(Default)]
pub struct PaylinkMutation;

#[Object]
impl PaylinkMutation {
    async fn create_paylink(
        &self,
        ctx: &Context<'_>,
        input: CreatePaylinkInput,
    ) -> async_graphql::Result<PaylinkPayload> {
        let caller = caller(ctx)?;
        let gw = gateway(ctx)?;
        let key = input.idempotency_key.clone();
        let result = match paylink_input(input) {
            Ok(svc) => {
                idempotent(ctx, key.as_deref(), "createPaylink", &svc, |claim| {
                    paylinks::create(gw, &caller, &svc, claim)
                })
                .await
            }
            Err(e) => Err(e),
        };
        let result = match result {
            Ok(v) => match v
                .get("paylinkId")
                .and_then(|s| s.as_str())
                .and_then(|s| s.parse().ok())
            {
                Some(id) => paylinks::get(&gw.db, &caller, id).await,
                None => Err(ServiceError::Internal(
                    "recorded answer has no paylink".into(),
                )),
            },
            Err(e) => Err(e),
        };
        let (link, errors) = split(result)?;
        Ok(PaylinkPayload {
            paylink: link.map(Paylink),
            errors,
        })
    }

    /// Deletes a paylink that was not used.
    async fn delete_paylink(
        &self,
        ctx: &Context<'_>,
        input: DeletePaylinkInput,
    ) -> async_graphql::Result<PaylinkPayload> {
        let caller = caller(ctx)?;
        let gw = gateway(ctx)?;
        let result = match parse_id(&input.id, "id") {
            Ok(id) => paylinks::delete(gw, &caller, id).await,
            Err(e) => Err(e),
        };
        let (link, errors) = split(result)?;
        Ok(PaylinkPayload {
            paylink: link.map(Paylink),
            errors,
        })
    }

    async fn create_product(
        &self,
        ctx: &Context<'_>,
        input: CreateProductInput,
    ) -> async_graphql::Result<ProductPayload> {
        let caller = caller(ctx)?;
        let svc = ProductInput {
            name: Some(input.name),
            description: input.description,
            price: Some(input.price.0),
            vat: Some(input.vat),
            currency: Some(input.currency),
        };
        let (p, errors) = split(products::create(gateway(ctx)?, &caller, &svc).await)?;
        Ok(ProductPayload {
            product: p.map(Product),
            errors,
        })
    }

    async fn update_product(
        &self,
        ctx: &Context<'_>,
        input: UpdateProductInput,
    ) -> async_graphql::Result<ProductPayload> {
        let caller = caller(ctx)?;
        let gw = gateway(ctx)?;
        let svc = ProductInput {
            name: input.name,
            description: input.description,
            price: input.price.map(|a| a.0),
            vat: input.vat,
            currency: input.currency,
        };
        let result = match parse_id(&input.id, "id") {
            Ok(id) => products::update(gw, &caller, id, &svc).await,
            Err(e) => Err(e),
        };
        let (p, errors) = split(result)?;
        Ok(ProductPayload {
            product: p.map(Product),
            errors,
        })
    }
}
