//! [`SubjectRepo`] on SQLite: `subjects` (labels as a JSON object).

use async_trait::async_trait;
use countersign_domain::{Subject, SubjectId};
use countersign_store::{Page, PageRequest, StoreError, StoreResult, SubjectFilter, SubjectRepo};
use sqlx::{QueryBuilder, Sqlite};

use crate::error::map_sqlx;
use crate::rows::{SubjectRow, SUBJECT_COLUMNS};
use crate::sql::{cursor, push_page, Conditions};
use crate::timestamp::encode;
use crate::tx::SqliteTransaction;

#[async_trait]
impl SubjectRepo for SqliteTransaction {
    async fn insert_subject(&mut self, subject: &Subject) -> StoreResult<()> {
        let labels = serde_json::to_string(&subject.labels).map_err(StoreError::other)?;
        sqlx::query(
            "INSERT INTO subjects (id, kind, name, policy_id, labels, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(subject.id.to_string())
        .bind(&subject.kind)
        .bind(&subject.name)
        .bind(subject.policy_id.to_string())
        .bind(labels)
        .bind(encode(subject.created_at))
        .execute(self.conn())
        .await
        .map_err(map_sqlx)?;
        Ok(())
    }

    async fn get_subject(&mut self, id: SubjectId) -> StoreResult<Option<Subject>> {
        sqlx::query_as::<_, SubjectRow>(&format!(
            "SELECT {SUBJECT_COLUMNS} FROM subjects WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(self.conn())
        .await
        .map_err(map_sqlx)?
        .map(SubjectRow::into_domain)
        .transpose()
    }

    async fn list_subjects(
        &mut self,
        filter: &SubjectFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Subject>> {
        let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT {SUBJECT_COLUMNS} FROM subjects"));
        let mut conditions = Conditions::default();
        if let Some(kind) = &filter.kind {
            conditions.next(&mut qb);
            qb.push("kind = ").push_bind(kind.clone());
        }
        if let Some(policy) = filter.policy_id {
            conditions.next(&mut qb);
            qb.push("policy_id = ").push_bind(policy.to_string());
        }
        push_page(&mut qb, &mut conditions, "created_at", "id", page);
        let rows = qb
            .build_query_as::<SubjectRow>()
            .fetch_all(self.conn())
            .await
            .map_err(map_sqlx)?
            .into_iter()
            .map(SubjectRow::into_domain)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(rows, page.limit, |s| {
            cursor(s.created_at, s.id)
        }))
    }
}
