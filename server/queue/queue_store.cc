#include "server/queue/queue_store.h"

#include <sqlite3.h>

#include "absl/strings/str_cat.h"

namespace dynclamp::server {
namespace {

// One prepared statement; finalized when it goes out of scope.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()),
                      SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& BindBlob(int i, const std::string& v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()),
                      SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& BindNull(int i) {
    sqlite3_bind_null(stmt_, i);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return rc_ == SQLITE_OK ? sqlite3_step(stmt_) : rc_; }
  absl::Status Run() {
    const int rc = Step();
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) return absl::OkStatus();
    return absl::InternalError(
        absl::StrCat("queue database: ", sqlite3_errmsg(db_)));
  }
  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
  std::string Blob(int col) {
    const void* p = sqlite3_column_blob(stmt_, col);
    return p ? std::string(static_cast<const char*>(p),
                           sqlite3_column_bytes(stmt_, col))
             : std::string();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

constexpr char kSchema[] = R"sql(
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE IF NOT EXISTS items(
  id INTEGER PRIMARY KEY AUTOINCREMENT, ord INTEGER NOT NULL,
  request_id TEXT, name TEXT, run BLOB NOT NULL,
  added_unix_ns INTEGER, added_by TEXT);
CREATE TABLE IF NOT EXISTS request_ids(
  request_id TEXT PRIMARY KEY, item BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS current(
  singleton INTEGER PRIMARY KEY CHECK (singleton = 0), item BLOB NOT NULL,
  started_unix_ns INTEGER, run_id INTEGER, nwb_path TEXT,
  sweeps_total INTEGER);
CREATE TABLE IF NOT EXISTS history(
  id INTEGER PRIMARY KEY AUTOINCREMENT, item_id INTEGER, name TEXT,
  status INTEGER, started_unix_ns INTEGER, ended_unix_ns INTEGER,
  nwb_path TEXT, error TEXT, run_id INTEGER, sweeps_completed INTEGER,
  sweeps_total INTEGER);
CREATE TABLE IF NOT EXISTS lock(
  singleton INTEGER PRIMARY KEY CHECK (singleton = 0), owner TEXT,
  since_unix_ns INTEGER);
)sql";

constexpr char kItemColumns[] =
    "id, request_id, name, run, added_unix_ns, added_by";

v1::QueueItem ItemFrom(Stmt& s) {
  v1::QueueItem item;
  item.set_id(static_cast<uint64_t>(s.Int(0)));
  item.set_request_id(s.Text(1));
  item.set_name(s.Text(2));
  item.mutable_run()->ParseFromString(s.Blob(3));
  item.set_added_unix_ns(s.Int(4));
  item.set_added_by(s.Text(5));
  return item;
}

std::string ItemName(const v1::RunProtocolRequest& run) {
  return run.protocol().name().empty() ? "protocol" : run.protocol().name();
}

}  // namespace

absl::StatusOr<std::unique_ptr<QueueStore>> QueueStore::Open(
    const std::string& path, int64_t now) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    const std::string why = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::FailedPreconditionError(
        absl::StrCat("queue database '", path, "': ", why));
  }
  sqlite3_busy_timeout(db, 5000);
  auto store = std::unique_ptr<QueueStore>(new QueueStore(db));
  absl::MutexLock lock(&store->mu_);
  if (auto s = store->Exec(kSchema); !s.ok()) return s;
  if (auto s = store->RecoverLocked(now); !s.ok()) return s;
  return store;
}

QueueStore::~QueueStore() {
  absl::MutexLock lock(&mu_);
  sqlite3_close(db_);
}

absl::Status QueueStore::Commit() {
  absl::Status s = Exec("COMMIT");
  if (!s.ok()) Exec("ROLLBACK").IgnoreError();
  return s;
}

absl::Status QueueStore::Exec(const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string why = error ? error : "unknown error";
    sqlite3_free(error);
    return absl::InternalError(absl::StrCat("queue database: ", why));
  }
  return absl::OkStatus();
}

