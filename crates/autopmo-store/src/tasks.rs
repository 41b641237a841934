//! Tasks and their dependencies.

use crate::codec::{date, field, parse_opt_date, parse_ts, ts};
use crate::error::{Result, StoreError};
use crate::page::{Arg, ListParams, Page, SortKey, Statement, finish};
use autopmo_domain::graph::find_cycle;
use autopmo_domain::{
    Description, Hours, Percent, PlannedDates, ProjectId, Task, TaskId, TaskStatus, TaskTitle, UserId,
};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

const TABLE: &str = "tasks";
const COLUMNS: &str = "SELECT id, project_id, title, description, status, assignee_id, estimate_hundredths, \
                       actual_hundredths, planned_start, planned_finish, percent_complete, created_at, updated_at, \
                       version FROM tasks";

/// Columns a task list can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TaskSort {
    /// By creation time (the default).
    #[default]
    CreatedAt,
    /// By last change.
    UpdatedAt,
    /// By title.
    Title,
    /// By status name.
    Status,
}

impl SortKey for TaskSort {
    fn column(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            Self::Title => "title",
            Self::Status => "status",
        }
    }

    fn name(self) -> &'static str {
        self.column()
    }
}

/// Which tasks of a project to list.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Only this status.
    pub status: Option<TaskStatus>,
    /// Only tasks assigned to this user.
    pub assignee_id: Option<UserId>,
}

