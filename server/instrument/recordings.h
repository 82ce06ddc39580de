// RecordingCatalog: the NWB recordings in the daemon's data directory, as
// listed and downloaded over RecordingService. When a run ends, its file is
// sealed: hashed, and its summary (a v1::Recording as JSON, with the
// SHA-256) written beside it as NAME.nwb.json. A file whose run the daemon
// did not see end (it died while recording) is sealed the first time it is
// listed, with what its name says. A file a run is writing is listed as in
// progress and cannot be downloaded.
//
// Threads: non-RT (it reads whole files); every method is thread-safe.
#ifndef DYNCLAMP_SERVER_INSTRUMENT_RECORDINGS_H_
#define DYNCLAMP_SERVER_INSTRUMENT_RECORDINGS_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dynclamp/v1/recordings.pb.h"

namespace dynclamp::server {

// What a recording's file name says: the daemon names them
// YYYYMMDD-HHMMSS_runN_PROTOCOL.nwb (UTC).
struct RecordingName {
  uint64_t run_id = 0;
  int64_t started_unix_ns = 0;
  std::string protocol_name;
};
bool ParseRecordingName(const std::string& name, RecordingName* out);
// The file name of run `run_id`'s recording. The protocol's name is anyone's
// text: in the file name it keeps letters, digits, '.', '-' and '_' (others
// become '_'), at most kMaxProtocolNameInFile bytes, so no name can leave
// the data directory or make the file uncreatable. The recording's summary
// keeps the name as written.
inline constexpr std::size_t kMaxProtocolNameInFile = 64;
std::string RecordingFileName(absl::Time started, uint64_t run_id,
                              absl::string_view protocol_name);

// SHA-256, fed piece by piece (OpenSSL).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const void* data, std::size_t n);
  std::string HexDigest();  // once

 private:
  void* ctx_;  // EVP_MD_CTX
};
absl::StatusOr<std::string> FileSha256(const std::string& path);

class RecordingCatalog {
 public:
  static constexpr uint32_t kDefaultListLimit = 100;
  static constexpr uint32_t kMaxListLimit = 10000;

  explicit RecordingCatalog(std::string data_dir);

  const std::string& data_dir() const { return data_dir_; }
  // The highest run id among the directory's recordings (0: none): run ids
  // go on from it after a restart, so that a run id names one recording.
  uint64_t LastRunId() const;

  // A run started writing `path`: in progress until Closed.
  void Opened(const std::string& path);
  // Its run ended and the file is closed (cheap: call it under any lock).
  // The file is sealed by SealPending, or when it is first listed or
  // downloaded, whichever comes first.
  void Closed(v1::Recording summary);
  // Hashes the closed files and writes their NAME.nwb.json from their
  // summaries (name, size and sha256 filled in). Slow for big files: call
  // it under no other lock.
  void SealPending();

  // Newest first; run_id 0: all. `limit` 0: kDefaultListLimit.
  absl::StatusOr<std::vector<v1::Recording>> List(uint64_t run_id,
                                                  uint32_t limit);
  // The recording a download names, ready to be read (not in progress).
  absl::StatusOr<v1::Recording> FindForDownload(
      const v1::DownloadRecordingRequest& request);

 private:
  // The summary of `name`, sealing it first if nothing has.
  absl::StatusOr<v1::Recording> SummaryLocked(const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SealLocked(v1::Recording& summary)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Names of the directory's .nwb files, newest first.
  std::vector<std::string> NamesNewestFirst() const;

  const std::string data_dir_;
  absl::Mutex mu_;
  std::set<std::string> open_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, v1::Recording> closed_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_INSTRUMENT_RECORDINGS_H_
