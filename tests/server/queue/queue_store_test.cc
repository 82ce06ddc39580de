#include "server/queue/queue_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"

namespace dynclamp::server {
namespace {

class QueueStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ =
        (std::filesystem::temp_directory_path() /
         absl::StrCat(
             "queue_store_test_", getpid(), "_",
             ::testing::UnitTest::GetInstance()->current_test_info()->name(),
             ".sqlite"))
            .string();
    std::filesystem::remove(path_);
    store_ = *QueueStore::Open(path_, 1);
  }
  void TearDown() override {
    store_.reset();
    for (const char* suffix : {"", "-wal", "-shm"})
      std::filesystem::remove(path_ + suffix);
  }

  v1::QueueItem Add(const std::string& name, v1::Position position = {},
                    const std::string& request_id = "") {
    v1::AddItemRequest r;
    r.mutable_run()->mutable_protocol()->set_name(name);
    *r.mutable_position() = position;
    r.set_request_id(request_id);
    absl::StatusOr<v1::QueueItem> item = store_->Add(r, "op", 10);
    EXPECT_TRUE(item.ok()) << item.status();
    return item.ok() ? *item : v1::QueueItem();
  }
  std::vector<std::string> Names() {
    std::vector<std::string> names;
    for (const auto& item : store_->List()) names.push_back(item.name());
    return names;
  }

  std::string path_;
  std::unique_ptr<QueueStore> store_;
};

TEST_F(QueueStoreTest, PositionsAndMoves) {
  const auto a = Add("a");
  const auto b = Add("b");
  v1::Position front;
  front.set_front(true);
  Add("c", front);
  v1::Position before_b;
  before_b.set_before(b.id());
  Add("d", before_b);
  v1::Position after_a;
  after_a.set_after(a.id());
  Add("e", after_a);
  EXPECT_EQ(Names(), (std::vector<std::string>{"c", "a", "e", "d", "b"}));
  v1::Position back;
  back.set_back(true);
  ASSERT_TRUE(store_->Move(a.id(), back).ok());
  EXPECT_EQ(Names(), (std::vector<std::string>{"c", "e", "d", "b", "a"}));
  ASSERT_TRUE(store_->Move(a.id(), front).ok());
  EXPECT_EQ(Names(), (std::vector<std::string>{"a", "c", "e", "d", "b"}));
  EXPECT_EQ(store_->Get(b.id())->position(), 4u);
  ASSERT_TRUE(store_->Remove(b.id()).ok());
  EXPECT_EQ(store_->size(), 4u);
  // Bad positions name the field and change nothing.
  v1::Position missing;
  missing.set_before(999);
  const auto bad = store_->Move(a.id(), missing);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(bad.status().message().find("position.before"), std::string::npos);
  EXPECT_EQ(Names(), (std::vector<std::string>{"a", "c", "e", "d"}));
  EXPECT_FALSE(store_->Remove(b.id()).ok());
}

TEST_F(QueueStoreTest, RequestIdsMakeAddsIdempotentEvenAfterTheItemRan) {
  const auto first = Add("x", {}, "req-1");
  const auto again = Add("x", {}, "req-1");
  EXPECT_EQ(first.id(), again.id());
  EXPECT_EQ(store_->size(), 1u);
  ASSERT_TRUE(store_->TakeNext(20).ok());
  EXPECT_EQ(Add("x", {}, "req-1").id(), first.id());  // not queued again
  EXPECT_EQ(store_->size(), 0u);
  EXPECT_NE(Add("x", {}, "req-2").id(), first.id());
}

TEST_F(QueueStoreTest, AnItemRunningWhenTheDaemonDiedIsInterrupted) {
  Add("long");
  Add("next");
  auto taken = store_->TakeNext(100);
  ASSERT_TRUE(taken.ok() && taken->has_value());
  ASSERT_TRUE(store_->NoteRun(7, "/data/run7.nwb", 12).ok());
  store_.reset();  // the daemon dies here
  store_ = *QueueStore::Open(path_, 500);
  ASSERT_TRUE(store_->interrupted().has_value());
  const v1::HistoryEntry& e = *store_->interrupted();
  EXPECT_EQ(e.name(), "long");
  EXPECT_EQ(e.status(), v1::INTERRUPTED_ITEM);
  EXPECT_EQ(e.nwb_path(), "/data/run7.nwb");
  EXPECT_EQ(e.run_id(), 7u);
  EXPECT_EQ(e.started_unix_ns(), 100);
  EXPECT_EQ(e.ended_unix_ns(), 500);
  EXPECT_EQ(Names(), std::vector<std::string>{"next"});
  const auto history = store_->History(10);
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0].status(), v1::INTERRUPTED_ITEM);
  // Recorded once: a second restart finds nothing running.
  store_.reset();
  store_ = *QueueStore::Open(path_, 600);
  EXPECT_FALSE(store_->interrupted().has_value());
  EXPECT_EQ(store_->History(10).size(), 1u);
}

TEST_F(QueueStoreTest, FinishedItemsGoToTheHistoryNewestFirst) {
  Add("a");
  Add("b");
  for (auto status : {v1::COMPLETED_ITEM, v1::FAILED_ITEM}) {
    ASSERT_TRUE(store_->TakeNext(1).ok());
    v1::HistoryEntry e;
    e.set_status(status);
    e.set_error(status == v1::FAILED_ITEM ? "sweeps[0].stimuli[0].cell: no"
                                          : "");
    ASSERT_TRUE(store_->Finish(e).ok());
  }
  const auto history = store_->History(10);
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].name(), "b");
  EXPECT_EQ(history[0].status(), v1::FAILED_ITEM);
  EXPECT_EQ(history[0].error(), "sweeps[0].stimuli[0].cell: no");
  EXPECT_EQ(history[1].name(), "a");
  EXPECT_EQ(history[1].status(), v1::COMPLETED_ITEM);
}

TEST_F(QueueStoreTest, OneOperatorHoldsTheLock) {
  EXPECT_FALSE(store_->GetLock().held());
  ASSERT_TRUE(store_->AcquireLock("alice", 5).ok());
  const auto bob = store_->AcquireLock("bob", 6);
  ASSERT_FALSE(bob.ok());
  EXPECT_NE(bob.status().message().find("locked by 'alice'"),
            std::string::npos);
  const auto bob_releases = store_->ReleaseLock("bob");
  ASSERT_FALSE(bob_releases.ok());
  EXPECT_NE(bob_releases.status().message().find("an admin, with force"),
            std::string::npos);
  EXPECT_EQ(store_->GetLock().owner(), "alice");
  // It survives a restart.
  store_.reset();
  store_ = *QueueStore::Open(path_, 7);
  EXPECT_EQ(store_->GetLock().owner(), "alice");
  ASSERT_TRUE(store_->ReleaseLock("alice").ok());
  EXPECT_FALSE(store_->GetLock().held());
  EXPECT_FALSE(store_->AcquireLock("", 8).ok());
  // Forced (the service has checked the admin role): anyone's lock goes.
  ASSERT_TRUE(store_->AcquireLock("alice", 9).ok());
  ASSERT_TRUE(store_->ReleaseLock("root", /*force=*/true).ok());
  EXPECT_FALSE(store_->GetLock().held());
}

}  // namespace
}  // namespace dynclamp::server
