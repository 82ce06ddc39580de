// dynclamp: the command-line client of dynclampd.
//
//   dynclamp [--server HOST:PORT] [--timeout S] VERB ...
//
// Errors print one line (the verb, the status code, what failed and why)
// and exit 1; usage errors exit 2.
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "clients/cli/fidelity_verb.h"
#include "clients/cli/recordings_verb.h"
#include "clients/cpp/client.h"
#include "clients/cpp/spec_file.h"

namespace {

using dynclamp::client::Client;
namespace v1 = dynclamp::v1;

struct Globals {
  std::string server = "127.0.0.1:50051";
  double timeout_s = 10;
  std::string operator_name;
  std::string token_file;  // default $DYNCLAMP_TOKEN_FILE
  bool tls = false;
  std::string tls_ca, tls_cert, tls_key, tls_server_name;
};

std::string DefaultOperator() {
  for (const char* var : {"DYNCLAMP_OPERATOR", "USER", "LOGNAME"}) {
    if (const char* v = std::getenv(var); v != nullptr && *v != '\0') return v;
  }
  return "";
}

[[noreturn]] void Die(const std::string& verb, const absl::Status& status) {
  std::fprintf(stderr, "dynclamp: %s: %s: %s\n", verb.c_str(),
               absl::StatusCodeToString(status.code()).c_str(),
               std::string(status.message()).c_str());
  std::exit(1);
}

template <typename T>
T OrDie(const std::string& verb, absl::StatusOr<T> result) {
  if (!result.ok()) Die(verb, result.status());
  return *std::move(result);
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
  absl::StatusOr<std::string> text = dynclamp::client::ReadTextFile(path);
  if (!text.ok()) return text.status();
  return std::string(absl::StripAsciiWhitespace(*text));
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
    absl::StatusOr<std::string> pem = dynclamp::client::ReadTextFile(path);
    if (!pem.ok()) {
      Die(verb, absl::InvalidArgumentError(
                    absl::StrCat(flag, ": ", pem.status().message())));
    }
    *out = *pem;
  }
  options.tls_server_name = g.tls_server_name;
  return OrDie(verb, Client::Connect(g.server, options));
}

// dynclamp token create NAME ROLE | revoke NAME | list
int TokenVerb(const Globals& g, const std::string& verb,
              const std::string& name, const std::string& role_text) {
  auto client = ConnectOrDie(g, "token");
  if (verb == "create") {
    v1::Role role = v1::ROLE_UNSPECIFIED;
    if (!v1::Role_Parse(absl::AsciiStrToUpper(role_text), &role) ||
        role == v1::ROLE_UNSPECIFIED) {
      Die("token",
          absl::InvalidArgumentError(absl::StrCat(
              "ROLE: observer, operator or admin, got '", role_text, "'")));
    }
    const v1::CreatedToken t = OrDie("token", client->CreateToken(name, role));
    std::fprintf(stderr,
                 "token '%s' (%s) created; it is shown once, keep it like a "
                 "password:\n",
                 t.name().c_str(),
                 absl::AsciiStrToLower(v1::Role_Name(t.role())).c_str());
    std::printf("%s\n", t.token().c_str());
    return 0;
  }
  if (verb == "revoke") {
    if (absl::Status s = client->RevokeToken(name); !s.ok()) Die("token", s);
    std::printf("token '%s' revoked\n", name.c_str());
    return 0;
  }
  const v1::ListTokensResponse list = OrDie("token", client->ListTokens());
  std::printf("%-24s %-9s %s\n", "NAME", "ROLE", "CREATED (UTC)");
  for (const v1::TokenInfo& t : list.tokens()) {
    std::printf("%-24s %-9s %s\n", t.name().c_str(),
                absl::AsciiStrToLower(v1::Role_Name(t.role())).c_str(),
                absl::FormatTime("%Y-%m-%d %H:%M:%S",
                                 absl::FromUnixSeconds(t.created_unix_s()),
                                 absl::UTCTimeZone())
                    .c_str());
  }
  return 0;
}

// dynclamp config [--set max_cells=500 ...]
int ConfigVerb(const Globals& g, const std::vector<std::string>& sets) {
  auto client = ConnectOrDie(g, "config");
  v1::DaemonConfig config = OrDie("config", client->GetConfig());
  if (!sets.empty()) {
    v1::Limits limits = config.limits();
    const auto* descriptor = limits.GetDescriptor();
    for (const std::string& set : sets) {
      std::pair<std::string, std::string> kv =
          absl::StrSplit(set, absl::MaxSplits('=', 1));
      const auto* field = descriptor->FindFieldByName(kv.first);
      uint64_t value = 0;
      if (field == nullptr || !absl::SimpleAtoi(kv.second, &value)) {
        Die("config", absl::InvalidArgumentError(absl::StrCat(
                          "--set: LIMIT=VALUE with a limit of 'dynclamp "
                          "config' and a whole number, got '",
                          set, "'")));
      }
      limits.GetReflection()->SetUInt64(&limits, field, value);
    }
    config = OrDie("config", client->SetLimits(limits));
  }
  std::printf("listen           %s (%s, %s)\n", config.listen().c_str(),
              config.tls() ? (config.client_certificates_required()
                                  ? "TLS, client certificates required"
                                  : "TLS")
                           : "plain",
              config.authentication() ? "tokens" : "no tokens");
  std::printf("metrics          %s%s\n", config.metrics_listen().c_str(),
              config.metrics_protected() ? " (basic auth)" : "");
  const v1::Limits& l = config.limits();
  const auto* d = l.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    std::printf("%-24s %lu\n", d->field(i)->name().c_str(),
                static_cast<unsigned long>(
                    l.GetReflection()->GetUInt64(l, d->field(i))));
  }
  return 0;
}

