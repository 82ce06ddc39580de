#include "server/daemon/daemon_options.h"

#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "rt_engine/loop/wake.h"
#include "server/instrument/session_metadata.h"
#include "server/lowering/rig_file.h"
#include "spec_files/spec_file.h"

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
// The limits (server/lowering/limits.h); their defaults are ServiceLimits'.
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
namespace dynclamp::server {
namespace {

absl::Status FlagError(absl::string_view flag, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", why));
}

// MODEL[-BLOCKED]...[@BIAS_PA], e.g. "ca1-na", "hh@800".
absl::StatusOr<rt::SimCellConfig> ParseSimCell(const std::string& text,
                                               std::size_t index) {
  const std::pair<std::string, std::string> model_bias =
      absl::StrSplit(text, absl::MaxSplits('@', 1));
  std::vector<std::string> parts = absl::StrSplit(model_bias.first, '-');
  rt::SimCellConfig cell;
  if (absl::StrContains(text, '@') &&
      (!absl::SimpleAtod(model_bias.second, &cell.bias_pa) ||
       !std::isfinite(cell.bias_pa) || std::abs(cell.bias_pa) > 1e5)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--sim_cells[", index, "]: '", model_bias.second,
        "' after '@' is not a bias current in pA (e.g. hh@800, within "
        "+-100000)"));
  }
  if (auto model = rt::SimCellConfig::kModelNames.Find(parts[0])) {
    cell.model = *model;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--sim_cells[", index, "]: unknown cell model '", parts[0],
                     "' (passive, hh, ca1)"));
  }
  cell.blocked.assign(parts.begin() + 1, parts.end());
  return cell;
}

// --rig BACKEND[:DEVICE] as a rig file: a simulated rig names no channels
// (they follow --sim_cells); a board gets one cell on its first analog
// input and output, at the amplifier gains DaqChannelConfig assumes.
absl::StatusOr<v1::RigFile> RigFileFromFlag(const DaqBackends& backends) {
  const std::pair<std::string, std::string> name_device =
      absl::StrSplit(absl::GetFlag(FLAGS_rig), absl::MaxSplits(':', 1));
  auto backend = backends.Get(name_device.first, "--rig");
  if (!backend.ok()) {
    return FlagError(
        "rig",
        absl::StrCat("'sim' or 'comedi:/dev/comediN', got '",
                     absl::GetFlag(FLAGS_rig), "' (or give --rig_file)"));
  }
  v1::RigFile file;
  file.set_backend((*backend)->name);
  file.set_device(name_device.second);
  if (!(*backend)->simulated) {
    const rt::DaqChannelConfig defaults;
    v1::ChannelWiring* ch = file.add_channels();
    ch->set_name("cell0");
    ch->set_input_gain_mv_per_v(defaults.input_gain_mv_per_v);
    ch->set_output_gain_pa_per_v(defaults.output_gain_pa_per_v);
    ch->set_current_limit_pa(absl::GetFlag(FLAGS_current_limit_pa));
  }
  return file;
}

