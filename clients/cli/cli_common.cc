#include "clients/cli/cli_common.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spec_files/spec_file.h"

namespace dynclamp::cli {
namespace {

std::string DefaultOperator() {
  for (const char* var : {"DYNCLAMP_OPERATOR", "USER", "LOGNAME"}) {
    if (const char* v = std::getenv(var); v != nullptr && *v != '\0') return v;
  }
  return "";
}

// The token: $DYNCLAMP_TOKEN, else the file of --token-file or
// $DYNCLAMP_TOKEN_FILE (only its owner may read it, as for ssh keys).
absl::StatusOr<std::string> ReadToken(const Globals& g) {
  std::string path = g.token_file;
  if (path.empty()) {
    if (const char* t = std::getenv("DYNCLAMP_TOKEN"); t != nullptr && *t)
      return std::string(absl::StripAsciiWhitespace(t));
    if (const char* f = std::getenv("DYNCLAMP_TOKEN_FILE"); f != nullptr)
      path = f;
  }
  if (path.empty()) return std::string();
  struct stat st {};
  if (stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "token file %s: mode %04o lets others read your token; run 'chmod "
        "600 %s'",
        path, st.st_mode & 07777, path));
  }
  absl::StatusOr<std::string> text = spec_files::ReadTextFile(path);
  if (!text.ok()) return text.status();
  return std::string(absl::StripAsciiWhitespace(*text));
}

std::string Quant(const v1::Quantiles& q) {
  return absl::StrFormat("p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f us",
                         q.p50_us(), q.p99_us(), q.p999_us(), q.max_us());
}

}  // namespace

void AddConnectionOptions(CLI::App& app, Globals& g) {
  app.add_option("--server", g.server, "dynclampd address HOST:PORT")
      ->capture_default_str();
  app.add_option("--timeout", g.timeout_s, "seconds to wait for each call")
      ->capture_default_str();
  g.operator_name = DefaultOperator();
  app.add_option("--operator", g.operator_name,
                 "who you are, for the rig lock (default $USER; a daemon "
                 "with tokens uses the token's name)")
      ->capture_default_str();
  app.add_option("--token-file", g.token_file,
                 "file holding your access token (default "
                 "$DYNCLAMP_TOKEN_FILE; $DYNCLAMP_TOKEN holds the token "
                 "itself)");
  app.add_flag("--tls", g.tls, "connect over TLS (the system's CAs)");
  app.add_option("--tls-ca", g.tls_ca,
                 "PEM CA that signed the daemon's certificate (implies --tls)");
  app.add_option("--tls-cert", g.tls_cert,
                 "PEM client certificate, for daemons that require one");
  app.add_option("--tls-key", g.tls_key, "PEM key of --tls-cert");
  app.add_option("--tls-server-name", g.tls_server_name,
                 "the name the daemon's certificate must carry (default: "
                 "the host of --server)");
}

void OnVerb(CLI::App* sub, Globals& g, std::function<int()> verb) {
  sub->callback([&g, verb = std::move(verb)] { g.exit_code = verb(); });
}

void Die(const std::string& verb, const absl::Status& status) {
  std::fprintf(stderr, "dynclamp: %s: %s: %s\n", verb.c_str(),
               absl::StatusCodeToString(status.code()).c_str(),
               std::string(status.message()).c_str());
  std::exit(1);
}

std::unique_ptr<Client> ConnectOrDie(const Globals& g,
                                     const std::string& verb) {
  dynclamp::client::ClientOptions options;
  options.timeout = absl::Seconds(g.timeout_s);
  options.operator_name = g.operator_name;
  options.token = OrDie(verb, ReadToken(g));
  options.tls = g.tls || !g.tls_ca.empty() || !g.tls_cert.empty();
  for (auto [flag, path, out] :
       {std::tuple{"--tls-ca", g.tls_ca, &options.tls_ca_pem},
        std::tuple{"--tls-cert", g.tls_cert, &options.tls_cert_pem},
        std::tuple{"--tls-key", g.tls_key, &options.tls_key_pem}}) {
    if (path.empty()) continue;
    absl::StatusOr<std::string> pem = spec_files::ReadTextFile(path);
    if (!pem.ok()) {
      Die(verb, absl::InvalidArgumentError(
                    absl::StrCat(flag, ": ", pem.status().message())));
    }
    *out = *pem;
  }
  options.tls_server_name = g.tls_server_name;
  return OrDie(verb, Client::Connect(g.server, options));
}

std::string StateName(v1::RunState s) { return v1::RunState_Name(s); }

bool Terminal(v1::RunState s) {
  return s == v1::STOPPED || s == v1::COMPLETED || s == v1::ABORTED ||
         s == v1::FAILED;
}

