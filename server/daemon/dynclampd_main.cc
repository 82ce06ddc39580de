// dynclampd: the dynamic-clamp daemon. Owns the rig and the clamp loop and
// serves the dynclamp.v1 gRPC API (plus grpc.health.v1.Health and server
// reflection). SIGTERM/SIGINT: outputs to 0, streams finished with a status,
// then exit.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/cpp/spec_file.h"
#include "rt_engine/rt_thread.h"
#include "rt_engine/termination.h"
#include "rt_engine/wake.h"
#include "server/admin_service.h"
#include "server/auth/access.h"
#include "server/auth/token_store.h"
#include "server/fidelity_service.h"
#include "server/grpc_services.h"
#include "server/instrument.h"
#include "server/limits.h"
#include "server/metrics.h"
#include "server/queue/queue_runner.h"
#include "server/queue/queue_store.h"
#include "server/rig_check.h"
#include "server/rig_file.h"
#include "server/session_metadata.h"
#include "server/version.h"

ABSL_FLAG(std::string, rig, "sim",
          "DAQ backend: 'sim' (the simulated rig) or 'comedi:/dev/comediN' "
          "(one cell on the board's first analog input and output; for more, "
          "a --rig_file)");
ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "gRPC listen address; beyond loopback it needs --tls_cert, "
          "--tls_key and --token_file, or --insecure");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain of the server: serve over TLS");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA certificates: require every client to present a "
          "certificate they signed (mutual TLS)");
ABSL_FLAG(std::string, token_file, "",
          "access tokens (names, roles, SHA-256 hashes; mode 0600): every "
          "call must carry one (docs/security.md)");
ABSL_FLAG(std::string, issue_token, "",
          "NAME:ROLE (observer, operator, admin): add a token to "
          "--token_file (created if missing), print it once, and exit");
ABSL_FLAG(bool, insecure, false,
          "allow serving gRPC or metrics beyond loopback without TLS or "
          "tokens (logged loudly; only on a network you trust)");
ABSL_FLAG(bool, metrics_auth, false,
          "protect /metrics with HTTP basic auth: any user name, a token "
          "of --token_file as the password");
ABSL_FLAG(std::string, data_dir, "./dynclamp-data", "where data files go");
ABSL_FLAG(double, period_us, 50.0, "clamp period in microseconds (>= 5)");
ABSL_FLAG(std::vector<std::string>, sim_cells,
          (std::vector<std::string>{"ca1", "passive"}),
          "simulated cells, one per channel: passive, hh or ca1, optionally "
          "with channels blocked and a bias current, e.g. ca1-na, ca1-kdr-ka, "
          "hh@800 (800 pA)");
ABSL_FLAG(double, sim_noise_mv, 0.0, "simulated recording noise (SD, mV)");
ABSL_FLAG(double, sim_io_jitter_us, 0.0,
          "a slow board: each input read takes U(0, this) us of real time "
          "(drills for the timing QC and alerts)");
ABSL_FLAG(std::string, sim_clock, "nominal",
          "simulated time: 'nominal' (the cells advance exactly one period "
          "per cycle run) or 'wall' (they follow the host's real timing, so "
          "its late wake-ups reach the cells, as on a real rig)");
ABSL_FLAG(double, current_limit_pa, 2000.0, "output current limit per channel");
ABSL_FLAG(std::string, wake, "adaptive",
          "how the loop waits for each deadline: 'adaptive' (sleep to a "
          "margin it measures, spin the rest; spins only on a CPU of its "
          "own), 'sleep' or 'spin'");
ABSL_FLAG(double, busy_wait_us, 0.0,
          "with --wake=spin: spin this long before each deadline (0: the "
          "whole period)");
ABSL_FLAG(std::string, cpu, "auto",
          "the RT thread's CPU, kept free of the daemon's other threads: "
          "'auto' (the last CPU, when there are two or more), 'none', or a "
          "CPU number");
ABSL_FLAG(int, rt_priority, 80, "SCHED_FIFO priority of the RT thread");
ABSL_FLAG(int, max_consecutive_overruns, -1,
          "overruns in a row that put the clamp in FAULT (0: never; -1: the "
          "backend's default: never on the simulated rig, whose nominal clock "
          "makes overruns harmless to its cells; 100 on real boards)");
