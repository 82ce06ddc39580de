#include "server/instrument/recordings.h"

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "rt_engine/base/names.h"

namespace dynclamp::server {

namespace fs = std::filesystem;

namespace {

constexpr absl::string_view kSuffix = ".nwb";
constexpr absl::string_view kSummarySuffix = ".json";

std::string SummaryPath(const std::string& recording_path) {
  return absl::StrCat(recording_path, kSummarySuffix);
}

}  // namespace

std::string RecordingFileName(absl::Time started, uint64_t run_id,
                              absl::string_view protocol_name) {
  std::string protocol(protocol_name.substr(0, kMaxProtocolNameInFile));
  for (char& c : protocol) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '-' && c != '_') c = '_';
  }
  if (protocol.empty()) protocol = "protocol";
  return absl::StrCat(
      absl::FormatTime("%Y%m%d-%H%M%S", started, absl::UTCTimeZone()), "_run",
      run_id, "_", protocol, kSuffix);
}

bool ParseRecordingName(const std::string& name, RecordingName* out) {
  // YYYYMMDD-HHMMSS_runN_PROTOCOL.nwb
  if (name.size() < 15 + 5 + kSuffix.size() || !absl::EndsWith(name, kSuffix) ||
      name.compare(15, 4, "_run") != 0)
    return false;
  // absl::ParseTime's %Y takes every digit it sees: split the fields here.
  int f[6];
  const int widths[6] = {4, 2, 2, 2, 2, 2};
  const int starts[6] = {0, 4, 6, 9, 11, 13};
  for (int k = 0; k < 6; ++k) {
    if (!absl::SimpleAtoi(name.substr(starts[k], widths[k]), &f[k]))
      return false;
  }
  const absl::Time started =
      absl::FromCivil(absl::CivilSecond(f[0], f[1], f[2], f[3], f[4], f[5]),
                      absl::UTCTimeZone());
  const std::size_t id_end = name.find('_', 19);
  if (id_end == std::string::npos) return false;
  uint64_t id = 0;
  if (!absl::SimpleAtoi(name.substr(19, id_end - 19), &id)) return false;
  out->run_id = id;
  out->started_unix_ns = absl::ToUnixNanos(started);
  out->protocol_name =
      name.substr(id_end + 1, name.size() - id_end - 1 - kSuffix.size());
  return true;
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr);
}
Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }
void Sha256::Update(const void* data, std::size_t n) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, n);
}
std::string Sha256::HexDigest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), digest, &length);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i)
    absl::StrAppendFormat(&hex, "%02x", digest[i]);
  return hex;
}

absl::StatusOr<std::string> FileSha256(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr)
    return absl::NotFoundError(absl::StrCat("cannot read ", path));
  Sha256 hash;
  std::vector<char> buffer(1 << 20);
  std::size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), f)) > 0)
    hash.Update(buffer.data(), n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return absl::DataLossError(absl::StrCat("cannot read ", path));
  return hash.HexDigest();
}

RecordingCatalog::RecordingCatalog(std::string data_dir)
    : data_dir_(std::move(data_dir)) {}

std::vector<std::string> RecordingCatalog::NamesNewestFirst() const {
  struct Entry {
    int64_t when;
    uint64_t run_id;
    std::string name;
  };
  std::vector<Entry> entries;
  std::error_code ec;
  for (fs::directory_iterator it(data_dir_, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!absl::EndsWith(name, kSuffix) || !it->is_regular_file(ec)) continue;
    RecordingName parsed;
    Entry e{0, 0, name};
    if (ParseRecordingName(name, &parsed)) {
      e.when = parsed.started_unix_ns;
      e.run_id = parsed.run_id;
    } else {
      e.when = std::chrono::duration_cast<std::chrono::nanoseconds>(
                   it->last_write_time(ec).time_since_epoch())
                   .count();
    }
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.when, a.run_id, a.name) >
           std::tie(b.when, b.run_id, b.name);
  });
  std::vector<std::string> names;
  names.reserve(entries.size());
  for (Entry& e : entries) names.push_back(std::move(e.name));
  return names;
}

uint64_t RecordingCatalog::LastRunId() const {
  uint64_t last = 0;
  for (const std::string& name : NamesNewestFirst()) {
    RecordingName parsed;
    if (ParseRecordingName(name, &parsed)) last = std::max(last, parsed.run_id);
  }
  return last;
}

void RecordingCatalog::Opened(const std::string& path) {
  absl::MutexLock lock(&mu_);
  open_.insert(fs::path(path).filename().string());
}

void RecordingCatalog::Closed(v1::Recording summary) {
  std::string name = fs::path(summary.path()).filename().string();
  absl::MutexLock lock(&mu_);
  open_.erase(name);
  closed_[std::move(name)] = std::move(summary);
}

void RecordingCatalog::SealPending() {
  absl::MutexLock lock(&mu_);
  while (!closed_.empty()) {
    auto node = closed_.extract(closed_.begin());
    // A failure shows when it is listed (sealed again then, as a file
    // nobody saw end).
    SealLocked(node.mapped()).IgnoreError();
  }
}

