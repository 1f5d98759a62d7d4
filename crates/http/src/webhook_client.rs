//! The webhook transport the scheduler delivers through: a shared reqwest client (rustls, no
//! redirects — a webhook answers where it is told to be), one POST per attempt with its own
//! timeout. Errors are reported without the URL, which may carry a token of its own (a Slack
//! incoming-webhook URL is one).

use std::sync::Arc;

use countersign_service::webhook_delivery::{WebhookRequest, WebhookTransport};
use futures::future::BoxFuture;

/// [`WebhookTransport`] over reqwest.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

impl ReqwestTransport {
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("countersign/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client })
    }
}

impl WebhookTransport for ReqwestTransport {
    fn post<'a>(&'a self, r: &'a WebhookRequest) -> BoxFuture<'a, Result<u16, String>> {
        Box::pin(async move {
            let mut req = self
                .client
                .post(&r.url)
                .timeout(r.timeout)
                .body(r.body.clone());
            for (name, value) in &r.headers {
                req = req.header(*name, value);
            }
            match req.send().await {
                Ok(resp) => Ok(resp.status().as_u16()),
                Err(e) => Err(e.without_url().to_string()),
            }
        })
    }
}

/// The transport for [`countersign_service::Service::with_webhook_transport`].
pub fn webhook_transport() -> Result<Arc<dyn WebhookTransport>, reqwest::Error> {
    Ok(Arc::new(ReqwestTransport::new()?))
}