// How long a client may stay silent before its connection is closed.
constexpr int kClientSilenceMs = 60'000;
// gRPC handler threads at most (each 2 MB of locked stack during a run).
constexpr int kMaxServerThreads = 256;

// The limits (server/limits.h); their defaults are ServiceLimits'.
constexpr dynclamp::server::ServiceLimits kDefaultLimits;
ABSL_FLAG(uint64_t, max_message_bytes, kDefaultLimits.max_message_bytes,
          "largest request accepted");
ABSL_FLAG(uint64_t, max_spec_bytes, kDefaultLimits.max_spec_bytes,
          "largest spec accepted (bytes)");
ABSL_FLAG(uint64_t, max_cells, kDefaultLimits.max_cells,
          "most model and artificial cells in a spec");
ABSL_FLAG(uint64_t, max_synapses, kDefaultLimits.max_synapses,
          "most synapses, connections, graded synapses and gap junctions in "
          "a spec");
ABSL_FLAG(uint64_t, max_events_in_flight, kDefaultLimits.max_events_in_flight,
          "largest event queue a spec may ask for");
ABSL_FLAG(uint64_t, max_recorded_signals, kDefaultLimits.max_recorded_signals,
          "most model signals a protocol may record");
ABSL_FLAG(uint64_t, max_subscribers, kDefaultLimits.max_subscribers,
          "most concurrent data streams");
ABSL_FLAG(uint64_t, max_queue_items, kDefaultLimits.max_queue_items,
          "most items waiting in the queue");
ABSL_FLAG(uint64_t, max_streams_per_client,
          kDefaultLimits.max_streams_per_client,
          "most streams (Subscribe, WatchRun) one client holds open: a client "
          "is its token's name, or without tokens its host");
ABSL_FLAG(uint64_t, max_stream_signals, kDefaultLimits.max_stream_signals,
          "most distinct signals in one stream");
ABSL_FLAG(uint64_t, max_stream_queue_bytes,
          kDefaultLimits.max_stream_queue_bytes,
          "bytes of chunks kept for one slow subscriber; beyond, it loses "
          "samples (counted)");
ABSL_FLAG(uint64_t, max_stream_bytes_total,
          kDefaultLimits.max_stream_bytes_total,
          "bytes of chunks kept for all subscribers together");
ABSL_FLAG(uint64_t, max_lab_seconds, kDefaultLimits.max_lab_seconds,
          "cell time one fidelity lab may simulate, in seconds (the paper's "
          "whole lab: about 250)");
ABSL_FLAG(uint64_t, max_live_changes, kDefaultLimits.max_live_changes,
          "live parameter changes GetLoadedSpec lists (the latest; the rest "
          "are counted)");
ABSL_FLAG(int, lab_threads, 0,
          "worker threads for the fidelity lab (dynclamp fidelity); 0: one "
          "fewer than the machine's cores, so the RT core keeps its own");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:9464",
          "Prometheus metrics at http://HOST:PORT/metrics; empty: none");
ABSL_FLAG(std::string, metrics_port_file, "",
          "write the metrics port here once listening (for tests)");
ABSL_FLAG(int, recorder_flush_ms, 200,
          "hand recorded samples to the operating system at least this "
          "often: about what kill -9 of the daemon can lose (50..5000)");
ABSL_FLAG(int, recorder_fsync_ms, 1000,
          "force recordings to the disk this often (fsync): about what a "
          "power cut can lose besides the disk's cache; 0: leave it to the "
          "system (about 30 s)");
ABSL_FLAG(double, qc_max_step_us, 0,
          "timing QC: mark sweeps whose worst step exceeds this (0: off)");
ABSL_FLAG(double, qc_max_p999_step_us, 0,
          "timing QC: mark sweeps whose 99.9th percentile step exceeds this");
ABSL_FLAG(double, qc_max_latency_fraction, 0,
          "timing QC: mark sweeps whose worst latency exceeds this fraction "
          "of the period (Bettencourt 2008: 0.25)");
ABSL_FLAG(std::string, rig_file, "",
          "a rig file (YAML/JSON): backend, device, period, and each cell's "
          "wiring, gains and current limit (docs/rig-setup.md)");