absl::Status QueueStore::RecoverLocked(int64_t now) {
  Stmt s(db_,
         "SELECT item, started_unix_ns, run_id, nwb_path, sweeps_total FROM "
         "current");
  if (s.Step() != SQLITE_ROW) return absl::OkStatus();
  v1::QueueItem item;
  item.ParseFromString(s.Blob(0));
  v1::HistoryEntry e;
  e.set_item_id(item.id());
  e.set_name(item.name());
  e.set_status(v1::INTERRUPTED_ITEM);
  e.set_started_unix_ns(s.Int(1));
  e.set_ended_unix_ns(now);
  e.set_run_id(static_cast<uint64_t>(s.Int(2)));
  e.set_nwb_path(s.Text(3));
  e.set_sweeps_total(static_cast<uint32_t>(s.Int(4)));
  e.set_error("the daemon stopped while the item ran");
  interrupted_ = e;
  mu_.Unlock();
  absl::StatusOr<v1::HistoryEntry> written = Finish(e);
  mu_.Lock();
  if (!written.ok()) return written.status();
  interrupted_ = *written;
  return absl::OkStatus();
}

absl::StatusOr<int64_t> QueueStore::PlaceLocked(const v1::Position& p,
                                                uint64_t moving) {
  auto edge = [&](const char* sql) {
    Stmt s(db_, sql);
    s.Bind(1, static_cast<int64_t>(moving));
    return s.Step() == SQLITE_ROW ? s.Int(0) : 0;
  };
  switch (p.where_case()) {
    case v1::Position::WHERE_NOT_SET:
    case v1::Position::kBack:
      return edge("SELECT COALESCE(MAX(ord), 0) + 1 FROM items WHERE id != ?");
    case v1::Position::kFront:
      return edge("SELECT COALESCE(MIN(ord), 0) - 1 FROM items WHERE id != ?");
    case v1::Position::kBefore:
    case v1::Position::kAfter: {
      const bool before = p.where_case() == v1::Position::kBefore;
      const uint64_t other = before ? p.before() : p.after();
      const char* field = before ? "position.before" : "position.after";
      if (other == moving) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ": an item cannot move next to itself"));
      }
      Stmt s(db_, "SELECT ord FROM items WHERE id = ?");
      s.Bind(1, static_cast<int64_t>(other));
      if (s.Step() != SQLITE_ROW) {
        return absl::NotFoundError(
            absl::StrCat(field, ": no queued item ", other));
      }
      const int64_t ord = s.Int(0);
      // Make room: everything from the slot on moves one back.
      Stmt shift(db_, "UPDATE items SET ord = ord + 1 WHERE ord >= ?");
      shift.Bind(1, before ? ord : ord + 1);
      if (auto st = shift.Run(); !st.ok()) return st;
      return before ? ord : ord + 1;
    }
  }
  return absl::InvalidArgumentError("position: unknown");
}