absl::Status RecordingCatalog::SealLocked(v1::Recording& summary) {
  const fs::path path(summary.path());
  summary.set_name(path.filename().string());
  summary.set_in_progress(false);
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec)
    return absl::NotFoundError(absl::StrCat("cannot read ", path.string()));
  summary.set_size_bytes(size);
  absl::StatusOr<std::string> sha = FileSha256(path.string());
  if (!sha.ok()) return sha.status();
  summary.set_sha256(*sha);
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  if (auto s =
          google::protobuf::util::MessageToJsonString(summary, &json, options);
      !s.ok())
    return absl::InternalError(s.ToString());
  // Written whole, then renamed: a reader sees the old summary or the new.
  const std::string target = SummaryPath(path.string());
  const std::string temp = absl::StrCat(target, ".tmp");
  {
    std::ofstream out(temp, std::ios::trunc);
    out << json;
    out.close();
    if (!out)
      return absl::ResourceExhaustedError(absl::StrCat("cannot write ", temp));
  }
  if (std::rename(temp.c_str(), target.c_str()) != 0)
    return absl::InternalError(absl::StrCat("cannot write ", target));
  return absl::OkStatus();
}

absl::StatusOr<v1::Recording> RecordingCatalog::SummaryLocked(
    const std::string& name) {
  const std::string path = (fs::path(data_dir_) / name).string();
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  v1::Recording summary;
  if (auto closed = closed_.find(name); closed != closed_.end()) {
    summary = std::move(closed->second);
    closed_.erase(closed);
    if (absl::Status s = SealLocked(summary); !s.ok()) return s;
    return summary;
  }
  if (open_.count(name) == 0) {
    std::ifstream in(SummaryPath(path));
    if (in) {
      std::stringstream text;
      text << in.rdbuf();
      google::protobuf::util::JsonParseOptions options;
      options.ignore_unknown_fields = true;
      if (google::protobuf::util::JsonStringToMessage(text.str(), &summary,
                                                      options)
              .ok() &&
          summary.size_bytes() == size && summary.path() == path)
        return summary;
      summary.Clear();  // damaged, moved, or the file changed: seal again
    }
  }
  summary.set_name(name);
  summary.set_path(path);
  summary.set_size_bytes(size);
  RecordingName parsed;
  if (ParseRecordingName(name, &parsed)) {
    summary.set_run_id(parsed.run_id);
    summary.set_started_unix_ns(parsed.started_unix_ns);
    summary.set_protocol_name(parsed.protocol_name);
  }
  if (open_.count(name) != 0) {
    summary.set_in_progress(true);
    return summary;
  }
  // Nobody saw this file's run end: what it holds is what was written
  // before the daemon stopped.
  summary.set_error(
      "the daemon stopped while this run recorded; the file holds what was "
      "written until then");
  if (absl::Status s = SealLocked(summary); !s.ok()) return s;
  return summary;
}

absl::StatusOr<std::vector<v1::Recording>> RecordingCatalog::List(
    uint64_t run_id, uint32_t limit) {
  if (limit == 0) limit = kDefaultListLimit;
  if (limit > kMaxListLimit) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "limit: %d is more than the %d recordings a list can hold", limit,
        kMaxListLimit));
  }
  std::vector<v1::Recording> out;
  absl::MutexLock lock(&mu_);
  for (const std::string& name : NamesNewestFirst()) {
    if (out.size() >= limit) break;
    if (run_id != 0) {
      RecordingName parsed;
      if (!ParseRecordingName(name, &parsed) || parsed.run_id != run_id)
        continue;
    }
    absl::StatusOr<v1::Recording> r = SummaryLocked(name);
    if (r.ok()) out.push_back(*std::move(r));  // gone since: not listed
  }
  return out;
}

absl::StatusOr<v1::Recording> RecordingCatalog::FindForDownload(
    const v1::DownloadRecordingRequest& request) {
  absl::MutexLock lock(&mu_);
  std::string name;
  if (request.which_case() == v1::DownloadRecordingRequest::kName) {
    // Only a name the directory lists: never a path out of it.
    for (std::string& n : NamesNewestFirst()) {
      if (n == request.name()) name = std::move(n);
    }
    if (name.empty()) {
      return absl::NotFoundError(
          absl::StrCat("name: no recording ", rt::Quoted(request.name()),
                       " in the data directory (dynclamp recordings list)"));
    }
  } else if (request.which_case() == v1::DownloadRecordingRequest::kRunId) {
    for (std::string& n : NamesNewestFirst()) {
      RecordingName parsed;
      if (ParseRecordingName(n, &parsed) && parsed.run_id == request.run_id()) {
        name = std::move(n);
        break;
      }
    }
    if (name.empty()) {
      return absl::NotFoundError(
          absl::StrCat("run_id: run ", request.run_id(),
                       " has no recording in the data directory"));
    }
  } else {
    return absl::InvalidArgumentError(
        "name: give the recording's name or its run_id");
  }
  absl::StatusOr<v1::Recording> r = SummaryLocked(name);
  if (!r.ok()) return r.status();
  if (r->in_progress()) {
    return absl::FailedPreconditionError(
        absl::StrCat("name: ", name, " is being written by run ", r->run_id(),
                     "; it can be downloaded when the run ends"));
  }
  return r;
}

}  // namespace dynclamp::server