ABSL_FLAG(bool, rig_check, false,
          "self-test the rig and exit: time the input and output instruction "
          "lists, and with --rig_check_loopback test a loopback wire");
ABSL_FLAG(int, rig_check_loopback, -1,
          "rig check: the channel whose output is wired to its input");
ABSL_FLAG(std::string, queue_on_failure, "continue",
          "when a queue item fails: 'continue' with the next, or 'stop'");
ABSL_FLAG(bool, queue_resume, false,
          "start the queue when the daemon starts (otherwise it waits for "
          "'dynclamp queue start')");
ABSL_FLAG(std::string, session_file, "",
          "session metadata every recording carries unless a protocol or "
          "run says otherwise (YAML/JSON, dynclamp.v1.Session: subject, "
          "experimenter, institution, lab, keywords, slice, cells; see "
          "examples/session.yaml)");
ABSL_FLAG(std::string, port_file, "",
          "write the port actually bound here (useful with port 0)");

namespace {

using dynclamp::server::Instrument;
using dynclamp::server::InstrumentOptions;

void Log(const std::string& line) {
  std::fprintf(stderr, "%s dynclampd: %s\n",
               absl::FormatTime("%Y-%m-%dT%H:%M:%E3S", absl::Now(),
                                absl::LocalTimeZone())
                   .c_str(),
               line.c_str());
}

// MODEL[-BLOCKED]...[@BIAS_PA], e.g. "ca1-na", "hh@800".
absl::StatusOr<dynclamp::rt::SimCellConfig> ParseSimCell(
    const std::string& text, std::size_t index) {
  const std::pair<std::string, std::string> model_bias =
      absl::StrSplit(text, absl::MaxSplits('@', 1));
  std::vector<std::string> parts = absl::StrSplit(model_bias.first, '-');
  dynclamp::rt::SimCellConfig cell;
  if (absl::StrContains(text, '@') &&
      (!absl::SimpleAtod(model_bias.second, &cell.bias_pa) ||
       !std::isfinite(cell.bias_pa) || std::abs(cell.bias_pa) > 1e5)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--sim_cells[", index, "]: '", model_bias.second,
        "' after '@' is not a bias current in pA (e.g. hh@800, within "
        "+-100000)"));
  }
  if (parts[0] == "passive") {
    cell.model = dynclamp::rt::SimCellConfig::Model::kPassive;
  } else if (parts[0] == "hh") {
    cell.model = dynclamp::rt::SimCellConfig::Model::kHh;
  } else if (parts[0] == "ca1") {
    cell.model = dynclamp::rt::SimCellConfig::Model::kCa1;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--sim_cells[", index, "]: unknown cell model '", parts[0],
                     "' (passive, hh, ca1)"));
  }
  cell.blocked.assign(parts.begin() + 1, parts.end());
  return cell;
}

bool IsLoopback(const std::string& address) {
  return absl::StartsWith(address, "127.") ||
         absl::StartsWith(address, "localhost:") ||
         absl::StartsWith(address, "[::1]:") ||
         absl::StartsWith(address, "unix:");
}

int Fail(const absl::Status& status) {
  Log(absl::StrCat("cannot start: ", status.ToString()));
  return 2;
}

// --issue_token NAME:ROLE: adds a token to the file and prints it.
int IssueToken(const std::string& spec, const std::string& path) {
  if (path.empty()) {
    return Fail(absl::InvalidArgumentError("--issue_token needs --token_file"));
  }
  std::pair<std::string, std::string> parts =
      absl::StrSplit(spec, absl::MaxSplits(':', 1));
  auto role = dynclamp::server::ParseRole(parts.second);
  if (!role.ok()) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--issue_token: NAME:ROLE; ", role.status().message())));
  }
  auto store = dynclamp::server::TokenStore::Open(path, /*create=*/true);
  if (!store.ok()) return Fail(store.status());
  auto token =
      (*store)->Issue(parts.first, *role, absl::ToUnixSeconds(absl::Now()));
  if (!token.ok()) {
    return Fail(absl::Status(
        token.status().code(),
        absl::StrCat("--issue_token: ", token.status().message())));
  }
  std::printf("%s\n", token->c_str());
  Log(absl::StrCat("issued a ", parts.second, " token '", parts.first, "' in ",
                   path, "; it is printed once and stored hashed"));
  return 0;
}