// The rig: a rig file, or --rig; with it the channels, the simulated cells,
// the period and the session's default subject.
absl::Status RigFromFlags(InstrumentOptions& options) {
  const DaqBackends& backends = DaqBackends::Builtin();
  RigSetup rig;
  if (const std::string path = absl::GetFlag(FLAGS_rig_file); !path.empty()) {
    auto text = spec_files::ReadTextFile(path);
    if (!text.ok()) return text.status();
    if (auto s = spec_files::ParseYamlMessage(*text, path, options.rig_file);
        !s.ok())
      return s;
    options.rig_file_text = *text;
  } else {
    auto file = RigFileFromFlag(backends);
    if (!file.ok()) return file.status();
    options.rig_file = *std::move(file);
  }
  const bool from_flag = options.rig_file_text.empty();
  if (!from_flag || options.rig_file.channels_size() > 0) {
    auto lowered = LowerRigFile(options.rig_file, backends);
    if (!lowered.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(from_flag ? "--rig" : absl::GetFlag(FLAGS_rig_file),
                       ": ", lowered.status().message()));
    }
    rig = *std::move(lowered);
  } else {
    rig.backend = options.rig_file.backend();
  }
  const DaqBackend& backend = **backends.Get(rig.backend, "backend");
  options.backend = backend.name;
  const double period_us =
      rig.period_us > 0 ? rig.period_us : absl::GetFlag(FLAGS_period_us);
  if (!(period_us >= 5.0) || period_us > 10000.0) {
    return FlagError("period_us",
                     absl::StrCat("must be in [5, 10000], got ", period_us));
  }
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
    if (!cell.ok()) return cell.status();
    options.sim.cells.push_back(*cell);
  }
  if (rig.daq.channels.empty()) {
    for (std::size_t i = 0; i < cells.size(); ++i) {
      rt::DaqChannelConfig ch;
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
  if (backend.simulated) {
    // On the simulated rig a subject that says it is no animal.
    std::vector<std::string> described;
    for (std::size_t i = 0; i < cells.size(); ++i)
      described.push_back(
          absl::StrCat(rig.daq.channels[i].name, ": ", cells[i]));
    *options.session_defaults.mutable_subject() = SimulatedSubject(described);
    options.session_defaults.add_keywords("dynamic clamp");
    options.session_defaults.add_keywords("simulated rig");
  }
  return absl::OkStatus();
}

// The simulated rig's noise, jitter and clock; the loop's wake-up, priority
// and overrun fault; the recorder's flushes; timing QC.
absl::Status LoopFromFlags(InstrumentOptions& options) {
  options.sim.noise_sd_mv = absl::GetFlag(FLAGS_sim_noise_mv);
  options.sim.io_jitter_us = absl::GetFlag(FLAGS_sim_io_jitter_us);
  const std::string clock = absl::GetFlag(FLAGS_sim_clock);
  if (clock == "wall") {
    options.sim.clock = rt::SimRigConfig::Clock::kWallClock;
  } else if (clock == "nominal") {
    options.sim.clock = rt::SimRigConfig::Clock::kNominal;
  } else {
    return FlagError("sim_clock", "'wall' or 'nominal'");
  }
  absl::StatusOr<rt::WakeStrategy> wake =
      rt::ParseWakeStrategy(absl::GetFlag(FLAGS_wake));
  if (!wake.ok()) return FlagError("wake", wake.status().message());
  options.loop.wake.strategy = *wake;
  const double busy_wait_us = absl::GetFlag(FLAGS_busy_wait_us);
  if (!(busy_wait_us >= 0) ||
      busy_wait_us * 1e3 > static_cast<double>(options.period_ns)) {
    return FlagError("busy_wait_us", "must be in [0, --period_us]");
  }
  if (busy_wait_us > 0 && *wake != rt::WakeStrategy::kSpin) {
    return FlagError("busy_wait_us",
                     "a fixed spin needs --wake=spin (the default, adaptive, "
                     "measures its own margin)");
  }
  options.loop.wake.spin_ns = static_cast<int64_t>(busy_wait_us * 1e3);
  options.loop.rt.priority = absl::GetFlag(FLAGS_rt_priority);
  const int overruns = absl::GetFlag(FLAGS_max_consecutive_overruns);
  if (overruns < -1) {
    return FlagError("max_consecutive_overruns",
                     "must be >= 0, or -1 for the default");
  }
  options.max_consecutive_overruns = overruns;  // -1: the rig decides

  const int flush_ms = absl::GetFlag(FLAGS_recorder_flush_ms);
  if (flush_ms < 50 || flush_ms > 5000) {
    return FlagError("recorder_flush_ms",
                     absl::StrCat("must be in [50, 5000], got ", flush_ms));
  }
  const int fsync_ms = absl::GetFlag(FLAGS_recorder_fsync_ms);
  if (fsync_ms < 0) {
    return FlagError("recorder_fsync_ms",
                     absl::StrCat("must be 0 (never) or more, got ", fsync_ms));
  }
  options.recorder_flush = absl::Milliseconds(flush_ms);
  options.recorder_fsync = absl::Milliseconds(fsync_ms);
  options.qc.max_step_s = absl::GetFlag(FLAGS_qc_max_step_us) * 1e-6;
  options.qc.max_p999_step_s = absl::GetFlag(FLAGS_qc_max_p999_step_us) * 1e-6;
  options.qc.max_latency_fraction =
      absl::GetFlag(FLAGS_qc_max_latency_fraction);
  return absl::OkStatus();
}

// Tokens, TLS, and what may listen beyond loopback: plain gRPC or a daemon
// without tokens needs --insecure there, and so do metrics without a token.
absl::Status SecurityFromFlags(DaemonOptions& options) {
  options.token_file = absl::GetFlag(FLAGS_token_file);
  options.listen = absl::GetFlag(FLAGS_listen);
  options.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key = absl::GetFlag(FLAGS_tls_key);
  options.tls_client_ca = absl::GetFlag(FLAGS_tls_client_ca);
  const bool tokens = !options.token_file.empty();
  const bool insecure = absl::GetFlag(FLAGS_insecure);
  const bool tls = !options.tls_cert.empty();
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert and --tls_key: give both or neither");
  }
  if (!tls && !options.tls_client_ca.empty()) {
    return FlagError("tls_client_ca", "needs --tls_cert and --tls_key");
  }
  if (!IsLoopback(options.listen) && (!tls || !tokens)) {
    const std::string missing =
        !tls && !tokens ? "TLS and tokens" : (!tls ? "TLS" : "tokens");
    if (!insecure) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--listen: ", options.listen,
          " is reachable from the network, and this daemon has no ", missing,
          ": give --tls_cert/--tls_key and --token_file (docs/security.md), "
          "or --insecure on a network you trust"));
    }
    options.warnings.push_back(
        absl::StrCat("INSECURE: serving on ", options.listen, " without ",
                     missing, " (--insecure). Anyone on the network can ",
                     tokens ? "read every call and token" : "drive this rig",
                     ". Do not use this on a shared network."));
  }
  // With tokens, metrics follow the gRPC rule: a token (observer or more)
  // is needed, on loopback too.
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  if (absl::GetFlag(FLAGS_metrics_auth) && !tokens) {
    return FlagError("metrics_auth", "needs --token_file");
  }
  options.metrics_auth = absl::GetFlag(FLAGS_metrics_auth) || tokens;
  if (!options.metrics_listen.empty() && !IsLoopback(options.metrics_listen) &&
      !options.metrics_auth) {
    if (!insecure) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--metrics_listen: ", options.metrics_listen,
          " is reachable from the network: add --metrics_auth, bind it to "
          "127.0.0.1, or give --insecure"));
    }
    options.warnings.push_back(
        absl::StrCat("INSECURE: metrics on ", options.metrics_listen,
                     " without authentication (--insecure)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ServiceLimits> LimitsFromFlags() {
  ServiceLimits l;
  for (const auto& f : LimitFields()) {
    l.*f.member = *absl::FindCommandLineFlag(f.name)->TryGet<uint64_t>();
  }
  if (absl::Status s = ValidateLimits(l); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--", s.message()));
  }
  return l;
}

}  // namespace

