//! [`SubjectRepo`]: `subjects` (labels as a JSON object).

use async_trait::async_trait;
use countersign_domain::{Subject, SubjectId};
use countersign_store::{Page, PageRequest, StoreResult, SubjectFilter, SubjectRepo};

use crate::cols::Cols;
use crate::dialect::Dialect;
use crate::sql::{cursor, Sql};
use crate::tx::SqlTransaction;

const SUBJECT_COLUMNS: &str = "id, kind, name, policy_id, labels, created_at";

fn subject<D: Dialect>(r: &Cols<'_, D>) -> StoreResult<Subject> {
    Ok(Subject {
        id: r.parse("subjects.id")?,
        kind: r.text("subjects.kind")?,
        name: r.text("subjects.name")?,
        policy_id: r.parse("subjects.policy_id")?,
        labels: r.json("subjects.labels")?,
        created_at: r.time("subjects.created_at")?,
    })
}

#[async_trait]
impl<D: Dialect> SubjectRepo for SqlTransaction<D> {
    async fn insert_subject(&mut self, subject: &Subject) -> StoreResult<()> {
        Sql::<D>::new(
            "INSERT INTO subjects (id, kind, name, policy_id, labels, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .arg(subject.id.to_string())
        .arg(subject.kind.clone())
        .arg(subject.name.clone())
        .arg(subject.policy_id.to_string())
        .arg(D::encode_json(&subject.labels)?)
        .arg(D::encode_time(subject.created_at))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn get_subject(&mut self, id: SubjectId) -> StoreResult<Option<Subject>> {
        Sql::<D>::new(format!(
            "SELECT {SUBJECT_COLUMNS} FROM subjects WHERE id = $1"
        ))
        .arg(id.to_string())
        .fetch_optional(self.conn(), subject)
        .await
    }

    async fn list_subjects(
        &mut self,
        filter: &SubjectFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Subject>> {
        let mut q = Sql::<D>::new(format!("SELECT {SUBJECT_COLUMNS} FROM subjects"));
        if let Some(kind) = &filter.kind {
            q.and().push("kind = ").bind(kind.clone());
        }
        if let Some(policy) = filter.policy_id {
            q.and().push("policy_id = ").bind(policy.to_string());
        }
        q.page("created_at", "id", page);
        let rows = q.fetch_all(self.conn(), subject).await?;
        Ok(Page::from_rows(rows, page.limit, |s| {
            cursor(s.created_at, s.id)
        }))
    }
}