// The transport: TLS from the flags, or plain. Beyond loopback, plain gRPC
// or a daemon without tokens needs --insecure.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(
    const std::string& listen, bool tokens) {
  const std::string cert = absl::GetFlag(FLAGS_tls_cert);
  const std::string key = absl::GetFlag(FLAGS_tls_key);
  const std::string client_ca = absl::GetFlag(FLAGS_tls_client_ca);
  if (cert.empty() != key.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert and --tls_key: give both or neither");
  }
  if (cert.empty() && !client_ca.empty()) {
    return absl::InvalidArgumentError(
        "--tls_client_ca: needs --tls_cert and --tls_key");
  }
  if (!IsLoopback(listen) && (cert.empty() || !tokens)) {
    const std::string missing = cert.empty() && !tokens
                                    ? "TLS and tokens"
                                    : (cert.empty() ? "TLS" : "tokens");
    if (!absl::GetFlag(FLAGS_insecure)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--listen: ", listen,
          " is reachable from the network, and this "
          "daemon has no ",
          missing,
          ": give --tls_cert/--tls_key and "
          "--token_file (docs/security.md), or --insecure on a network you "
          "trust"));
    }
    Log(absl::StrCat("INSECURE: serving on ", listen, " without ", missing,
                     " (--insecure). Anyone on the network can ",
                     tokens ? "read every call and token" : "drive this rig",
                     ". Do not use this on a shared network."));
  }
  if (cert.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  for (auto [flag, path, out] :
       {std::tuple{"--tls_cert", cert, &pair.cert_chain},
        std::tuple{"--tls_key", key, &pair.private_key},
        std::tuple{"--tls_client_ca", client_ca, &ssl.pem_root_certs}}) {
    if (path.empty()) continue;
    auto text = dynclamp::client::ReadTextFile(path);
    if (!text.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": ", text.status().message()));
    }
    *out = *text;
  }
  ssl.pem_key_cert_pairs.push_back(pair);
  ssl.client_certificate_request =
      client_ca.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  return grpc::SslServerCredentials(ssl);
}

absl::StatusOr<dynclamp::server::ServiceLimits> LimitsFromFlags() {
  dynclamp::server::ServiceLimits l;
  for (const auto& f : dynclamp::server::LimitFields()) {
    l.*f.member = *absl::FindCommandLineFlag(f.name)->TryGet<uint64_t>();
  }
  if (absl::Status s = dynclamp::server::ValidateLimits(l); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--", s.message()));
  }
  return l;
}

// Every thread's stack is resident and locked once a run locks the
// daemon's memory (mlockall): glibc's default of 8 MB per thread made each
// gRPC thread cost 8 MB of RAM. 2 MB is ample for any of ours.
void SmallerThreadStacks() {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, std::size_t{2} << 20);
  pthread_setattr_default_np(&attr);
  pthread_attr_destroy(&attr);
}

}  // namespace