absl::StatusOr<v1::QueueItem> QueueStore::Add(const v1::AddItemRequest& r,
                                              const std::string& added_by,
                                              int64_t now) {
  absl::MutexLock lock(&mu_);
  if (!r.request_id().empty()) {
    Stmt s(db_, "SELECT item FROM request_ids WHERE request_id = ?");
    s.Bind(1, r.request_id());
    if (s.Step() == SQLITE_ROW) {
      v1::QueueItem item;
      item.ParseFromString(s.Blob(0));
      absl::StatusOr<v1::QueueItem> now_queued = GetLocked(item.id());
      return now_queued.ok() ? *now_queued : item;
    }
  }
  if (auto s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  auto rollback = [this](absl::Status s) {
    Exec("ROLLBACK").IgnoreError();
    return s;
  };
  absl::StatusOr<int64_t> ord = PlaceLocked(r.position(), 0);
  if (!ord.ok()) return rollback(ord.status());
  Stmt insert(db_,
              "INSERT INTO items(ord, request_id, name, run, added_unix_ns, "
              "added_by) VALUES (?, ?, ?, ?, ?, ?)");
  insert.Bind(1, *ord);
  if (r.request_id().empty()) {
    insert.BindNull(2);
  } else {
    insert.Bind(2, r.request_id());
  }
  insert.Bind(3, ItemName(r.run()))
      .BindBlob(4, r.run().SerializeAsString())
      .Bind(5, now)
      .Bind(6, added_by);
  if (auto s = insert.Run(); !s.ok()) return rollback(s);
  const uint64_t id = static_cast<uint64_t>(sqlite3_last_insert_rowid(db_));
  absl::StatusOr<v1::QueueItem> item = GetLocked(id);
  if (!item.ok()) return rollback(item.status());
  if (!r.request_id().empty()) {
    Stmt remember(db_,
                  "INSERT INTO request_ids(request_id, item) VALUES (?, ?)");
    remember.Bind(1, r.request_id()).BindBlob(2, item->SerializeAsString());
    if (auto s = remember.Run(); !s.ok()) return rollback(s);
  }
  if (auto s = Exec("COMMIT"); !s.ok()) return rollback(s);
  return item;
}

absl::StatusOr<v1::QueueItem> QueueStore::GetLocked(uint64_t id) {
  Stmt s(db_, absl::StrCat("SELECT ", kItemColumns,
                           ", (SELECT COUNT(*) FROM items o WHERE o.ord < "
                           "items.ord) FROM items WHERE id = ?")
                  .c_str());
  s.Bind(1, static_cast<int64_t>(id));
  if (s.Step() != SQLITE_ROW) {
    return absl::NotFoundError(absl::StrCat("id: no queued item ", id));
  }
  v1::QueueItem item = ItemFrom(s);
  item.set_position(static_cast<uint32_t>(s.Int(6)));
  return item;
}

absl::StatusOr<v1::QueueItem> QueueStore::Get(uint64_t id) {
  absl::MutexLock lock(&mu_);
  return GetLocked(id);
}

std::vector<v1::QueueItem> QueueStore::List() {
  absl::MutexLock lock(&mu_);
  Stmt s(db_,
         absl::StrCat("SELECT ", kItemColumns, " FROM items ORDER BY ord, id")
             .c_str());
  std::vector<v1::QueueItem> items;
  while (s.Step() == SQLITE_ROW) {
    items.push_back(ItemFrom(s));
    items.back().set_position(static_cast<uint32_t>(items.size() - 1));
  }
  return items;
}

std::size_t QueueStore::size() {
  absl::MutexLock lock(&mu_);
  Stmt s(db_, "SELECT COUNT(*) FROM items");
  return s.Step() == SQLITE_ROW ? static_cast<std::size_t>(s.Int(0)) : 0;
}

absl::StatusOr<v1::QueueItem> QueueStore::Update(
    uint64_t id, const v1::RunProtocolRequest& run) {
  absl::MutexLock lock(&mu_);
  if (auto item = GetLocked(id); !item.ok()) return item.status();
  Stmt s(db_, "UPDATE items SET run = ?, name = ? WHERE id = ?");
  s.BindBlob(1, run.SerializeAsString())
      .Bind(2, ItemName(run))
      .Bind(3, static_cast<int64_t>(id));
  if (auto st = s.Run(); !st.ok()) return st;
  return GetLocked(id);
}

absl::StatusOr<v1::QueueItem> QueueStore::Move(uint64_t id,
                                               const v1::Position& position) {
  absl::MutexLock lock(&mu_);
  if (auto item = GetLocked(id); !item.ok()) return item.status();
  if (auto s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  absl::StatusOr<int64_t> ord = PlaceLocked(position, id);
  if (!ord.ok()) {
    Exec("ROLLBACK").IgnoreError();
    return ord.status();
  }
  Stmt s(db_, "UPDATE items SET ord = ? WHERE id = ?");
  s.Bind(1, *ord).Bind(2, static_cast<int64_t>(id));
  if (auto st = s.Run(); !st.ok()) {
    Exec("ROLLBACK").IgnoreError();
    return st;
  }
  if (auto st = Commit(); !st.ok()) return st;
  return GetLocked(id);
}

absl::StatusOr<v1::QueueItem> QueueStore::Remove(uint64_t id) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<v1::QueueItem> item = GetLocked(id);
  if (!item.ok()) return item.status();
  Stmt s(db_, "DELETE FROM items WHERE id = ?");
  s.Bind(1, static_cast<int64_t>(id));
  if (auto st = s.Run(); !st.ok()) return st;
  return item;
}

absl::Status QueueStore::Clear() {
  absl::MutexLock lock(&mu_);
  return Exec("DELETE FROM items");
}

absl::StatusOr<std::optional<v1::QueueItem>> QueueStore::TakeNext(int64_t now) {
  absl::MutexLock lock(&mu_);
  if (auto s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  Stmt first(db_, absl::StrCat("SELECT ", kItemColumns,
                               " FROM items ORDER BY ord, id LIMIT 1")
                      .c_str());
  if (first.Step() != SQLITE_ROW) {
    Exec("ROLLBACK").IgnoreError();
    return std::optional<v1::QueueItem>();
  }
  v1::QueueItem item = ItemFrom(first);
  Stmt remove(db_, "DELETE FROM items WHERE id = ?");
  remove.Bind(1, static_cast<int64_t>(item.id()));
  Stmt running(db_,
               "INSERT OR REPLACE INTO current(singleton, item, "
               "started_unix_ns, run_id, nwb_path, sweeps_total) VALUES (0, "
               "?, ?, 0, '', 0)");
  running.BindBlob(1, item.SerializeAsString()).Bind(2, now);
  for (Stmt* s : {&remove, &running}) {
    if (auto st = s->Run(); !st.ok()) {
      Exec("ROLLBACK").IgnoreError();
      return st;
    }
  }
  if (auto s = Commit(); !s.ok()) return s;
  return std::optional<v1::QueueItem>(std::move(item));
}

absl::Status QueueStore::NoteRun(uint64_t run_id, const std::string& nwb_path,
                                 uint32_t sweeps_total) {
  absl::MutexLock lock(&mu_);
  Stmt s(db_, "UPDATE current SET run_id = ?, nwb_path = ?, sweeps_total = ?");
  s.Bind(1, static_cast<int64_t>(run_id))
      .Bind(2, nwb_path)
      .Bind(3, static_cast<int64_t>(sweeps_total));
  return s.Run();
}

absl::StatusOr<v1::HistoryEntry> QueueStore::Finish(
    const v1::HistoryEntry& entry) {
  absl::MutexLock lock(&mu_);
  v1::HistoryEntry e = entry;
  {
    Stmt s(db_,
           "SELECT item, started_unix_ns, run_id, nwb_path, sweeps_total FROM "
           "current");
    if (s.Step() == SQLITE_ROW) {
      v1::QueueItem item;
      item.ParseFromString(s.Blob(0));
      e.set_item_id(item.id());
      e.set_name(item.name());
      e.set_started_unix_ns(s.Int(1));
      if (e.run_id() == 0) e.set_run_id(static_cast<uint64_t>(s.Int(2)));
      if (e.nwb_path().empty()) e.set_nwb_path(s.Text(3));
      if (e.sweeps_total() == 0)
        e.set_sweeps_total(static_cast<uint32_t>(s.Int(4)));
    }
  }
  if (auto s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  Stmt insert(db_,
              "INSERT INTO history(item_id, name, status, started_unix_ns, "
              "ended_unix_ns, nwb_path, error, run_id, sweeps_completed, "
              "sweeps_total) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  insert.Bind(1, static_cast<int64_t>(e.item_id()))
      .Bind(2, e.name())
      .Bind(3, static_cast<int64_t>(e.status()))
      .Bind(4, e.started_unix_ns())
      .Bind(5, e.ended_unix_ns())
      .Bind(6, e.nwb_path())
      .Bind(7, e.error())
      .Bind(8, static_cast<int64_t>(e.run_id()))
      .Bind(9, static_cast<int64_t>(e.sweeps_completed()))
      .Bind(10, static_cast<int64_t>(e.sweeps_total()));
  Stmt clear(db_, "DELETE FROM current");
  for (Stmt* s : {&insert, &clear}) {
    if (auto st = s->Run(); !st.ok()) {
      Exec("ROLLBACK").IgnoreError();
      return st;
    }
  }
  e.set_id(static_cast<uint64_t>(sqlite3_last_insert_rowid(db_)));
  if (auto s = Commit(); !s.ok()) return s;
  return e;
}

std::vector<v1::HistoryEntry> QueueStore::History(uint32_t limit) {
  absl::MutexLock lock(&mu_);
  Stmt s(db_,
         "SELECT id, item_id, name, status, started_unix_ns, ended_unix_ns, "
         "nwb_path, error, run_id, sweeps_completed, sweeps_total FROM "
         "history ORDER BY id DESC LIMIT ?");
  s.Bind(1, static_cast<int64_t>(limit == 0 ? 100 : limit));
  std::vector<v1::HistoryEntry> out;
  while (s.Step() == SQLITE_ROW) {
    v1::HistoryEntry e;
    e.set_id(static_cast<uint64_t>(s.Int(0)));
    e.set_item_id(static_cast<uint64_t>(s.Int(1)));
    e.set_name(s.Text(2));
    e.set_status(static_cast<v1::ExitStatus>(s.Int(3)));
    e.set_started_unix_ns(s.Int(4));
    e.set_ended_unix_ns(s.Int(5));
    e.set_nwb_path(s.Text(6));
    e.set_error(s.Text(7));
    e.set_run_id(static_cast<uint64_t>(s.Int(8)));
    e.set_sweeps_completed(static_cast<uint32_t>(s.Int(9)));
    e.set_sweeps_total(static_cast<uint32_t>(s.Int(10)));
    out.push_back(std::move(e));
  }
  return out;
}

v1::LockStatus QueueStore::GetLock() {
  absl::MutexLock lock(&mu_);
  Stmt s(db_, "SELECT owner, since_unix_ns FROM lock");
  v1::LockStatus status;
  if (s.Step() == SQLITE_ROW) {
    status.set_held(true);
    status.set_owner(s.Text(0));
    status.set_since_unix_ns(s.Int(1));
  }
  return status;
}

absl::StatusOr<v1::LockStatus> QueueStore::AcquireLock(const std::string& op,
                                                       int64_t now) {
  if (op.empty()) {
    return absl::InvalidArgumentError(
        "operator: say who you are (dynclamp --operator NAME)");
  }
  const v1::LockStatus held = GetLock();
  if (held.held() && held.owner() != op) {
    return absl::FailedPreconditionError(
        absl::StrCat("lock: the rig is locked by '", held.owner(), "'"));
  }
  if (held.held()) return held;
  absl::MutexLock lock(&mu_);
  Stmt s(db_,
         "INSERT OR REPLACE INTO lock(singleton, owner, since_unix_ns) "
         "VALUES (0, ?, ?)");
  s.Bind(1, op).Bind(2, now);
  if (auto st = s.Run(); !st.ok()) return st;
  v1::LockStatus status;
  status.set_held(true);
  status.set_owner(op);
  status.set_since_unix_ns(now);
  return status;
}

absl::StatusOr<v1::LockStatus> QueueStore::ReleaseLock(const std::string& op,
                                                       bool force) {
  const v1::LockStatus held = GetLock();
  if (!held.held()) return held;
  if (held.owner() != op && !force) {
    return absl::FailedPreconditionError(
        absl::StrCat("lock: held by '", held.owner(),
                     "'; only they can release it (or an admin, with force)"));
  }
  absl::MutexLock lock(&mu_);
  if (auto s = Exec("DELETE FROM lock"); !s.ok()) return s;
  return v1::LockStatus();
}

}  // namespace dynclamp::server