std::string StateName(v1::RunState s) { return v1::RunState_Name(s); }

std::string Quant(const v1::Quantiles& q) {
  return absl::StrFormat("p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f us",
                         q.p50_us(), q.p99_us(), q.p999_us(), q.max_us());
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

bool Terminal(v1::RunState s) {
  return s == v1::STOPPED || s == v1::COMPLETED || s == v1::ABORTED ||
         s == v1::FAILED;
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

int Status(const Globals& g) {
  auto client = ConnectOrDie(g, "status");
  const v1::Rig rig = OrDie("status", client->GetRig());
  std::printf("dynclampd %s at %s\n", rig.daemon_version().c_str(),
              g.server.c_str());
  std::printf("rig: %s\n", rig.description().c_str());
  std::printf("period: %.1f us (%.1f kHz)\n", rig.period_ns() / 1e3,
              1e6 / rig.period_ns());
  for (const v1::Channel& c : rig.channels()) {
    std::printf(
        "  %-8s in %g mV/V  out %g pA/V  limit %g pA  clipped %lu%s\n",
        c.name().c_str(), c.input_gain_mv_per_v(), c.output_gain_pa_per_v(),
        c.current_limit_pa(), static_cast<unsigned long>(c.clipped_samples()),
        c.holding_pa() == 0
            ? ""
            : absl::StrFormat("  held at %g pA", c.holding_pa()).c_str());
  }
  const v1::RtSettings& rt = rig.rt_settings();
  if (rt.known()) {
    std::printf("RT thread: %s %d, memory %s, cpu %s\n", rt.policy().c_str(),
                rt.priority(), rt.memory_locked() ? "locked" : "not locked",
                rt.cpu() < 0 ? "any" : std::to_string(rt.cpu()).c_str());
    for (const auto& n : rt.notes()) std::printf("  note: %s\n", n.c_str());
    if (!rt.wake().empty())
      std::printf("  wake: %s\n", rt.wake_reason().c_str());
  } else {
    std::printf("RT thread: not started yet\n");
  }
  const v1::LoadedSpec spec = OrDie("status", client->GetLoadedSpec());
  if (spec.generation() == 0) {
    std::printf("spec: none loaded\n");
  } else {
    std::vector<std::string> parts;
    for (const auto& c : spec.spec().conductances())
      parts.push_back(absl::StrCat(c.name(), " on ", c.cell()));
    std::printf("spec: generation %u: %s\n", spec.generation(),
                absl::StrJoin(parts, ", ").c_str());
    if (spec.live_changes_dropped() > 0)
      std::printf("  live: %llu earlier changes not listed\n",
                  static_cast<unsigned long long>(spec.live_changes_dropped()));
    for (const auto& lc : spec.live_changes())
      std::printf("  live: %s = %g\n", lc.parameter().c_str(), lc.value());
  }
  const v1::Run run = OrDie("status", client->GetRun());
  PrintRun(run);
  PrintSweeps(run);
  return 0;
}

int Mechanisms(const Globals& g) {
  auto client = ConnectOrDie(g, "mechanisms");
  const auto r = OrDie("mechanisms", client->ListMechanisms());
  for (const v1::Mechanism& m : r.mechanisms()) {
    std::printf("%s (%s): %s\n", m.name().c_str(), m.kind().c_str(),
                m.description().c_str());
    for (const v1::ParameterInfo& p : m.parameters()) {
      std::printf("    %-14s %-5s default %-10g range %s%g, %g]%s\n",
                  p.name().c_str(), p.unit().c_str(), p.default_value(),
                  p.min_exclusive() ? "(" : "[", p.min(), p.max(),
                  p.live() ? "  live" : "");
    }
    if (m.states_size() > 0)
      std::printf("    states: %s\n", absl::StrJoin(m.states(), ", ").c_str());
  }
  return 0;
}

int Signals(const Globals& g) {
  auto client = ConnectOrDie(g, "signals");
  const auto r = OrDie("signals", client->ListSignals());
  for (const v1::Signal& s : r.signals())
    std::printf("%-24s %s\n", s.name().c_str(), s.unit().c_str());
  return 0;
}

int Validate(const Globals& g, const std::string& file) {
  const v1::Spec spec = OrDie("validate", dynclamp::client::ReadSpecFile(file));
  auto client = ConnectOrDie(g, "validate");
  const auto r = OrDie("validate", client->ValidateSpec(spec));
  std::printf("%s: valid; %d conductance(s), signals: %s\n", file.c_str(),
              spec.conductances_size(),
              absl::StrJoin(r.signals(), ", ").c_str());
  return 0;
}

int Load(const Globals& g, const std::string& file) {
  const std::string text = OrDie("load", dynclamp::client::ReadTextFile(file));
  const v1::Spec spec = OrDie("load", dynclamp::client::ParseSpec(text, file));
  auto client = ConnectOrDie(g, "load");
  const auto r = OrDie("load", client->LoadSpec(spec, text));
  std::printf("loaded %s as generation %u; signals: %s\n", file.c_str(),
              r.generation(), absl::StrJoin(r.signals(), ", ").c_str());
  return 0;
}

// Holds a cell at a steady current, like an amplifier's holding current.
int Hold(const Globals& g, const std::string& cell, const std::string& text) {
  double pa = 0;
  if (!absl::SimpleAtod(text, &pa)) {
    Die("hold", absl::InvalidArgumentError(
                    absl::StrCat("PA: '", text, "' is not a current in pA")));
  }
  auto client = ConnectOrDie(g, "hold");
  const v1::Rig rig = OrDie("hold", client->SetHolding(cell, pa));
  std::printf(pa == 0 ? "%s: holding current released\n"
                      : "%s: held at %g pA (from the next cycle, while the "
                        "clamp runs; 'hold %s 0' releases it)\n",
              cell.c_str(), pa, cell.c_str());
  (void)rig;
  return 0;
}

// Loads an empty spec: no conductance, model or synapse is left (the cells
// keep only what the protocol or nothing injects), between two cycles.
int Unload(const Globals& g) {
  auto client = ConnectOrDie(g, "unload");
  const auto r = OrDie("unload", client->LoadSpec(v1::Spec(), ""));
  std::printf(
      "spec unloaded (generation %u): nothing is injected but what a "
      "protocol plays\n",
      r.generation());
  return 0;
}

int Spec(const Globals& g) {
  auto client = ConnectOrDie(g, "spec");
  const auto r = OrDie("spec", client->GetLoadedSpec());
  std::printf("# generation %u\n%s\n", r.generation(),
              dynclamp::client::SpecToJson(r.spec()).c_str());
  if (r.live_changes_dropped() > 0)
    std::printf("# live: %llu earlier changes not listed\n",
                static_cast<unsigned long long>(r.live_changes_dropped()));
  for (const auto& lc : r.live_changes())
    std::printf("# live: %s = %g\n", lc.parameter().c_str(), lc.value());
  return 0;
}

int Set(const Globals& g, const std::string& name, const std::string& text) {
  double value = 0;
  if (!absl::SimpleAtod(text, &value)) {
    Die("set", absl::InvalidArgumentError(absl::StrCat(
                   "VALUE: '", text,
                   "' is not a number; live parameters are numbers in their "
                   "unit ('dynclamp mechanisms' lists them); a choice such as "
                   "an integrator is made in the spec, loaded again")));
  }
  auto client = ConnectOrDie(g, "set");
  if (auto s = client->SetParameter(name, value); !s.ok()) Die("set", s);
  std::printf("%s = %g (from the next cycle)\n", name.c_str(), value);
  return 0;
}

int Start(const Globals& g, double duration_s, bool wait) {
  auto client = ConnectOrDie(g, "start");
  const v1::Run run = OrDie("start", client->StartRun(duration_s));
  std::printf("run %lu started%s\n", static_cast<unsigned long>(run.run_id()),
              duration_s > 0 ? absl::StrFormat(" for %g s", duration_s).c_str()
                             : " (until 'dynclamp stop')");
  std::fflush(stdout);
  if (!wait) return 0;
  v1::Run last = run;
  const absl::Status s = client->WatchRun([&](const v1::Run& r) {
    last = r;
    std::fprintf(stderr, "\r  %s %.1f / %.1f s   ",
                 StateName(r.state()).c_str(), r.elapsed_s(), r.duration_s());
    return !(r.run_id() == run.run_id() && Terminal(r.state()));
  });
  std::fprintf(stderr, "\n");
  if (!s.ok()) Die("start", s);
  PrintRun(OrDie("start", client->GetRun()));
  return 0;
}

// The protocol file, and the spec and session files if given, as a run
// request that carries each file as written.
v1::RunProtocolRequest ReadRunRequest(const std::string& verb,
                                      const std::string& protocol_path,
                                      const std::string& spec_path,
                                      const std::string& session_path) {
  v1::RunProtocolRequest request;
  request.set_protocol_source(
      OrDie(verb, dynclamp::client::ReadTextFile(protocol_path)));
  *request.mutable_protocol() =
      OrDie(verb, dynclamp::client::ParseProtocol(request.protocol_source(),
                                                  protocol_path));
  if (!spec_path.empty()) {
    request.set_spec_source(
        OrDie(verb, dynclamp::client::ReadTextFile(spec_path)));
    *request.mutable_spec() = OrDie(
        verb, dynclamp::client::ParseSpec(request.spec_source(), spec_path));
  }
  if (!session_path.empty()) {
    const std::string text =
        OrDie(verb, dynclamp::client::ReadTextFile(session_path));
    if (absl::Status s = dynclamp::client::ParseYamlMessage(
            text, session_path, *request.mutable_session());
        !s.ok())
      Die(verb, s);
  }
  return request;
}

std::string OrNone(const std::string& s) {
  return s.empty() ? "(not given)" : s;
}

// What the recording will say about the session, and what the DANDI
// archive would miss.
template <typename Missing>
void PrintSession(const v1::Session& m, const Missing& missing) {
  const v1::Subject& s = m.subject();
  std::printf("session: experimenter %s; institution %s; lab %s\n",
              OrNone(absl::StrJoin(m.experimenter(), "; ")).c_str(),
              OrNone(m.institution()).c_str(), OrNone(m.lab()).c_str());
  std::printf("  subject %s: species %s, age %s, sex %s\n",
              OrNone(s.subject_id()).c_str(), OrNone(s.species()).c_str(),
              OrNone(s.age()).c_str(), OrNone(s.sex()).c_str());
  if (!s.description().empty())
    std::printf("  subject: %s\n", s.description().c_str());
  if (!m.keywords().empty())
    std::printf("  keywords: %s\n", absl::StrJoin(m.keywords(), ", ").c_str());
  if (!m.slice().empty()) std::printf("  slice: %s\n", m.slice().c_str());
  for (const v1::CellInfo& c : m.cells()) {
    std::printf("  %s: %s%s%s\n", c.cell().c_str(),
                c.cell_description().c_str(), c.location().empty() ? "" : ", ",
                c.location().c_str());
  }
  if (!missing.empty()) {
    std::printf(
        "  WARNING: the DANDI archive will refuse this file: no %s (give "
        "them in --session FILE, the protocol's session, or dynclampd "
        "--session_file)\n",
        absl::StrJoin(missing, ", ").c_str());
  }
}

// `dynclamp check`: what RunProtocol would do, without running anything.
int CheckProtocolFile(const Globals& g, const std::string& protocol_path,
                      const std::string& spec_path,
                      const std::string& session_path) {
  const v1::RunProtocolRequest request =
      ReadRunRequest("check", protocol_path, spec_path, session_path);
  auto client = ConnectOrDie(g, "check");
  const v1::ProtocolCheck check =
      OrDie("check", client->ValidateProtocol(request));
  std::printf("%s: valid; protocol %s, %u sweeps, %.3f s, against %s\n",
              protocol_path.c_str(), check.name().c_str(), check.sweeps(),
              check.duration_s(),
              spec_path.empty() ? "the loaded spec" : spec_path.c_str());
  std::printf("records: V and I of every cell%s%s\n",
              check.recorded_signals().empty() ? "" : ", ",
              absl::StrJoin(check.recorded_signals(), ", ").c_str());
  PrintSession(check.session(), check.session_missing());
  return 0;
}

int RunProtocolFile(const Globals& g, const std::string& protocol_path,
                    const std::string& spec_path,
                    const std::string& session_path, bool wait) {
  const v1::RunProtocolRequest request =
      ReadRunRequest("run", protocol_path, spec_path, session_path);
  auto client = ConnectOrDie(g, "run");
  const v1::Run run = OrDie("run", client->RunProtocol(request));
  std::printf("run %lu: protocol %s, %u sweeps, recording to %s\n",
              static_cast<unsigned long>(run.run_id()),
              run.protocol_name().c_str(), run.sweeps_total(),
              run.nwb_path().c_str());
  PrintSession(run.session(), run.session_missing());
  std::fflush(stdout);
  if (!wait) return 0;
  const absl::Status s = client->WatchRun([&](const v1::Run& r) {
    std::fprintf(stderr, "\r  %s sweep %u of %u, %.1f s   ",
                 StateName(r.state()).c_str(), r.sweeps_completed(),
                 r.sweeps_total(), r.elapsed_s());
    return !(r.run_id() == run.run_id() && Terminal(r.state()));
  });
  std::fprintf(stderr, "\n");
  if (!s.ok()) Die("run", s);
  const v1::Run last =
      WithFidelity(*client, OrDie("run", client->GetRun()), "run");
  PrintRun(last);
  PrintSweeps(last);
  PrintFidelity(last);
  return last.state() == v1::COMPLETED ? 0 : 1;
}

std::string Time(int64_t unix_ns) {
  if (unix_ns == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixNanos(unix_ns),
                          absl::LocalTimeZone());
}

void PrintQueueStatus(const v1::QueueStatus& s) {
  std::printf("queue: %s, %u waiting",
              v1::QueueStatus::State_Name(s.state()).c_str(),
              s.items_waiting());
  if (s.current_item() != 0) {
    std::printf("; running item %lu (%s): sweep %u of %u",
                static_cast<unsigned long>(s.current_item()),
                s.current_name().c_str(), s.run().sweeps_completed(),
                s.run().sweeps_total());
  }
  std::printf("%s\n", s.stop_on_failure() ? " (stops on failure)" : "");
  if (!s.error().empty()) std::printf("  waiting: %s\n", s.error().c_str());
}

// What spec a queued item runs with (fixed when it was added).
std::string ItemSpec(const v1::QueueItem& item) {
  return item.run().spec().ByteSizeLong() > 0 ? "with its spec" : "no spec";
}

void PrintItem(const v1::QueueItem& item) {
  std::printf("%4u  item %-5lu %-24s added %s by %s (%s)\n", item.position(),
              static_cast<unsigned long>(item.id()), item.name().c_str(),
              Time(item.added_unix_ns()).c_str(),
              item.added_by().empty() ? "-" : item.added_by().c_str(),
              ItemSpec(item).c_str());
}

// "back", "front", "before:ID", "after:ID".
v1::Position ParsePosition(const std::string& text) {
  v1::Position p;
  uint64_t id = 0;
  if (text.empty() || text == "back") {
    p.set_back(true);
  } else if (text == "front") {
    p.set_front(true);
  } else if (absl::StartsWith(text, "before:") &&
             absl::SimpleAtoi(text.substr(7), &id)) {
    p.set_before(id);
  } else if (absl::StartsWith(text, "after:") &&
             absl::SimpleAtoi(text.substr(6), &id)) {
    p.set_after(id);
  } else {
    Die("queue", absl::InvalidArgumentError(absl::StrCat(
                     "--position: back, front, before:ID or after:ID, got '",
                     text, "'")));
  }
  return p;
}

struct QueueArgs {
  std::string verb;  // the subcommand
  std::string protocol, spec, session, position, request_id;
  uint64_t id = 0;
  bool now = false;
  bool keep_spec = false;
  uint32_t limit = 20;
};

int QueueVerb(const Globals& g, const QueueArgs& a) {
  auto client = ConnectOrDie(g, "queue " + a.verb);
  const std::string verb = "queue " + a.verb;
  if (a.verb == "add") {
    v1::AddItemRequest r;
    r.set_request_id(a.request_id);
    *r.mutable_position() = ParsePosition(a.position);
    *r.mutable_run() = ReadRunRequest(verb, a.protocol, a.spec, a.session);
    r.set_keep_loaded_spec(a.keep_spec);
    const v1::QueueItem item = OrDie(verb, client->AddQueueItem(r));
    std::printf("item %lu queued at position %u, %s%s\n",
                static_cast<unsigned long>(item.id()), item.position(),
                !a.spec.empty() ? absl::StrCat("with ", a.spec).c_str()
                : a.keep_spec   ? "with the spec loaded now (a copy)"
                                : "with no spec",
                a.spec.empty() && !a.keep_spec
                    ? " (--spec FILE or --keep-spec to run with one)"
                    : "");
  } else if (a.verb == "list") {
    PrintQueueStatus(OrDie(verb, client->GetQueueStatus()));
    const v1::ListItemsResponse items = OrDie(verb, client->ListQueue());
    for (const auto& item : items.items()) PrintItem(item);
  } else if (a.verb == "show") {
    const v1::QueueItem item = OrDie(verb, client->GetQueueItem(a.id));
    PrintItem(item);
    std::printf("%s\n", item.run().protocol_source().c_str());
  } else if (a.verb == "move") {
    PrintItem(
        OrDie(verb, client->MoveQueueItem(a.id, ParsePosition(a.position))));
  } else if (a.verb == "remove") {
    const v1::QueueItem item = OrDie(verb, client->RemoveQueueItem(a.id));
    std::printf("item %lu removed\n", static_cast<unsigned long>(item.id()));
  } else if (a.verb == "clear") {
    PrintQueueStatus(OrDie(verb, client->ClearQueue()));
  } else if (a.verb == "start") {
    PrintQueueStatus(OrDie(verb, client->StartQueue()));
  } else if (a.verb == "stop") {
    PrintQueueStatus(OrDie(verb, client->StopQueue()));
  } else if (a.verb == "pause") {
    PrintQueueStatus(OrDie(verb, client->PauseQueue(a.now)));
  } else if (a.verb == "resume") {
    PrintQueueStatus(OrDie(verb, client->ResumeQueue()));
  } else if (a.verb == "abort") {
    PrintQueueStatus(OrDie(verb, client->AbortCurrent()));
  } else if (a.verb == "status") {
    PrintQueueStatus(OrDie(verb, client->GetQueueStatus()));
  }
  return 0;
}

int History(const Globals& g, uint32_t limit) {
  auto client = ConnectOrDie(g, "history");
  const v1::ListHistoryResponse history =
      OrDie("history", client->ListHistory(limit));
  for (const auto& e : history.entries()) {
    std::string status = v1::ExitStatus_Name(e.status());
    status = status.substr(0, status.find("_ITEM"));
    std::printf("%4lu  item %-5lu %-20s %-11s %s -> %s  sweeps %u/%u  %s%s%s\n",
                static_cast<unsigned long>(e.id()),
                static_cast<unsigned long>(e.item_id()), e.name().c_str(),
                status.c_str(), Time(e.started_unix_ns()).c_str(),
                Time(e.ended_unix_ns()).c_str(), e.sweeps_completed(),
                e.sweeps_total(),
                e.nwb_path().empty() ? "" : e.nwb_path().c_str(),
                e.error().empty() ? "" : "  error: ", e.error().c_str());
  }
  return 0;
}

int Lock(const Globals& g, const std::string& verb) {
  auto client = ConnectOrDie(g, "lock");
  v1::LockStatus s;
  if (verb == "acquire") {
    s = OrDie("lock acquire", client->AcquireLock());
  } else if (verb == "release") {
    s = OrDie("lock release", client->ReleaseLock());
  } else {
    s = OrDie("lock", client->GetLock());
  }
  if (s.held()) {
    std::printf("locked by %s since %s\n", s.owner().c_str(),
                Time(s.since_unix_ns()).c_str());
  } else {
    std::printf("unlocked\n");
  }
  return 0;
}

int Stop(const Globals& g) {
  auto client = ConnectOrDie(g, "stop");
  PrintRun(OrDie("stop", client->StopRun()));
  return 0;
}

int ClearFault(const Globals& g) {
  auto client = ConnectOrDie(g, "clear-fault");
  PrintRun(OrDie("clear-fault", client->ClearFault()));
  return 0;
}

int Watch(const Globals& g) {
  auto client = ConnectOrDie(g, "watch");
  const absl::Status s = client->WatchRun([](const v1::Run& r) {
    std::printf("%s run %lu %s %.2f s cycles %lu overruns %lu\n",
                absl::FormatTime("%H:%M:%S", absl::Now(), absl::LocalTimeZone())
                    .c_str(),
                static_cast<unsigned long>(r.run_id()),
                StateName(r.state()).c_str(), r.elapsed_s(),
                static_cast<unsigned long>(r.timing().cycles()),
                static_cast<unsigned long>(r.timing().overruns()));
    std::fflush(stdout);
    return true;
  });
  if (!s.ok()) Die("watch", s);
  return 0;
}

int Stream(const Globals& g, std::vector<std::string> signals,
           uint32_t decimate, double duration_s, uint64_t max_samples,
           const std::string& format, const std::string& out_path) {
  if (format != "csv" && format != "table") {
    Die("stream", absl::InvalidArgumentError("--format: csv or table"));
  }
  auto client = ConnectOrDie(g, "stream");
  if (signals.empty()) {
    const auto rig = OrDie("stream", client->GetRig());
    for (const auto& c : rig.channels()) {
      signals.push_back(c.name() + ".v_mv");
      signals.push_back(c.name() + ".i_pa");
    }
  }
  std::ofstream file;
  if (!out_path.empty()) {
    file.open(out_path);
    if (!file)
      Die("stream",
          absl::NotFoundError(absl::StrCat("-o: cannot write ", out_path)));
  }
  std::ostream& out = out_path.empty() ? std::cout : file;
  // Samples flow only while a run is active: say so rather than sit silent.
  if (const v1::RunState state = OrDie("stream", client->GetRun()).state();
      state != v1::RUNNING && state != v1::FAULT) {
    std::fprintf(stderr,
                 "no run is active: waiting for the next one (dynclamp start, "
                 "run or queue start)%s\n",
                 duration_s > 0 ? "" : "; Ctrl-C to stop");
  }
  v1::SubscribeRequest request;
  for (const auto& s : signals) request.add_signals(s);
  request.set_decimation(decimate);
  int64_t period_ns = 0;
  uint64_t samples = 0, lost = 0, skipped = 0;
  const absl::Time wall_start = absl::Now();
  absl::Time last_progress = wall_start;
  // --duration is wall-clock time, whether or not samples arrive: a timer
  // ends the stream even when the loop is stopped.
  std::atomic<bool> timed_out{false};
  absl::Notification done;
  std::thread timer;
  if (duration_s > 0) {
    timer = std::thread([&] {
      if (!done.WaitForNotificationWithTimeout(absl::Seconds(duration_s))) {
        timed_out.store(true);
        client->Cancel();
      }
    });
  }
  absl::Status s = client->Subscribe(request, [&](const v1::Chunk& c) {
    if (c.signals_size() > 0) {  // header
      period_ns = c.sample_period_ns();
      if (format == "csv") {
        out << "t_s";
        for (int k = 0; k < c.signals_size(); ++k) out << "," << c.signals(k);
        out << "\n" << std::flush;
      } else {
        out << absl::StrFormat("%12s", "t_s");
        for (int k = 0; k < c.signals_size(); ++k)
          out << absl::StrFormat(" %14s", c.signals(k));
        out << "\n";
      }
      return true;
    }
    lost = c.samples_lost();
    skipped += static_cast<uint64_t>(c.skipped_samples_size());
    const int n = static_cast<int>(signals.size());
    const int64_t cycle_ns = decimate > 1 ? period_ns / decimate : period_ns;
    // Skipped cycles have no sample: their rows are left out, so t_s jumps.
    auto next_skip = c.skipped_samples().begin();
    uint32_t taken = 0;
    for (uint32_t k = 0; k < c.num_samples(); ++k) {
      if (next_skip != c.skipped_samples().end() && *next_skip == k) {
        ++next_skip;
        continue;
      }
      if (max_samples > 0 && samples + taken >= max_samples) break;
      ++taken;
      const double t =
          static_cast<double>(c.first_sample_index()) * cycle_ns * 1e-9 +
          static_cast<double>(k) * c.sample_period_ns() * 1e-9;
      if (format == "csv") {
        out << absl::StrFormat("%.6f", t);
        for (int j = 0; j < n; ++j)
          out << absl::StrFormat(",%.6g", c.values(k * n + j));
      } else {
        out << absl::StrFormat("%12.6f", t);
        for (int j = 0; j < n; ++j)
          out << absl::StrFormat(" %14.6g", c.values(k * n + j));
      }
      out << "\n";
    }
    samples += taken;
    if (max_samples > 0 && samples >= max_samples) return false;
    const absl::Time now = absl::Now();
    if (!out_path.empty() && now - last_progress > absl::Milliseconds(500)) {
      std::fprintf(stderr, "\r  %lu samples (%.1f s), lost %lu   ",
                   static_cast<unsigned long>(samples),
                   samples * static_cast<double>(c.sample_period_ns()) * 1e-9,
                   static_cast<unsigned long>(lost));
      last_progress = now;
    }
    return !(duration_s > 0 && now - wall_start >= absl::Seconds(duration_s));
  });
  done.Notify();
  if (timer.joinable()) timer.join();
  if (timed_out.load() && absl::IsCancelled(s)) s = absl::OkStatus();
  if (!out_path.empty()) std::fprintf(stderr, "\n");
  out.flush();
  if (s.ok()) {
    std::fprintf(stderr, "%lu samples, %lu lost",
                 static_cast<unsigned long>(samples),
                 static_cast<unsigned long>(lost));
    // Skipped cycles are gaps in the t_s column, not lost samples.
    if (skipped > 0)
      std::fprintf(stderr, ", %lu skipped by the loop (overruns)",
                   static_cast<unsigned long>(skipped));
    std::fprintf(stderr, "\n");
  }
  if (!s.ok()) Die("stream", s);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dynclamp: drive a dynclampd dynamic-clamp daemon"};
  app.require_subcommand(1);
  Globals g;
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

  auto* status = app.add_subcommand("status", "rig, loaded spec and run");
  auto* mechanisms = app.add_subcommand(
      "mechanisms", "models and presets with their parameters");
  auto* signals =
      app.add_subcommand("signals", "signals that can be streamed now");
  std::string file;
  auto* validate =
      app.add_subcommand("validate", "check a spec file without loading it");
  validate->add_option("FILE", file, "YAML or JSON spec")->required();
  auto* load = app.add_subcommand(
      "load", "load a spec file (swapped in between cycles)");
  load->add_option("FILE", file, "YAML or JSON spec")->required();
  auto* spec = app.add_subcommand("spec", "print the loaded spec");
  std::string hold_cell, hold_pa;
  auto* hold = app.add_subcommand(
      "hold", "hold a cell at a steady current (pA), live; 0 releases it");
  hold->add_option("CELL", hold_cell, "e.g. cell0")->required();
  hold->add_option("PA", hold_pa, "current in pA (positive depolarizes)")
      ->required();
  auto* unload = app.add_subcommand(
      "unload", "unload the spec (swapped for an empty one between cycles)");
  std::string name, value;
  auto* set = app.add_subcommand(
      "set", "change a live parameter, e.g. set gaba.g_max_ns 5");
  set->add_option("NAME", name, "<conductance>.<parameter>")->required();
  set->add_option("VALUE", value, "new value")->required();
  double duration = 0;
  bool wait = false;
  auto* start = app.add_subcommand("start", "start the clamp");
  start->add_option("--duration", duration, "seconds; 0 = until stopped");
  start->add_flag("--wait", wait, "wait for the run to end, showing progress");
  auto* stop = app.add_subcommand("stop", "stop the clamp (outputs to 0)");
  auto* clear = app.add_subcommand("clear-fault",
                                   "leave FAULT after dealing with its cause");
  auto* watch = app.add_subcommand("watch", "print run state changes");
  std::vector<std::string> stream_signals;
  uint32_t decimate = 1;
  double stream_duration = 0;
  std::string format = "csv", out;
  auto* stream =
      app.add_subcommand("stream",
                         "stream signals as CSV or a table (t_s: time in the "
                         "run; waits for a run if none is active)");
  stream
      ->add_option("--signals", stream_signals,
                   "signal names (default: every cell's V and I)")
      ->delimiter(',');
  stream->add_option("--decimate", decimate, "keep every Nth sample");
  stream->add_option("--duration", stream_duration,
                     "seconds (wall clock) to stream; 0 = until Ctrl-C");
  uint64_t stream_samples = 0;
  stream->add_option("--samples", stream_samples,
                     "stop after this many samples (after decimation), e.g. "
                     "a run's duration x rate / decimation");
  stream->add_option("--format", format, "csv or table")->capture_default_str();
  stream->add_option("-o,--output", out, "write to FILE (progress on stderr)");
  auto* health =
      app.add_subcommand("health", "the daemon's gRPC health status");
  std::string protocol_file, spec_file, session_file;
  auto* run = app.add_subcommand(
      "run", "play a protocol file and record it (NWB under the data dir)");
  run->add_option("PROTOCOL", protocol_file, "YAML or JSON protocol")
      ->required();
  run->add_option("--spec", spec_file, "load this spec first");
  run->add_option("--session", session_file,
                  "session metadata (YAML/JSON: subject, experimenter, ...; "
                  "see examples/session.yaml)");
  run->add_flag("--wait", wait,
                "wait for the end; print the file and each sweep's timing");
  auto* check = app.add_subcommand(
      "check",
      "validate a protocol file as 'run' would (against --spec, or the loaded "
      "spec) without running it; also while a run is active");
  check->add_option("PROTOCOL", protocol_file, "YAML or JSON protocol")
      ->required();
  check->add_option("--spec", spec_file, "check against this spec");
  check->add_option("--session", session_file, "session metadata (YAML/JSON)");
  auto* pause =
      app.add_subcommand("pause", "pause the protocol after the current sweep");
  bool now = false;
  pause->add_flag("--now", now,
                  "pause at once (the sweep is played again on resume)");
  auto* resume = app.add_subcommand("resume", "resume a paused protocol");
  QueueArgs qa;
  auto* queue = app.add_subcommand("queue", "the overnight queue");
  queue->require_subcommand(1);
  auto* q_add = queue->add_subcommand("add", "queue a protocol (and a spec)");
  q_add->add_option("PROTOCOL", qa.protocol, "YAML or JSON protocol")
      ->required();
  q_add->add_option("--spec", qa.spec, "load this spec before it runs");
  q_add->add_flag("--keep-spec", qa.keep_spec,
                  "run it with the spec loaded now (its text is copied into "
                  "the item); without --spec or this, it runs with no spec");
  q_add->add_option("--session", qa.session,
                    "session metadata (YAML/JSON) for its recording");
  q_add->add_option("--position", qa.position,
                    "back (default), front, before:ID or after:ID");
  q_add->add_option("--request-id", qa.request_id,
                    "makes retries idempotent: the same id adds once");
  queue->add_subcommand("list", "the items waiting, in order");
  auto* q_show = queue->add_subcommand("show", "one item and its protocol");
  q_show->add_option("ID", qa.id)->required();
  auto* q_move = queue->add_subcommand("move", "move an item");
  q_move->add_option("ID", qa.id)->required();
  q_move
      ->add_option("--position", qa.position,
                   "back, front, before:ID or after:ID")
      ->required();
  auto* q_remove = queue->add_subcommand("remove", "remove an item");
  q_remove->add_option("ID", qa.id)->required();
  queue->add_subcommand("clear", "remove every waiting item");
  queue->add_subcommand("start", "run the items one after another");
  queue->add_subcommand("stop", "stop after the current item");
  auto* q_pause =
      queue->add_subcommand("pause", "pause the current item after its sweep");
  q_pause->add_flag("--now", qa.now, "pause at once (the sweep is replayed)");
  queue->add_subcommand("resume", "resume the paused item");
  queue->add_subcommand("abort", "abort the current item; the queue goes on");
  queue->add_subcommand("status", "the queue's state");
  uint32_t history_limit = 20;
  auto* history =
      app.add_subcommand("history", "finished queue items, newest first");
  history->add_option("--limit", history_limit, "how many")
      ->capture_default_str();
  std::string lock_verb = "status";
  auto* lock = app.add_subcommand(
      "lock", "own the rig (others can still watch): acquire, release, status");
  lock->add_option("VERB", lock_verb, "acquire, release or status")
      ->check(CLI::IsMember({"acquire", "release", "status"}));

  dynclamp::cli::FidelityArgs fa;
  auto* fidelity = app.add_subcommand(
      "fidelity",
      "Bettencourt 2008's fidelity experiments on the simulated CA1 cell (or "
      "your spec): tables, CSV and figures (docs/fidelity.md)");
  fidelity
      ->add_option("--family", fa.families,
                   "channel families clamped back: na, k (= kdr), ka")
      ->delimiter(',')
      ->capture_default_str();
  fidelity->add_option("--spec", fa.spec_file,
                       "your conductances (on cell 0) instead of the presets");
  fidelity
      ->add_option("--block", fa.block,
                   "channels of the CA1 cell your spec replaces (default: "
                   "--family)")
      ->delimiter(',');
  fidelity
      ->add_option("--steps", fa.steps_us,
                   "fixed steps, us (any of --steps/--jitter/--latency "
                   "replaces the paper's conditions)")
      ->delimiter(',');
  fidelity->add_option("--jitter", fa.jitter_worst_us, "worst-case steps, us")
      ->delimiter(',');
  fidelity
      ->add_option("--jitter-floor", fa.jitter_floor_us,
                   "shortest jittered step, us")
      ->capture_default_str();
  fidelity->add_option("--latency", fa.latencies_us, "latencies, us")
      ->delimiter(',');
  fidelity
      ->add_option("--latency-step", fa.latency_step_us,
                   "the step of the latency runs, us")
      ->capture_default_str();
  fidelity
      ->add_option("--fi-currents", fa.fi_currents_pa,
                   "F-I currents, pA (default 0 to 2000 by 200)")
      ->delimiter(',');
  fidelity->add_option("--fi-duration", fa.fi_duration_s,
                       "seconds per F-I current (default 1)");
  fidelity->add_option("--trials", fa.trials,
                       "runs per condition (default 10)");
  fidelity->add_option("--seed", fa.seed, "seed of the phases and jitter");
  fidelity->add_option("-o,--out", fa.out_dir, "directory for CSV and PNG")
      ->capture_default_str();
  bool no_plot = false;
  fidelity->add_flag("--no-plot", no_plot, "write CSV only");
  fidelity
      ->add_option("--lab-timeout", fa.lab_timeout_s,
                   "seconds to wait for each family's lab")
      ->capture_default_str();

  dynclamp::cli::RecordingsArgs ra;
  auto* recordings = app.add_subcommand(
      "recordings",
      "the daemon's NWB recordings: list, get RUN|NAME [-o FILE]");
  recordings->require_subcommand(1);
  auto* r_list = recordings->add_subcommand("list", "newest first");
  r_list->add_option("--run", ra.run_id, "only this run's recording");
  r_list->add_option("--limit", ra.limit, "how many (default 100)");
  auto* r_get = recordings->add_subcommand(
      "get", "download one (resumes a cut download; the SHA-256 is checked)");
  r_get->add_option("RUN", ra.which, "a run id, or a recording's name")
      ->required();
  r_get->add_option("-o,--output", ra.output,
                    "the file (default: the recording's name, here)");
  bool no_progress = false;
  r_get->add_flag("--no-progress", no_progress, "no progress bar");

  auto* token = app.add_subcommand(
      "token", "access tokens (admin): create NAME ROLE, revoke NAME, list");
  std::string token_verb, token_name, token_role;
  token->add_option("VERB", token_verb, "create, revoke or list")
      ->required()
      ->check(CLI::IsMember({"create", "revoke", "list"}));
  token->add_option("NAME", token_name, "the token's name");
  token->add_option("ROLE", token_role, "observer, operator or admin");
  auto* config = app.add_subcommand(
      "config", "the daemon's security settings and limits (admin)");
  std::vector<std::string> config_sets;
  config->add_option("--set", config_sets,
                     "change a limit: max_cells=500 (repeatable)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (*status) return Status(g);
  if (*mechanisms) return Mechanisms(g);
  if (*signals) return Signals(g);
  if (*validate) return Validate(g, file);
  if (*load) return Load(g, file);
  if (*spec) return Spec(g);
  if (*set) return Set(g, name, value);
  if (*start) return Start(g, duration, wait);
  if (*stop) return Stop(g);
  if (*clear) return ClearFault(g);
  if (*watch) return Watch(g);
  if (*stream)
    return Stream(g, stream_signals, decimate, stream_duration, stream_samples,
                  format, out);
  if (*unload) return Unload(g);
  if (*hold) return Hold(g, hold_cell, hold_pa);
  if (*run)
    return RunProtocolFile(g, protocol_file, spec_file, session_file, wait);
  if (*check)
    return CheckProtocolFile(g, protocol_file, spec_file, session_file);
  if (*queue) {
    qa.verb = queue->get_subcommands().front()->get_name();
    return QueueVerb(g, qa);
  }
  if (*history) return History(g, history_limit);
  if (*lock) return Lock(g, lock_verb);
  if (*token) return TokenVerb(g, token_verb, token_name, token_role);
  if (*config) return ConfigVerb(g, config_sets);
  if (*recordings) {
    ra.verb = recordings->get_subcommands().front()->get_name();
    ra.progress = !no_progress;
    auto client = ConnectOrDie(g, "recordings");
    return dynclamp::cli::RunRecordings(*client, ra);
  }
  if (*fidelity) {
    fa.plot = !no_plot;
    auto client = ConnectOrDie(g, "fidelity");
    return dynclamp::cli::RunFidelity(*client, fa);
  }
  if (*pause) {
    auto client = ConnectOrDie(g, "pause");
    PrintRun(OrDie("pause", client->PauseRun(now)));
    return 0;
  }
  if (*resume) {
    auto client = ConnectOrDie(g, "resume");
    PrintRun(OrDie("resume", client->ResumeRun()));
    return 0;
  }
  if (*health) {
    auto client = ConnectOrDie(g, "health");
    const auto s = OrDie("health", client->CheckHealth());
    std::printf(
        "%s\n",
        grpc::health::v1::HealthCheckResponse::ServingStatus_Name(s).c_str());
    return s == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
  }
  return 2;
}