int main(int argc, char** argv) {
  SmallerThreadStacks();  // before any thread starts
  // A file size limit (ulimit -f) fails the write that crosses it, which
  // the recorder reports and the run ends on; by default it would kill the
  // daemon mid-experiment instead.
  std::signal(SIGXFSZ, SIG_IGN);
  absl::SetProgramUsageMessage(
      "dynclampd [--listen=127.0.0.1:50051] [--rig=sim] [--period_us=50] "
      "[--data_dir=./dynclamp-data]");
  absl::ParseCommandLine(argc, argv);
  if (!absl::GetFlag(FLAGS_issue_token).empty()) {
    return IssueToken(absl::GetFlag(FLAGS_issue_token),
                      absl::GetFlag(FLAGS_token_file));
  }

  // Before any thread exists, so every thread inherits the CPU mask and the
  // signal mask.
  // The loop's CPU: gRPC, streaming, recording and the lab inherit the
  // main thread's mask, so they compete for the other CPUs, never the
  // loop's.
  const absl::StatusOr<dynclamp::rt::CpuReservation> rt_cpu =
      dynclamp::rt::ReserveRtCpu(absl::GetFlag(FLAGS_cpu));
  if (!rt_cpu.ok()) return Fail(rt_cpu.status());
  if (!rt_cpu->note.empty()) Log(absl::StrCat("--cpu: ", rt_cpu->note));
  absl::Notification terminate;
  auto watcher = dynclamp::rt::TerminationWatcher::Install(
      [&terminate](int) { terminate.Notify(); });
  if (!watcher.ok()) return Fail(watcher.status());

  // The rig: a rig file, or --rig sim / comedi:DEVICE.
  dynclamp::server::RigSetup rig;
  InstrumentOptions options;
  const std::string rig_flag = absl::GetFlag(FLAGS_rig);
  if (!absl::GetFlag(FLAGS_rig_file).empty()) {
    const std::string path = absl::GetFlag(FLAGS_rig_file);
    auto text = dynclamp::client::ReadTextFile(path);
    if (!text.ok()) return Fail(text.status());
    if (auto s =
            dynclamp::client::ParseYamlMessage(*text, path, options.rig_file);
        !s.ok())
      return Fail(s);
    auto lowered = dynclamp::server::LowerRigFile(options.rig_file);
    if (!lowered.ok()) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat(path, ": ", lowered.status().message())));
    }
    rig = *std::move(lowered);
    options.rig_file_text = *text;
  } else if (absl::StartsWith(rig_flag, "comedi:")) {
    // One cell on the board's first analog input and output.
    rig.comedi = true;
    rig.comedi_config.device = rig_flag.substr(7);
    rig.comedi_config.channels.resize(1);
    dynclamp::rt::DaqChannelConfig ch;
    ch.name = "cell0";
    ch.current_limit_pa = absl::GetFlag(FLAGS_current_limit_pa);
    rig.daq.channels.push_back(ch);
  } else if (rig_flag != "sim") {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--rig: 'sim' or 'comedi:/dev/comediN', got '", rig_flag,
                     "' (or give --rig_file)")));
  }
  const double period_us =
      rig.period_us > 0 ? rig.period_us : absl::GetFlag(FLAGS_period_us);
  if (!(period_us >= 5.0) || period_us > 10000.0) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--period_us: must be in [5, 10000], got ", period_us)));
  }
  options.version = dynclamp::kVersion;
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.period_ns = static_cast<int64_t>(period_us * 1e3);
  // Simulated cells: the rig file's, else --sim_cells. With a real board
  // they are only the fidelity replay's cells (one per channel).
  std::vector<std::string> cells = rig.sim_cells;
  if (cells.empty()) cells = absl::GetFlag(FLAGS_sim_cells);
  const std::size_t n_channels =
      rig.daq.channels.empty() ? cells.size() : rig.daq.channels.size();
  if (cells.size() != n_channels) cells.assign(n_channels, "ca1");
  for (std::size_t i = 0; i < cells.size(); ++i) {
    auto cell = ParseSimCell(cells[i], i);
    if (!cell.ok()) return Fail(cell.status());
    options.sim.cells.push_back(*cell);
  }
  if (rig.daq.channels.empty()) {
    for (std::size_t i = 0; i < cells.size(); ++i) {
      dynclamp::rt::DaqChannelConfig ch;
      ch.name = absl::StrCat("cell", i);
      // The simulated amplifier's command gain, 20 nA/V: its +-10 V DAC
      // reaches +-200 nA, enough for the currents of the examples' virtual
      // conductances (a full-density Na+ knock-in peaks near 80 nA).
      ch.output_gain_pa_per_v = 20'000;
      ch.current_limit_pa = absl::GetFlag(FLAGS_current_limit_pa);
      rig.daq.channels.push_back(ch);
    }
  }
  options.daq = rig.daq;
  if (rig.comedi) {
    options.backend = InstrumentOptions::Backend::kComedi;
    options.comedi = rig.comedi_config;
  }
  options.sim.noise_sd_mv = absl::GetFlag(FLAGS_sim_noise_mv);
  options.sim.io_jitter_us = absl::GetFlag(FLAGS_sim_io_jitter_us);
  const int flush_ms = absl::GetFlag(FLAGS_recorder_flush_ms);
  if (flush_ms < 50 || flush_ms > 5000) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "--recorder_flush_ms: must be in [50, 5000], got ", flush_ms)));
  }
  const int fsync_ms = absl::GetFlag(FLAGS_recorder_fsync_ms);
  if (fsync_ms < 0) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "--recorder_fsync_ms: must be 0 (never) or more, got ", fsync_ms)));
  }
  options.recorder_flush = absl::Milliseconds(flush_ms);
  options.recorder_fsync = absl::Milliseconds(fsync_ms);
  options.qc.max_step_s = absl::GetFlag(FLAGS_qc_max_step_us) * 1e-6;
  options.qc.max_p999_step_s = absl::GetFlag(FLAGS_qc_max_p999_step_us) * 1e-6;
  options.qc.max_latency_fraction =
      absl::GetFlag(FLAGS_qc_max_latency_fraction);
  const std::string clock = absl::GetFlag(FLAGS_sim_clock);
  if (clock == "wall") {
    options.sim.clock = dynclamp::rt::SimRigConfig::Clock::kWallClock;
  } else if (clock == "nominal") {
    options.sim.clock = dynclamp::rt::SimRigConfig::Clock::kNominal;
  } else {
    return Fail(absl::InvalidArgumentError("--sim_clock: 'wall' or 'nominal'"));
  }
  absl::StatusOr<dynclamp::rt::WakeStrategy> wake =
      dynclamp::rt::ParseWakeStrategy(absl::GetFlag(FLAGS_wake));
  if (!wake.ok()) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--wake: ", wake.status().message())));
  }
  options.loop.wake.strategy = *wake;
  const double busy_wait_us = absl::GetFlag(FLAGS_busy_wait_us);
  if (!(busy_wait_us >= 0) ||
      busy_wait_us * 1e3 > static_cast<double>(options.period_ns)) {
    return Fail(absl::InvalidArgumentError(
        "--busy_wait_us: must be in [0, --period_us]"));
  }
  if (busy_wait_us > 0 && *wake != dynclamp::rt::WakeStrategy::kSpin) {
    return Fail(absl::InvalidArgumentError(
        "--busy_wait_us: a fixed spin needs --wake=spin (the default, "
        "adaptive, measures its own margin)"));
  }
  options.loop.wake.spin_ns = static_cast<int64_t>(busy_wait_us * 1e3);
  options.loop.rt.cpu = rt_cpu->cpu;
  options.loop.rt.priority = absl::GetFlag(FLAGS_rt_priority);
  const int overruns = absl::GetFlag(FLAGS_max_consecutive_overruns);
  if (overruns < -1) {
    return Fail(absl::InvalidArgumentError(
        "--max_consecutive_overruns: must be >= 0, or -1 for the default"));
  }
  const bool nominal_sim =
      options.sim.clock == dynclamp::rt::SimRigConfig::Clock::kNominal;
  options.max_consecutive_overruns =
      overruns >= 0 ? overruns : (nominal_sim ? 0 : 100);

  // Session defaults: on the simulated rig a subject that says it is no
  // animal; then the lab's file.
  if (!rig.comedi) {
    std::vector<std::string> described;
    for (std::size_t i = 0; i < cells.size(); ++i)
      described.push_back(
          absl::StrCat(rig.daq.channels[i].name, ": ", cells[i]));
    *options.session_defaults.mutable_subject() =
        dynclamp::server::SimulatedSubject(described);
    options.session_defaults.add_keywords("dynamic clamp");
    options.session_defaults.add_keywords("simulated rig");
  }
  if (const std::string path = absl::GetFlag(FLAGS_session_file);
      !path.empty()) {
    auto text = dynclamp::client::ReadTextFile(path);
    if (!text.ok()) return Fail(text.status());
    dynclamp::v1::Session file;
    if (auto s = dynclamp::client::ParseYamlMessage(*text, path, file); !s.ok())
      return Fail(s);
    if (auto s = dynclamp::server::CheckSession(file, path); !s.ok())
      return Fail(s);
    dynclamp::server::OverlaySession(file, options.session_defaults);
  }

  std::error_code ec;
  std::filesystem::create_directories(absl::GetFlag(FLAGS_data_dir), ec);
  if (ec) {
    return Fail(absl::FailedPreconditionError(
        absl::StrCat("--data_dir: cannot create '",
                     absl::GetFlag(FLAGS_data_dir), "': ", ec.message())));
  }

  // Security and limits, checked before the rig is touched.
  std::unique_ptr<dynclamp::server::TokenStore> tokens;
  if (!absl::GetFlag(FLAGS_token_file).empty()) {
    auto opened = dynclamp::server::TokenStore::Open(
        absl::GetFlag(FLAGS_token_file), /*create=*/false);
    if (!opened.ok()) return Fail(opened.status());
    tokens = *std::move(opened);
    if (tokens->List().empty()) {
      Log(absl::StrCat("WARNING: ", tokens->path(),
                       " has no tokens: every "
                       "call will be refused (dynclampd --issue_token)"));
    }
  }
  const std::string listen = absl::GetFlag(FLAGS_listen);
  auto credentials = ServerCredentials(listen, tokens != nullptr);
  if (!credentials.ok()) return Fail(credentials.status());
  const std::string metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  // With tokens, metrics follow the gRPC rule: a token (observer or more)
  // is needed, on loopback too.
  const bool metrics_auth =
      absl::GetFlag(FLAGS_metrics_auth) || tokens != nullptr;
  if (absl::GetFlag(FLAGS_metrics_auth) && tokens == nullptr) {
    return Fail(
        absl::InvalidArgumentError("--metrics_auth needs --token_file"));
  }
  if (!metrics_listen.empty() && !IsLoopback(metrics_listen) && !metrics_auth) {
    if (!absl::GetFlag(FLAGS_insecure)) {
      return Fail(absl::FailedPreconditionError(absl::StrCat(
          "--metrics_listen: ", metrics_listen,
          " is reachable from the "
          "network: add --metrics_auth, bind it to 127.0.0.1, or give "
          "--insecure")));
    }
    Log(absl::StrCat("INSECURE: metrics on ", metrics_listen,
                     " without authentication (--insecure)"));
  }
  auto limits = LimitsFromFlags();
  if (!limits.ok()) return Fail(limits.status());
  dynclamp::server::LimitsStore limits_store(*limits);
  options.limits = &limits_store;

  auto instrument = Instrument::Create(options);
  if (!instrument.ok()) return Fail(instrument.status());
  if (absl::GetFlag(FLAGS_rig_check)) {
    auto report =
        dynclamp::server::CheckRig((*instrument)->engine().daq(), 20'000,
                                   absl::GetFlag(FLAGS_rig_check_loopback));
    if (!report.ok()) return Fail(report.status());
    std::printf("rig check of %s\n%s\n",
                (*instrument)->GetRig().description().c_str(),
                report->ToString().c_str());
    return 0;
  }

  auto queue_store = dynclamp::server::QueueStore::Open(
      (std::filesystem::path(absl::GetFlag(FLAGS_data_dir)) / "queue.sqlite")
          .string(),
      absl::ToUnixNanos(absl::Now()));
  if (!queue_store.ok()) return Fail(queue_store.status());
  if (const auto& lost = (*queue_store)->interrupted(); lost.has_value()) {
    Log(absl::StrCat("queue item ", lost->item_id(), " (", lost->name(),
                     ") was running when the daemon stopped: recorded as "
                     "interrupted; its file: ",
                     lost->nwb_path().empty() ? "none" : lost->nwb_path()));
  }
  dynclamp::server::QueueOptions queue_options;
  queue_options.stop_on_failure =
      absl::GetFlag(FLAGS_queue_on_failure) == "stop";
  queue_options.resume_on_start = absl::GetFlag(FLAGS_queue_resume);
  dynclamp::server::QueueRunner queue_runner(**instrument, **queue_store,
                                             queue_options);
  std::unique_ptr<dynclamp::server::MetricsServer> metrics;
  if (!absl::GetFlag(FLAGS_metrics_listen).empty()) {
    dynclamp::server::MetricsServer::Authenticator auth;
    if (metrics_auth) {
      auth = [store = tokens.get()](const std::string&,
                                    const std::string& password) {
        return store->Authenticate(password).ok();
      };
    }
    auto started = dynclamp::server::MetricsServer::Start(
        metrics_listen, **instrument, &queue_runner, std::move(auth));
    if (!started.ok()) return Fail(started.status());
    metrics = *std::move(started);
  }
  dynclamp::server::AccessGate gate(tokens.get(), queue_store->get());
  dynclamp::server::RigServiceImpl rig_service(**instrument, gate);
  dynclamp::server::ModelServiceImpl model_service(**instrument, gate);
  dynclamp::server::RunServiceImpl run_service(**instrument, gate);
  dynclamp::server::StreamServiceImpl stream_service(**instrument, gate);
  dynclamp::server::RecordingServiceImpl recording_service(**instrument, gate);
  dynclamp::server::QueueServiceImpl queue_service(
      **instrument, **queue_store, queue_runner, gate, limits_store);
  const int lab_threads =
      absl::GetFlag(FLAGS_lab_threads) > 0
          ? absl::GetFlag(FLAGS_lab_threads)
          : std::max(1,
                     static_cast<int>(std::thread::hardware_concurrency()) - 1);
  dynclamp::server::FidelityServiceImpl fidelity_service(
      lab_threads, gate, **instrument, limits_store);
  dynclamp::v1::DaemonConfig config;
  config.set_listen(listen);
  config.set_tls(!absl::GetFlag(FLAGS_tls_cert).empty());
  config.set_client_certificates_required(
      !absl::GetFlag(FLAGS_tls_client_ca).empty());
  config.set_authentication(tokens != nullptr);
  config.set_metrics_listen(metrics_listen);
  config.set_metrics_protected(metrics_auth);
  dynclamp::server::AdminServiceImpl admin_service(tokens.get(), limits_store,
                                                   gate, config);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, *credentials, &port);
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(absl::GetFlag(FLAGS_max_message_bytes)));
  // A client that stops reading for a while (a frozen viewer, a debugger)
  // keeps its stream and is told what it lost, for up to a minute: gRPC's
  // default of 20 s also became the socket's TCP_USER_TIMEOUT, which
  // reset the connection of a stream paused for 20 s. Beyond a minute of
  // silence (no keepalive answer, or no room in its window) the connection
  // is closed and everything it held is freed.
  // gRPC's synchronous server starts a thread per concurrent call with no
  // bound of its own: cap them (far above what the stream limits allow;
  // a call beyond gets RESOURCE_EXHAUSTED from gRPC).
  grpc::ResourceQuota quota("dynclampd");
  quota.SetMaxThreads(kMaxServerThreads);
  builder.SetResourceQuota(quota);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, kClientSilenceMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kClientSilenceMs);
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(gate.InterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.RegisterService(&rig_service);
  builder.RegisterService(&model_service);
  builder.RegisterService(&run_service);
  builder.RegisterService(&stream_service);
  builder.RegisterService(&recording_service);
  builder.RegisterService(&queue_service);
  builder.RegisterService(&fidelity_service);
  builder.RegisterService(&admin_service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return Fail(absl::UnavailableError(
        absl::StrCat("--listen: cannot listen on ", listen)));
  }
  if (!absl::GetFlag(FLAGS_port_file).empty()) {
    std::ofstream(absl::GetFlag(FLAGS_port_file)) << port << "\n";
  }
  if (metrics != nullptr && !absl::GetFlag(FLAGS_metrics_port_file).empty()) {
    std::ofstream(absl::GetFlag(FLAGS_metrics_port_file))
        << metrics->port() << "\n";
  }
  Log(absl::StrCat("version ", dynclamp::kVersion, "; serving on port ", port,
                   " (", listen, config.tls() ? ", TLS" : ", plain",
                   tokens != nullptr ? ", tokens" : ", no tokens",
                   "); rig: ", (*instrument)->GetRig().description()));

  terminate.WaitForNotification();
  Log(absl::StrCat("signal ", (*watcher)->received(),
                   ": stopping the clamp (outputs to 0) and closing streams"));
  server->GetHealthCheckService()->SetServingStatus(false);
  fidelity_service.Shutdown();  // a lab stops within about 100 ms
  queue_runner.Shutdown();      // a running item is recorded as interrupted
  (*instrument)->Shutdown();
  // Our streams have already been told to finish; the deadline only lets
  // their final statuses reach the clients (gRPC waits it out whenever a
  // client keeps an idle connection open, so keep it short).
  server->Shutdown(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(300));
  server->Wait();
  Log("stopped");
  return 0;
}
