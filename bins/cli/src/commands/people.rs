//! People by name: [`Directory`] maps principal ids to names for tables (requested by,
//! decided by, votes) and resolves a `--requested-by bob` style argument (a name or an id) to
//! an id, through the principals API.

use std::collections::HashMap;

use countersign_api::domain::PrincipalId;
use countersign_api::{ListPage, PrincipalView};

use crate::client::Query;
use crate::commands::Ctx;
use crate::error::CliError;

/// Principal names by id. Empty when the key may not read principals: tables then show ids.
#[derive(Debug, Default, Clone)]
pub struct Directory {
    names: HashMap<String, String>,
}

impl Directory {
    /// Every principal (following `next_cursor`), or an empty directory when the key lacks
    /// `auth.principal.read` (403): names are a convenience, not a reason to fail.
    pub async fn load(ctx: &Ctx) -> Result<Self, CliError> {
        match all_principals(ctx).await {
            Ok(list) => Ok(Self::from_views(&list)),
            Err(CliError::Api(e)) if e.status == 403 => Ok(Self::default()),
            Err(e) => Err(e),
        }
    }

    pub fn from_views(list: &[PrincipalView]) -> Self {
        Self::from_names(
            list.iter()
                .map(|p| (p.principal.id.to_string(), p.principal.name.to_string())),
        )
    }

    /// From `(id, name)` pairs.
    pub fn from_names<I, S>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (S, S)>,
        S: Into<String>,
    {
        Self {
            names: pairs
                .into_iter()
                .map(|(id, name)| (id.into(), name.into()))
                .collect(),
        }
    }

    /// The name of `id`, else the id itself; `-` for none.
    pub fn name(&self, id: Option<&str>) -> String {
        match id {
            None | Some("") => "-".to_owned(),
            Some(id) => self.names.get(id).cloned().unwrap_or_else(|| id.to_owned()),
        }
    }
}

/// Every principal the key can see.
pub async fn all_principals(ctx: &Ctx) -> Result<Vec<PrincipalView>, CliError> {
    let mut out = Vec::new();
    let mut query = Query::new().opt("limit", Some(500));
    loop {
        let page: ListPage<PrincipalView> = ctx
            .client
            .get_json(&format!("/api/v1/auth/principals{}", query.render()))
            .await?;
        out.extend(page.data);
        match page.next_cursor {
            Some(c) => query.set("cursor", c),
            None => return Ok(out),
        }
    }
}

/// A principal given by id (`prn_…`) or by name, as its id. An unknown name is a usage error.
pub async fn resolve(ctx: &Ctx, who: &str) -> Result<String, CliError> {
    if who.parse::<PrincipalId>().is_ok() {
        return Ok(who.to_owned());
    }
    let all = match all_principals(ctx).await {
        Err(CliError::Api(e)) if e.status == 403 => {
            return Err(CliError::Usage(format!(
                "cannot look `{who}` up: this key may not read principals \
                 (auth.principal.read); pass the id (`prn_…`) instead"
            )))
        }
        other => other?,
    };
    all.iter()
        .find(|p| p.principal.name.as_str() == who)
        .map(|p| p.principal.id.to_string())
        .ok_or_else(|| CliError::Usage(format!("no principal is named `{who}`")))
}
