// QueueStore: the overnight queue, its history and the rig lock, persistent
// in one SQLite file under the data directory (WAL journal, synchronous
// FULL: what a call returned survives a crash of the daemon or the machine).
//
// The item running is moved out of the queue into a one-row "current" table
// in the same transaction; if the daemon dies while it runs, Open() finds it
// there and records it in the history as INTERRUPTED (with its file).
//
// Threads: non-RT; every method is thread-safe (one internal mutex).
#ifndef DYNCLAMP_SERVER_QUEUE_QUEUE_STORE_H_
#define DYNCLAMP_SERVER_QUEUE_QUEUE_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "dynclamp/v1/queue.pb.h"

struct sqlite3;

namespace dynclamp::server {

class QueueStore {
 public:
  // Opens (creates) `path`. An item left running by a dead daemon goes to
  // the history as INTERRUPTED; interrupted() returns it.
  static absl::StatusOr<std::unique_ptr<QueueStore>> Open(
      const std::string& path, int64_t now_unix_ns);
  ~QueueStore();
  QueueStore(const QueueStore&) = delete;
  QueueStore& operator=(const QueueStore&) = delete;

  const std::optional<v1::HistoryEntry>& interrupted() const {
    return interrupted_;
  }

  // InvalidArgument / NotFound naming the field (position.before, id).
  absl::StatusOr<v1::QueueItem> Add(const v1::AddItemRequest& request,
                                    const std::string& added_by,
                                    int64_t now_unix_ns)
      ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<v1::QueueItem> List() ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<v1::QueueItem> Get(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<v1::QueueItem> Update(uint64_t id,
                                       const v1::RunProtocolRequest& run)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<v1::QueueItem> Move(uint64_t id, const v1::Position& position)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<v1::QueueItem> Remove(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Clear() ABSL_LOCKS_EXCLUDED(mu_);
  std::size_t size() ABSL_LOCKS_EXCLUDED(mu_);

  // The first item, moved out of the queue and marked running; nullopt if
  // the queue is empty.
  absl::StatusOr<std::optional<v1::QueueItem>> TakeNext(int64_t now_unix_ns)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Notes the running item's run and file (for the history if it dies).
  absl::Status NoteRun(uint64_t run_id, const std::string& nwb_path,
                       uint32_t sweeps_total) ABSL_LOCKS_EXCLUDED(mu_);
  // Writes the running item's history entry (status, error, end time and
  // sweeps from `entry`; the rest from what was noted) and clears it.
  absl::StatusOr<v1::HistoryEntry> Finish(const v1::HistoryEntry& entry)
      ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<v1::HistoryEntry> History(uint32_t limit)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The lock. Acquire: FailedPrecondition if another operator holds it.
  // Release: FailedPrecondition unless `op` holds it or `force` (the caller
  // checked that `op` is an admin).
  absl::StatusOr<v1::LockStatus> AcquireLock(const std::string& op,
                                             int64_t now_unix_ns)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<v1::LockStatus> ReleaseLock(const std::string& op,
                                             bool force = false)
      ABSL_LOCKS_EXCLUDED(mu_);
  v1::LockStatus GetLock() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  explicit QueueStore(sqlite3* db) : db_(db) {}
  absl::Status Exec(const char* sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // COMMIT; if it fails (a full disk), ROLLBACK: the transaction would
  // otherwise stay open and every later BEGIN fail.
  absl::Status Commit() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<v1::QueueItem> GetLocked(uint64_t id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The ordering key an item placed at `position` gets (making room).
  absl::StatusOr<int64_t> PlaceLocked(const v1::Position& position,
                                      uint64_t moving)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status RecoverLocked(int64_t now_unix_ns)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_);
  std::optional<v1::HistoryEntry> interrupted_;
};

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_QUEUE_QUEUE_STORE_H_