void PrintRun(const v1::Run& r) {
  if (r.run_id() == 0) {
    std::printf("run: none yet\n");
    return;
  }
  std::printf("run %lu: %s", static_cast<unsigned long>(r.run_id()),
              StateName(r.state()).c_str());
  if (!r.fault_reason().empty()) std::printf(" (%s)", r.fault_reason().c_str());
  std::printf(", %.2f s", r.elapsed_s());
  if (r.duration_s() > 0) std::printf(" of %.2f s", r.duration_s());
  std::printf(", spec generation %u\n", r.spec_generation());
  const v1::TimingSummary& t = r.timing();
  std::printf(
      "  cycles %lu  overruns %lu  skipped %lu  clipped %lu  dropped frames "
      "%lu  DAQ errors %lu  faults %lu  longest overrun streak %lu\n",
      static_cast<unsigned long>(t.cycles()),
      static_cast<unsigned long>(t.overruns()),
      static_cast<unsigned long>(t.skipped_cycles()),
      static_cast<unsigned long>(t.clipped_outputs()),
      static_cast<unsigned long>(t.dropped_frames()),
      static_cast<unsigned long>(t.daq_errors()),
      static_cast<unsigned long>(t.faults()),
      static_cast<unsigned long>(t.max_consecutive_overruns()));
  std::printf("  period   %s\n  lateness %s\n  compute  %s\n  latency  %s\n",
              Quant(t.period()).c_str(), Quant(t.lateness()).c_str(),
              Quant(t.compute()).c_str(), Quant(t.latency()).c_str());
  const v1::WakeCost& w = t.wake();
  if (!w.strategy().empty()) {
    std::printf(
        "  wake     %s, margin %.1f us; spinning %.1f %% of the time, RT "
        "thread CPU %.1f %%; host timer late p99 %.1f us\n",
        w.strategy().c_str(), w.margin_us(), 100 * w.spin_fraction(),
        100 * w.cpu_fraction(), w.timer_lateness().p99_us());
  }
}

void PrintSweeps(const v1::Run& r) {
  if (r.protocol_name().empty()) return;
  std::printf("protocol %s: %u of %u sweeps completed%s\n",
              r.protocol_name().c_str(), r.sweeps_completed(), r.sweeps_total(),
              r.paused() ? " (paused)" : "");
  if (!r.nwb_path().empty()) std::printf("file: %s\n", r.nwb_path().c_str());
  if (!r.error().empty()) std::printf("error: %s\n", r.error().c_str());
  for (const v1::SweepSummary& s : r.sweeps()) {
    std::printf(
        "  sweep %3u (protocol %d): %ld samples%s  overruns %lu  skipped %lu  "
        "dropped %lu  clipped %lu  worst step %.1f us  p99.9 %.1f us  worst "
        "latency %.1f us%s%s\n",
        s.sweep_number(), s.protocol_sweep(), static_cast<long>(s.samples()),
        s.complete() ? "" : " (cut short)",
        static_cast<unsigned long>(s.overruns()),
        static_cast<unsigned long>(s.skipped_cycles()),
        static_cast<unsigned long>(s.dropped_frames()),
        static_cast<unsigned long>(s.clipped_outputs()), s.worst_period_us(),
        s.p999_period_us(), s.worst_latency_us(),
        s.qc_pass() ? "" : "  QC FAIL: ", s.qc_reason().c_str());
  }
}

void PrintFidelity(const v1::Run& r) {
  const v1::Fidelity& f = r.fidelity();
  if (!f.computed()) return;
  std::printf(
      "fidelity (replayed on the simulated rig with %g pA drive: steps up to "
      "%.1f us, latency %.1f us): V %.2f mV RMS (%.1f mV worst), %d spikes "
      "vs %d ideal, mean shift %.3f ms\n",
      f.drive_pa(), f.worst_step_us(), f.worst_latency_us(), f.rms_error_mv(),
      f.max_error_mv(), f.spikes_measured(), f.spikes_ideal(),
      f.mean_spike_shift_ms());
  if (!f.warning().empty()) std::printf("WARNING: %s\n", f.warning().c_str());
}

// After a run with a spec loaded ends, the daemon replays its timing; give
// it a few seconds.
v1::Run WithFidelity(Client& client, v1::Run r, const char* verb) {
  for (int k = 0; k < 100 && r.fidelity().pending(); ++k) {
    absl::SleepFor(absl::Milliseconds(100));
    r = OrDie(verb, client.GetRun());
  }
  return r;
}

// The protocol file, and the spec and session files if given, as a run
// request that carries each file as written.
v1::RunProtocolRequest ReadRunRequest(const std::string& verb,
                                      const std::string& protocol_path,
                                      const std::string& spec_path,
                                      const std::string& session_path) {
  v1::RunProtocolRequest request;
  request.set_protocol_source(
      OrDie(verb, spec_files::ReadTextFile(protocol_path)));
  *request.mutable_protocol() = OrDie(
      verb,
      spec_files::ParseProtocol(request.protocol_source(), protocol_path));
  if (!spec_path.empty()) {
    request.set_spec_source(OrDie(verb, spec_files::ReadTextFile(spec_path)));
    *request.mutable_spec() =
        OrDie(verb, spec_files::ParseSpec(request.spec_source(), spec_path));
  }
  if (!session_path.empty()) {
    const std::string text =
        OrDie(verb, spec_files::ReadTextFile(session_path));
    if (absl::Status s = spec_files::ParseYamlMessage(
            text, session_path, *request.mutable_session());
        !s.ok())
      Die(verb, s);
  }
  return request;
}

std::string Time(int64_t unix_ns) {
  if (unix_ns == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixNanos(unix_ns),
                          absl::LocalTimeZone());
}

}  // namespace dynclamp::cli
