//! Group commit for the file store: writes that arrive while a commit is
//! under way wait, and the next commit takes all of them in one
//! transaction. Each caller is answered only once the commit holding its
//! write is durable, as with a transaction per write; a write that fails is
//! taken out, answered with its error, and the others are run again
//! without it in a new transaction.

use super::unavailable;
use crate::sync::lock;
use redb::{Database, WriteTransaction};
use sbp_core::session::StoreError;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// One write waiting for a commit.
trait Job: Send {
    /// Runs the write in `txn`, keeping its result for [`Job::answer`].
    fn run(&mut self, txn: &WriteTransaction) -> Result<(), StoreError>;
    /// Answers the caller: the write's result if `committed` is `Ok`.
    fn answer(self: Box<Self>, committed: Result<(), StoreError>);
}

struct Write<T, F> {
    write: F,
    output: Option<T>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for Write<T, F>
where
    T: Send,
    F: Fn(&WriteTransaction) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, txn: &WriteTransaction) -> Result<(), StoreError> {
        self.output = Some((self.write)(txn)?);
        Ok(())
    }

    fn answer(self: Box<Self>, committed: Result<(), StoreError>) {
        let output = self.output;
        let answer = committed.and_then(|()| output.ok_or_else(|| unavailable("write not run")));
        let _ = self.reply.send(answer);
    }
}

/// A write and what its caller is told.
type Answered = (Box<dyn Job>, Result<(), StoreError>);

/// The writes waiting for the next commit.
#[derive(Default)]
pub struct Commits {
    waiting: Mutex<Waiting>,
}

#[derive(Default)]
struct Waiting {
    jobs: Vec<Box<dyn Job>>,
    /// A blocking task is waiting for the write lock and will take `jobs`:
    /// at most one waits, however many writes arrive.
    committer: bool,
}

impl Commits {
    /// Runs `write` in the next commit; its result once that is durable.
    /// `write` may run more than once (each time in a new transaction), so
    /// it only reads what it captured.
    pub async fn write<T, F>(
        self: &Arc<Self>,
        db: &Arc<Database>,
        write: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let start_committer = {
            let mut waiting = lock(&self.waiting);
            waiting.jobs.push(Box::new(Write {
                write,
                output: None,
                reply,
            }));
            !std::mem::replace(&mut waiting.committer, true)
        };
        if start_committer {
            let (commits, db) = (self.clone(), db.clone());
            tokio::task::spawn_blocking(move || {
                let answers = commits.commit_waiting(&db);
                // Let go of the database before answering: a caller that
                // drops the store once answered can open the file again.
                drop(db);
                for (job, answer) in answers {
                    job.answer(answer);
                }
            });
        }
        answer
            .await
            .map_err(|_| unavailable("the write was dropped"))?
    }

    /// Commits every waiting write (blocking: waits for a commit under way,
    /// then takes what arrived meanwhile; later writes start the next one).
    /// Returns each write with its answer.
    fn commit_waiting(&self, db: &Database) -> Vec<Answered> {
        let mut txn = db.begin_write().map_err(unavailable);
        let mut jobs = {
            let mut waiting = lock(&self.waiting);
            waiting.committer = false;
            std::mem::take(&mut waiting.jobs)
        };
        let mut answered = Vec::with_capacity(jobs.len());
        loop {
            let open = match txn {
                Ok(open) => open,
                Err(e) => {
                    answered.extend(jobs.into_iter().map(|job| (job, Err(e.clone()))));
                    return answered;
                }
            };
            let failed = jobs
                .iter_mut()
                .enumerate()
                .find_map(|(i, job)| job.run(&open).err().map(|e| (i, e)));
            let Some((i, e)) = failed else {
                let committed = open.commit().map_err(unavailable);
                answered.extend(jobs.into_iter().map(|job| (job, committed.clone())));
                return answered;
            };
            let _ = open.abort();
            answered.push((jobs.remove(i), Err(e)));
            if jobs.is_empty() {
                return answered;
            }
            txn = db.begin_write().map_err(unavailable);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{ReadableDatabase, TableDefinition};

    const NUMBERS: TableDefinition<&str, u64> = TableDefinition::new("numbers");

    fn put(txn: &WriteTransaction, key: &str, n: u64) -> Result<(), StoreError> {
        let mut table = txn.open_table(NUMBERS).map_err(unavailable)?;
        table.insert(key, n).map_err(unavailable)?;
        Ok(())
    }

    fn stored(db: &Database, key: &str) -> Option<u64> {
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(NUMBERS).ok()?;
        table.get(key).unwrap().map(|v| v.value())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_all_land_and_a_failing_one_takes_none_down() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::create(dir.path().join("db.redb")).unwrap());
        let commits = Arc::new(Commits::default());
        let writes = (0..64u64).map(|n| {
            let (commits, db) = (commits.clone(), db.clone());
            tokio::spawn(async move {
                let key = format!("k{n}");
                commits
                    .write(&db, move |txn| {
                        put(txn, &key, n)?;
                        // Every eighth write fails after writing.
                        if n % 8 == 7 {
                            return Err(StoreError::Unavailable(format!("refused {n}")));
                        }
                        Ok(n * 10)
                    })
                    .await
            })
        });
        let answers = futures_util::future::join_all(writes).await;
        for (n, answer) in (0..64u64).zip(answers) {
            let answer = answer.unwrap();
            if n % 8 == 7 {
                assert_eq!(answer, Err(StoreError::Unavailable(format!("refused {n}"))));
                assert_eq!(stored(&db, &format!("k{n}")), None, "k{n} rolled back");
            } else {
                assert_eq!(answer, Ok(n * 10));
                assert_eq!(stored(&db, &format!("k{n}")), Some(n), "k{n} committed");
            }
        }
    }

    #[tokio::test]
    async fn an_answered_write_is_in_the_file_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let db = Arc::new(Database::create(&path).unwrap());
        let commits = Arc::new(Commits::default());
        assert_eq!(commits.write(&db, |txn| put(txn, "kept", 7)).await, Ok(()));
        drop(db);
        let reopened = Database::create(&path).unwrap();
        assert_eq!(stored(&reopened, "kept"), Some(7));
    }
}
