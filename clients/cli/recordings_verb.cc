#include "clients/cli/recordings_verb.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/cli/verbs.h"

namespace dynclamp::cli {
namespace {

namespace v1 = dynclamp::v1;

int Fail(const std::string& what, const absl::Status& s) {
  std::fprintf(stderr, "dynclamp recordings %s: %s\n", what.c_str(),
               std::string(s.message()).c_str());
  return 1;
}

std::string When(int64_t unix_ns) {
  if (unix_ns == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixNanos(unix_ns),
                          absl::LocalTimeZone());
}

std::string Megabytes(uint64_t bytes) {
  return absl::StrFormat("%.1f MB", static_cast<double>(bytes) / 1e6);
}

int List(client::Client& client, const RecordingsArgs& a) {
  absl::StatusOr<v1::ListRecordingsResponse> list =
      client.ListRecordings(a.run_id, a.limit);
  if (!list.ok()) return Fail("list", list.status());
  std::printf("%-5s %-19s %-10s %9s %-7s %-9s %s\n", "RUN", "STARTED", "STATE",
              "SIZE", "SWEEPS", "QC", "NAME");
  for (const v1::Recording& r : list->recordings()) {
    const std::string state =
        r.in_progress() ? "recording"
        : r.state() == v1::RUN_STATE_UNSPECIFIED
            ? "cut"
            : absl::AsciiStrToLower(v1::RunState_Name(r.state()));
    std::printf(
        "%-5llu %-19s %-10s %9s %-7s %-9s %s\n",
        static_cast<unsigned long long>(r.run_id()),
        When(r.started_unix_ns()).c_str(), state.c_str(),
        Megabytes(r.size_bytes()).c_str(),
        r.in_progress()
            ? "-"
            : absl::StrFormat("%d/%d", r.sweeps_recorded(), r.sweeps_total())
                  .c_str(),
        r.in_progress() ? "-"
        : r.qc_pass()
            ? "pass"
            : absl::StrFormat("%d passed", r.sweeps_qc_passed()).c_str(),
        r.name().c_str());
    if (!r.error().empty()) std::printf("      %s\n", r.error().c_str());
  }
  if (list->recordings_size() == 0) std::printf("(no recordings)\n");
  return 0;
}

// SHA-256 of what is already on disk and of what arrives.
class Digest {
 public:
  Digest() : ctx_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) {
    EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
  }
  void Update(const void* data, std::size_t n) {
    EVP_DigestUpdate(ctx_.get(), data, n);
  }
  std::string Hex() {
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_.get(), d, &n);
    std::string hex;
    for (unsigned int i = 0; i < n; ++i)
      absl::StrAppendFormat(&hex, "%02x", d[i]);
    return hex;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

void DrawProgress(uint64_t done, uint64_t total, absl::Duration elapsed,
                  bool final) {
  const double fraction =
      total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
  const int width = 30;
  const int filled = static_cast<int>(fraction * width);
  const double seconds = std::max(absl::ToDoubleSeconds(elapsed), 1e-6);
  std::fprintf(stderr, "\r[%s%s] %3.0f%% %s of %s, %.0f MB/s%s",
               std::string(filled, '#').c_str(),
               std::string(width - filled, ' ').c_str(), fraction * 100,
               Megabytes(done).c_str(), Megabytes(total).c_str(),
               static_cast<double>(done) / 1e6 / seconds, final ? "\n" : "");
  std::fflush(stderr);
}

int Get(client::Client& client, const RecordingsArgs& a) {
  v1::DownloadRecordingRequest request;
  uint64_t run_id = 0;
  if (absl::SimpleAtoi(a.which, &run_id)) {
    request.set_run_id(run_id);
  } else {
    request.set_name(a.which);
  }
  // The default file name is the recording's: ask for it first.
  std::string output = a.output;
  if (output.empty()) {
    if (request.has_name()) {
      output = std::filesystem::path(a.which).filename().string();
    } else {
      absl::StatusOr<v1::ListRecordingsResponse> list =
          client.ListRecordings(run_id, 1);
      if (!list.ok()) return Fail("get", list.status());
      if (list->recordings_size() == 0) {
        return Fail("get",
                    absl::NotFoundError(absl::StrCat(
                        "run ", run_id,
                        " has no recording (dynclamp recordings list)")));
      }
      output = list->recordings(0).name();
      request.set_name(output);
    }
  }
  const std::string part = absl::StrCat(output, ".part");
  Digest digest;
  uint64_t have = 0;
  {
    // Resume: what an earlier, cut download left.
    std::ifstream old(part, std::ios::binary);
    std::vector<char> buffer(1 << 20);
    while (old) {
      old.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      digest.Update(buffer.data(), static_cast<std::size_t>(old.gcount()));
      have += static_cast<uint64_t>(old.gcount());
    }
  }
  if (have > 0)
    std::fprintf(stderr, "resuming %s at %s\n", part.c_str(),
                 Megabytes(have).c_str());
  request.set_offset(have);
  std::ofstream out(part, std::ios::binary | std::ios::app);
  if (!out) {
    return Fail("get", absl::PermissionDeniedError(
                           absl::StrCat("-o: cannot write ", part)));
  }
  const bool tty = a.progress && isatty(fileno(stderr));
  const absl::Time start = absl::Now();
  absl::Time drawn = absl::InfinitePast();
  uint64_t total = 0, received = 0;
  std::string sha256, write_error;
  absl::Status s =
      client.DownloadRecording(request, [&](const v1::RecordingChunk& chunk) {
        if (chunk.size_bytes() > 0 || chunk.offset() == 0)
          total = std::max(total, chunk.size_bytes());
        if (chunk.offset() != have + received) {
          write_error = absl::StrFormat("the daemon sent bytes from %d, not %d",
                                        chunk.offset(), have + received);
          return false;
        }
        out.write(chunk.data().data(),
                  static_cast<std::streamsize>(chunk.data().size()));
        if (!out) {
          write_error = absl::StrCat("cannot write ", part);
          return false;
        }
        digest.Update(chunk.data().data(), chunk.data().size());
        received += chunk.data().size();
        if (!chunk.sha256().empty()) sha256 = chunk.sha256();
        if (tty && absl::Now() - drawn > absl::Milliseconds(100)) {
          DrawProgress(have + received, total, absl::Now() - start, false);
          drawn = absl::Now();
        }
        return true;
      });
  out.close();
  std::error_code ec;
  if (std::filesystem::file_size(part, ec) == 0 && !ec)
    std::filesystem::remove(part, ec);  // nothing to resume from
  if (!write_error.empty())
    return Fail("get", absl::DataLossError(write_error));
  if (!s.ok()) {
    if (tty) std::fprintf(stderr, "\n");
    return Fail(
        "get", absl::Status(s.code(),
                            absl::StrCat(s.message(), have + received > 0
                                                          ? "; run it again to "
                                                            "resume"
                                                          : "")));
  }
  if (a.progress)
    DrawProgress(have + received, total, absl::Now() - start, true);
  if (sha256.empty()) {
    return Fail("get", absl::DataLossError(
                           "the download ended without its checksum; run it "
                           "again to resume"));
  }
  const std::string mine = digest.Hex();
  if (mine != sha256) {
    std::filesystem::remove(part);
    return Fail("get", absl::DataLossError(absl::StrCat(
                           "checksum mismatch: the daemon's file has SHA-256 ",
                           sha256, ", the bytes received ", mine,
                           "; the partial file was removed, run it again")));
  }
  std::filesystem::rename(part, output, ec);
  if (ec) {
    return Fail("get", absl::PermissionDeniedError(
                           absl::StrCat("-o: cannot rename ", part, " to ",
                                        output, ": ", ec.message())));
  }
  std::printf("%s  %s\n", sha256.c_str(), output.c_str());
  return 0;
}

}  // namespace

int RunRecordings(client::Client& client, const RecordingsArgs& args) {
  if (args.verb == "list") return List(client, args);
  return Get(client, args);
}

void AddRecordingsVerb(CLI::App& app, Globals& g) {
  auto ra = std::make_shared<RecordingsArgs>();
  auto* recordings = app.add_subcommand(
      "recordings",
      "the daemon's NWB recordings: list, get RUN|NAME [-o FILE]");
  recordings->require_subcommand(1);
  auto* r_list = recordings->add_subcommand("list", "newest first");
  r_list->add_option("--run", ra->run_id, "only this run's recording");
  r_list->add_option("--limit", ra->limit, "how many (default 100)");
  auto* r_get = recordings->add_subcommand(
      "get", "download one (resumes a cut download; the SHA-256 is checked)");
  r_get->add_option("RUN", ra->which, "a run id, or a recording's name")
      ->required();
  r_get->add_option("-o,--output", ra->output,
                    "the file (default: the recording's name, here)");
  auto no_progress = std::make_shared<bool>(false);
  r_get->add_flag("--no-progress", *no_progress, "no progress bar");
  OnVerb(recordings, g, [&g, ra, no_progress, recordings] {
    ra->verb = recordings->get_subcommands().front()->get_name();
    ra->progress = !*no_progress;
    auto client = ConnectOrDie(g, "recordings");
    return RunRecordings(*client, *ra);
  });
}

}  // namespace dynclamp::cli