/// Stores a new task and its dependencies. The caller must hold the
/// project's lock ([`crate::projects::lock`]) so the cycle check is sound.
pub async fn insert(conn: &mut AnyConnection, t: &Task) -> Result<()> {
    sqlx::query(
        "INSERT INTO tasks (id, project_id, title, description, status, assignee_id, estimate_hundredths, \
         actual_hundredths, planned_start, planned_finish, percent_complete, created_at, updated_at, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(t.id.to_string())
    .bind(t.project_id.to_string())
    .bind(t.title.as_str())
    .bind(t.description.as_str())
    .bind(t.status.as_str())
    .bind(t.assignee_id.map(|a| a.to_string()))
    .bind(t.estimate_hours.map(|h| h.hundredths()))
    .bind(t.actual_hours.map(|h| h.hundredths()))
    .bind(t.planned.start.map(date))
    .bind(t.planned.end.map(date))
    .bind(i64::from(t.percent_complete.value()))
    .bind(ts(t.created_at))
    .bind(ts(t.updated_at))
    .bind(t.version)
    .execute(&mut *conn)
    .await?;
    set_dependencies(conn, t.project_id, t.id, &t.depends_on).await
}

/// Reads one task of a project.
pub async fn get(conn: &mut AnyConnection, project: ProjectId, id: TaskId) -> Result<Task> {
    let mut stmt = Statement::new(COLUMNS);
    stmt.push(" WHERE project_id = ")
        .bind(Arg::Text(project.to_string()))
        .push(" AND id = ")
        .bind(Arg::Text(id.to_string()));
    let row = stmt.query().fetch_optional(&mut *conn).await?.ok_or(StoreError::NotFound)?;
    let mut tasks = vec![from_row(&row)?];
    load_dependencies(conn, &mut tasks).await?;
    tasks.pop().ok_or(StoreError::NotFound)
}

/// Writes `t` over the stored task if still at `expected_version`, replacing
/// its dependencies. The caller must hold the project's lock.
pub async fn update(conn: &mut AnyConnection, t: &Task, expected_version: i64) -> Result<Task> {
    let result = sqlx::query(
        "UPDATE tasks SET title = $1, description = $2, status = $3, assignee_id = $4, estimate_hundredths = $5, \
         actual_hundredths = $6, planned_start = $7, planned_finish = $8, percent_complete = $9, updated_at = $10, \
         version = version + 1 WHERE project_id = $11 AND id = $12 AND version = $13",
    )
    .bind(t.title.as_str())
    .bind(t.description.as_str())
    .bind(t.status.as_str())
    .bind(t.assignee_id.map(|a| a.to_string()))
    .bind(t.estimate_hours.map(|h| h.hundredths()))
    .bind(t.actual_hours.map(|h| h.hundredths()))
    .bind(t.planned.start.map(date))
    .bind(t.planned.end.map(date))
    .bind(i64::from(t.percent_complete.value()))
    .bind(ts(t.updated_at))
    .bind(t.project_id.to_string())
    .bind(t.id.to_string())
    .bind(expected_version)
    .execute(&mut *conn)
    .await?;
    if result.rows_affected() == 0 {
        let current = get(conn, t.project_id, t.id).await?;
        return Err(StoreError::VersionMismatch { current: current.version });
    }
    set_dependencies(conn, t.project_id, t.id, &t.depends_on).await?;
    get(conn, t.project_id, t.id).await
}

/// Deletes a task (and the dependencies on it).
pub async fn delete(
    conn: &mut AnyConnection,
    project: ProjectId,
    id: TaskId,
    expected_version: Option<i64>,
) -> Result<()> {
    let current = get(conn, project, id).await?;
    if let Some(v) = expected_version
        && v != current.version
    {
        return Err(StoreError::VersionMismatch { current: current.version });
    }
    sqlx::query("DELETE FROM tasks WHERE project_id = $1 AND id = $2")
        .bind(project.to_string())
        .bind(id.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Lists a project's tasks.
pub async fn list(
    conn: &mut AnyConnection,
    project: ProjectId,
    filter: &TaskFilter,
    params: &ListParams<TaskSort>,
) -> Result<Page<Task>> {
    let mut stmt = Statement::new(COLUMNS);
    stmt.push(" WHERE project_id = ")
        .bind(Arg::Text(project.to_string()))
        .filter_eq("status", filter.status.map(|s| s.as_str().to_owned()))
        .filter_eq("assignee_id", filter.assignee_id.map(|a| a.to_string()));
    stmt.paginate(params)?;
    let rows = stmt.query().fetch_all(&mut *conn).await?;
    let mut items = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    load_dependencies(conn, &mut items).await?;
    Ok(finish(items, params, |t| {
        let key = match params.sort {
            TaskSort::CreatedAt => ts(t.created_at),
            TaskSort::UpdatedAt => ts(t.updated_at),
            TaskSort::Title => t.title.as_str().to_owned(),
            TaskSort::Status => t.status.as_str().to_owned(),
        };
        (key, t.id.to_string())
    }))
}

/// Checks that every id in `depends_on` is a task of `project` and that
/// making `task` depend on them closes no cycle. Errors are
/// [`StoreError::Rule`] with a sentence for the client.
pub async fn check_dependencies(
    conn: &mut AnyConnection,
    project: ProjectId,
    task: TaskId,
    depends_on: &[TaskId],
) -> Result<()> {
    if depends_on.is_empty() {
        return Ok(());
    }
    let mut stmt = Statement::new("SELECT id FROM tasks WHERE project_id = ");
    stmt.bind(Arg::Text(project.to_string())).push(" AND id IN ").bind_list(depends_on.iter().map(ToString::to_string));
    let found: Vec<String> =
        stmt.query().fetch_all(&mut *conn).await?.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?;
    if let Some(missing) = depends_on.iter().find(|d| !found.contains(&d.to_string())) {
        return Err(StoreError::Rule(format!("task {missing} is not a task of this project")));
    }
    let rows = sqlx::query("SELECT task_id, depends_on_id FROM task_dependencies WHERE project_id = $1")
        .bind(project.to_string())
        .fetch_all(conn)
        .await?;
    let edges = rows
        .iter()
        .map(|r| {
            let from = field(TABLE, r.try_get::<String, _>(0)?.parse::<TaskId>())?;
            let to = field(TABLE, r.try_get::<String, _>(1)?.parse::<TaskId>())?;
            Ok((from, to))
        })
        .collect::<Result<Vec<_>>>()?;
    if let Some(cycle) = find_cycle(&edges, task, depends_on) {
        let path = cycle.iter().map(ToString::to_string).collect::<Vec<_>>().join(" -> ");
        return Err(StoreError::Rule(format!("these dependencies would form a cycle: {path}")));
    }
    Ok(())
}

async fn set_dependencies(
    conn: &mut AnyConnection,
    project: ProjectId,
    task: TaskId,
    depends_on: &[TaskId],
) -> Result<()> {
    sqlx::query("DELETE FROM task_dependencies WHERE task_id = $1").bind(task.to_string()).execute(&mut *conn).await?;
    for dep in depends_on {
        sqlx::query("INSERT INTO task_dependencies (project_id, task_id, depends_on_id) VALUES ($1, $2, $3)")
            .bind(project.to_string())
            .bind(task.to_string())
            .bind(dep.to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn load_dependencies(conn: &mut AnyConnection, tasks: &mut [Task]) -> Result<()> {
    if tasks.is_empty() {
        return Ok(());
    }
    let mut stmt = Statement::new("SELECT task_id, depends_on_id FROM task_dependencies WHERE task_id IN ");
    stmt.bind_list(tasks.iter().map(|t| t.id.to_string()));
    for row in stmt.query().fetch_all(conn).await? {
        let from = field(TABLE, row.try_get::<String, _>(0)?.parse::<TaskId>())?;
        let to = field(TABLE, row.try_get::<String, _>(1)?.parse::<TaskId>())?;
        if let Some(t) = tasks.iter_mut().find(|t| t.id == from) {
            t.depends_on.push(to);
        }
    }
    tasks.iter_mut().for_each(|t| t.depends_on.sort());
    Ok(())
}

fn hours(raw: Option<i64>) -> Result<Option<Hours>> {
    raw.map(|h| Hours::from_hundredths(h).ok_or_else(|| StoreError::corrupt(TABLE, "hours out of range"))).transpose()
}

fn from_row(row: &AnyRow) -> Result<Task> {
    let assignee: Option<String> = row.try_get("assignee_id")?;
    Ok(Task {
        id: field(TABLE, row.try_get::<String, _>("id")?.parse::<TaskId>())?,
        project_id: field(TABLE, row.try_get::<String, _>("project_id")?.parse::<ProjectId>())?,
        title: field(TABLE, TaskTitle::parse(&row.try_get::<String, _>("title")?))?,
        description: field(TABLE, Description::parse(&row.try_get::<String, _>("description")?))?,
        status: field(TABLE, TaskStatus::parse(&row.try_get::<String, _>("status")?))?,
        assignee_id: assignee.map(|a| field(TABLE, a.parse::<UserId>())).transpose()?,
        estimate_hours: hours(row.try_get("estimate_hundredths")?)?,
        actual_hours: hours(row.try_get("actual_hundredths")?)?,
        planned: field(
            TABLE,
            PlannedDates::new(
                parse_opt_date(TABLE, row.try_get("planned_start")?)?,
                parse_opt_date(TABLE, row.try_get("planned_finish")?)?,
            ),
        )?,
        percent_complete: field(TABLE, Percent::new(row.try_get("percent_complete")?))?,
        depends_on: Vec::new(),
        created_at: parse_ts(TABLE, &row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_ts(TABLE, &row.try_get::<String, _>("updated_at")?)?,
        version: row.try_get("version")?,
    })
}

/// A project's tasks counted by status, with the sum of their percent complete.
pub async fn count_by_status(conn: &mut AnyConnection, project: ProjectId) -> Result<Vec<(TaskStatus, i64, i64)>> {
    let rows = sqlx::query(
        "SELECT status, CAST(COUNT(*) AS BIGINT), CAST(COALESCE(SUM(percent_complete), 0) AS BIGINT) FROM tasks \
         WHERE project_id = $1 GROUP BY status",
    )
    .bind(project.to_string())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            let status = field(TABLE, TaskStatus::parse(&row.try_get::<String, _>(0)?))?;
            Ok((status, row.try_get(1)?, row.try_get(2)?))
        })
        .collect()
}