bool IsLoopback(const std::string& address) {
  return absl::StartsWith(address, "127.") ||
         absl::StartsWith(address, "localhost:") ||
         absl::StartsWith(address, "[::1]:") ||
         absl::StartsWith(address, "unix:");
}

absl::StatusOr<DaemonOptions> DaemonOptionsFromFlags() {
  DaemonOptions options;
  options.issue_token = absl::GetFlag(FLAGS_issue_token);
  options.token_file = absl::GetFlag(FLAGS_token_file);
  if (!options.issue_token.empty()) {
    if (options.token_file.empty()) {
      return FlagError("issue_token", "needs --token_file");
    }
    return options;  // nothing else is read
  }
  options.cpu = absl::GetFlag(FLAGS_cpu);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  InstrumentOptions& instrument = options.instrument;
  instrument.data_dir = options.data_dir;
  if (auto s = RigFromFlags(instrument); !s.ok()) return s;
  if (auto s = LoopFromFlags(instrument); !s.ok()) return s;
  // The lab's session file goes over the rig's defaults.
  if (const std::string path = absl::GetFlag(FLAGS_session_file);
      !path.empty()) {
    auto text = spec_files::ReadTextFile(path);
    if (!text.ok()) return text.status();
    v1::Session file;
    if (auto s = spec_files::ParseYamlMessage(*text, path, file); !s.ok())
      return s;
    if (auto s = CheckSession(file, path); !s.ok()) return s;
    OverlaySession(file, instrument.session_defaults);
  }
  if (auto s = SecurityFromFlags(options); !s.ok()) return s;
  auto limits = LimitsFromFlags();
  if (!limits.ok()) return limits.status();
  options.limits = *limits;
  const std::string on_failure = absl::GetFlag(FLAGS_queue_on_failure);
  if (on_failure != "continue" && on_failure != "stop") {
    return FlagError(
        "queue_on_failure",
        absl::StrCat("'continue' or 'stop', got '", on_failure, "'"));
  }
  options.queue.stop_on_failure = on_failure == "stop";
  options.queue.resume_on_start = absl::GetFlag(FLAGS_queue_resume);
  const int lab_threads = absl::GetFlag(FLAGS_lab_threads);
  options.lab_threads =
      lab_threads > 0
          ? lab_threads
          : std::max(1,
                     static_cast<int>(std::thread::hardware_concurrency()) - 1);
  options.rig_check = absl::GetFlag(FLAGS_rig_check);
  options.rig_check_loopback = absl::GetFlag(FLAGS_rig_check_loopback);
  options.port_file = absl::GetFlag(FLAGS_port_file);
  options.metrics_port_file = absl::GetFlag(FLAGS_metrics_port_file);
  return options;
}

}  // namespace dynclamp::server
