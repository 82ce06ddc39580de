#include "server/instrument/recordings.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/time/time.h"

namespace dynclamp::server {
namespace {

namespace fs = std::filesystem;

class RecordingCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("recordings_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  fs::path dir_;
};

TEST(RecordingNameTest, ParsesWhatTheDaemonWrites) {
  RecordingName n;
  ASSERT_TRUE(ParseRecordingName("20261130-101502_run12_fi_curve.nwb", &n));
  EXPECT_EQ(n.run_id, 12u);
  EXPECT_EQ(n.protocol_name, "fi_curve");
  EXPECT_EQ(absl::FromUnixNanos(n.started_unix_ns),
            absl::FromCivil(absl::CivilSecond(2026, 11, 30, 10, 15, 2),
                            absl::UTCTimeZone()));
  for (const char* bad :
       {"notes.nwb", "20261130-101502_run_x.nwb", "20261130-101502_runA_x.nwb",
        "2026113x-101502_run1_x.nwb", "20261130-101502_run1_x.h5"}) {
    EXPECT_FALSE(ParseRecordingName(bad, &n)) << bad;
  }
}

TEST(RecordingNameTest, AnyProtocolNameMakesOneFileInTheDataDirectory) {
  const absl::Time t = absl::FromCivil(
      absl::CivilSecond(2026, 11, 30, 10, 15, 2), absl::UTCTimeZone());
  EXPECT_EQ(RecordingFileName(t, 12, "fi_curve"),
            "20261130-101502_run12_fi_curve.nwb");
  EXPECT_EQ(RecordingFileName(t, 3, "../../etc/x y<img>"),
            "20261130-101502_run3_.._.._etc_x_y_img_.nwb");
  EXPECT_EQ(RecordingFileName(t, 3, ""), "20261130-101502_run3_protocol.nwb");
  EXPECT_EQ(RecordingFileName(t, 3,
                              "F/I \xc2\xb5"
                              "A"),
            "20261130-101502_run3_F_I___A.nwb");
  const std::string name = RecordingFileName(t, 4, std::string(500, 'a'));
  EXPECT_EQ(name.size(), std::string("20261130-101502_run4_.nwb").size() +
                             kMaxProtocolNameInFile);
  RecordingName parsed;
  ASSERT_TRUE(ParseRecordingName(name, &parsed));
  EXPECT_EQ(parsed.run_id, 4u);
  EXPECT_EQ(parsed.protocol_name, std::string(kMaxProtocolNameInFile, 'a'));
}

TEST(Sha256Test, KnownDigests) {
  Sha256 empty;
  EXPECT_EQ(empty.HexDigest(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 abc;
  abc.Update("a", 1);
  abc.Update("bc", 2);
  EXPECT_EQ(abc.HexDigest(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(RecordingCatalogTest, SealsListsNewestFirstAndGoesOnFromTheLastRun) {
  RecordingCatalog catalog(dir_.string());
  EXPECT_EQ(catalog.LastRunId(), 0u);
  const std::string older = Write("20261130-100000_run3_a.nwb", "abc");
  const std::string newer = Write("20261130-110000_run4_b.nwb", "");
  Write("notes.txt", "not a recording");
  EXPECT_EQ(catalog.LastRunId(), 4u);

  v1::Recording summary;
  summary.set_path(newer);
  summary.set_run_id(4);
  summary.set_protocol_name("b");
  summary.set_state(v1::COMPLETED);
  summary.set_sweeps_total(2);
  summary.set_sweeps_recorded(2);
  summary.set_qc_pass(true);
  catalog.Opened(newer);
  auto list = catalog.List(0, 0);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name(), "20261130-110000_run4_b.nwb");
  EXPECT_TRUE((*list)[0].in_progress());
  EXPECT_EQ((*list)[0].sha256(), "");
  // In progress: not downloadable.
  v1::DownloadRecordingRequest by_run;
  by_run.set_run_id(4);
  EXPECT_TRUE(
      absl::IsFailedPrecondition(catalog.FindForDownload(by_run).status()));
  // The file nobody saw end was sealed when listed, from its name.
  EXPECT_EQ((*list)[1].run_id(), 3u);
  EXPECT_EQ((*list)[1].protocol_name(), "a");
  EXPECT_EQ((*list)[1].state(), v1::RUN_STATE_UNSPECIFIED);
  EXPECT_EQ((*list)[1].sha256(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(fs::exists(older + ".json"));

  catalog.Closed(summary);
  // Listed before SealPending: sealed then, with the run's summary.
  auto found = catalog.FindForDownload(by_run);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->state(), v1::COMPLETED);
  EXPECT_TRUE(found->qc_pass());
  EXPECT_EQ(found->size_bytes(), 0u);
  EXPECT_EQ(found->sha256(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  catalog.SealPending();  // nothing left to do

  // A new catalog (a restarted daemon) reads the summaries back.
  RecordingCatalog again(dir_.string());
  auto only = again.List(4, 0);
  ASSERT_TRUE(only.ok());
  ASSERT_EQ(only->size(), 1u);
  EXPECT_EQ((*only)[0].state(), v1::COMPLETED);
  EXPECT_EQ((*only)[0].sweeps_recorded(), 2u);
  EXPECT_EQ(again.List(0, 1)->size(), 1u);
  EXPECT_TRUE(absl::IsInvalidArgument(again.List(0, 100000).status()));
}

TEST_F(RecordingCatalogTest, AChangedFileIsSealedAgain) {
  RecordingCatalog catalog(dir_.string());
  const std::string path = Write("20261130-100000_run1_a.nwb", "abc");
  ASSERT_EQ(catalog.List(0, 0)->at(0).size_bytes(), 3u);
  Write("20261130-100000_run1_a.nwb", "abcd");  // e.g. truncated, repaired
  auto list = catalog.List(0, 0);
  EXPECT_EQ(list->at(0).size_bytes(), 4u);
  EXPECT_EQ(list->at(0).sha256(),
            "88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589");
}

TEST_F(RecordingCatalogTest, DownloadsNameOnlyWhatTheDirectoryLists) {
  RecordingCatalog catalog(dir_.string());
  Write("20261130-100000_run1_a.nwb", "abc");
  v1::DownloadRecordingRequest r;
  for (const char* name : {"../20261130-100000_run1_a.nwb", "/etc/passwd",
                           "20261130-100000_run1_a.nwb.json", "x.nwb"}) {
    r.set_name(name);
    const absl::Status s = catalog.FindForDownload(r).status();
    EXPECT_TRUE(absl::IsNotFound(s)) << name << ": " << s;
    EXPECT_EQ(s.message().substr(0, 6), "name: ");
  }
  r.set_name("20261130-100000_run1_a.nwb");
  EXPECT_TRUE(catalog.FindForDownload(r).ok());
  r.set_run_id(2);
  EXPECT_TRUE(absl::IsNotFound(catalog.FindForDownload(r).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      catalog.FindForDownload(v1::DownloadRecordingRequest()).status()));
}

}  // namespace
}  // namespace dynclamp::server
