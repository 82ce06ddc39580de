// Instrument: the daemon's model of the rig it drives. It owns the DAQ
// backend, the clamp engine, the signal fan-out and the runs, and keeps the
// loaded spec (as the client sent it) with the live changes made since.
// Every operation returns absl::Status / StatusOr; the gRPC services map
// those to status codes once, at the edge.
//
// Threads: every public method is non-RT and thread-safe. A monitor thread
// notices runs that end by themselves and FAULT transitions, and frees
// retired model sets; a notifier thread tells run watchers of each change.
#ifndef DYNCLAMP_SERVER_INSTRUMENT_INSTRUMENT_H_
#define DYNCLAMP_SERVER_INSTRUMENT_INSTRUMENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dynclamp/v1/models.pb.h"
#include "dynclamp/v1/protocol.pb.h"
#include "dynclamp/v1/rig.pb.h"
#include "dynclamp/v1/runs.pb.h"
#include "fidelity/replay.h"
#include "rt_engine/daq/sim/sim_rig.h"
#include "rt_engine/loop/clamp_engine.h"
#include "rt_engine/loop/rt_loop.h"
#include "server/instrument/recorder/recorder.h"
#include "server/instrument/recordings.h"
#include "server/instrument/signal_fanout.h"
#include "server/lowering/daq_backends.h"
#include "server/lowering/limits.h"

namespace dynclamp::server {

struct InstrumentOptions {
  // The backend's name in `backends` (null: DaqBackends::Builtin()).
  std::string backend = "sim";
  const DaqBackends* backends = nullptr;
  rt::SimRigConfig sim;  // the simulated rig (and the fidelity replay's cells)
  std::string rig_file_text;  // the rig file as written, for recordings
  // The same, parsed (returned by GetRig): what a board's backend reads its
  // device and wiring from.
  v1::RigFile rig_file;
  rt::DaqConfig daq;  // one channel per simulated cell
  int64_t period_ns = 50'000;
  rt::RtLoopConfig loop;  // RT settings, busy-wait
  // Overruns in a row that put the clamp in FAULT (0: never). -1: the
  // rig's default: never on a nominal clock, where an overrun harms no
  // simulated cell, else kDefaultMaxConsecutiveOverruns.
  int max_consecutive_overruns = -1;
  std::size_t ring_frames = 1 << 15;  // 1.6 s at 20 kHz
  std::size_t max_signals = 128;
  SignalFanout::Options fanout;
  std::string data_dir = "./dynclamp-data";  // recordings go here
  rt::TimelineLimits timeline;
  absl::Duration recorder_flush = absl::Milliseconds(200);
  absl::Duration recorder_fsync = absl::Seconds(1);  // 0: never
  TimingQc qc;  // defaults; a protocol's own thresholds replace them
  // Session metadata for recordings; a protocol's and a request's own
  // fields replace these (server/instrument/session_metadata.h).
  v1::Session session_defaults;
  // Spec sizes, recorded signals and subscribers; null: the defaults.
  const LimitsStore* limits = nullptr;
};

// Bytes free for this user on the file system holding `dir`.
absl::StatusOr<uint64_t> FreeBytes(const std::string& dir);

inline constexpr int kDefaultMaxConsecutiveOverruns = 100;

class Instrument {
 public:
  // Counters and histograms at one moment, to report a run's share.
  struct StatsMark {
    rt::HistogramSnapshot period, lateness, compute, latency, timer_late;
    uint64_t cycles = 0, overruns = 0, skipped = 0, clipped = 0, dropped = 0,
             daq_errors = 0, faults = 0, max_consecutive_overruns = 0,
             events_dropped = 0, spin_ns = 0, rt_cpu_ns = 0, wake_margin_ns = 0;
    int64_t mono_ns = 0;  // when the mark was taken
  };
  // Everything a metrics scrape reports, read at one moment.
  struct Health {
    StatsMark stats;
    bool fault = false;
    v1::RunState run_state = v1::IDLE;
    int64_t period_ns = 0;
    std::vector<std::pair<uint64_t, uint64_t>> subscriber_losses;  // id, lost
    rt::RtSettingsObtained rt;
    bool rt_known = false;
    std::string version, backend;
    // The data directory's free space for this user (-1: unknown), and
    // the bytes waiting for stream subscribers.
    int64_t data_dir_free_bytes = -1;
    uint64_t stream_queued_bytes = 0;
  };
  // Kept free below every recording: the file's own metadata, closing it,
  // and the queue's database all need room on the same disk.
  static constexpr uint64_t kDiskReserveBytes = 64ull << 20;
  static absl::StatusOr<std::unique_ptr<Instrument>> Create(
      InstrumentOptions options);
  ~Instrument();  // Shutdown()
  Instrument(const Instrument&) = delete;
  Instrument& operator=(const Instrument&) = delete;

  // ---- rig ----
  v1::Rig GetRig() const ABSL_LOCKS_EXCLUDED(mu_);
  // Holds `cell` at `current_pa` (see RigService.SetHolding).
  absl::StatusOr<v1::Rig> SetHolding(const std::string& cell, double current_pa)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<v1::Rig> ConfigureChannels(
      const v1::ConfigureChannelsRequest& request) ABSL_LOCKS_EXCLUDED(mu_);

  // ---- models ----
  absl::StatusOr<v1::ValidateSpecResponse> ValidateSpec(const v1::Spec& spec)
      ABSL_LOCKS_EXCLUDED(mu_);
  // `source`: the file as the user wrote it (stored in later recordings);
  // empty: the spec is kept as JSON.
  absl::StatusOr<v1::LoadSpecResponse> LoadSpec(const v1::Spec& spec,
                                                const std::string& source = "")
      ABSL_LOCKS_EXCLUDED(mu_);
  v1::LoadedSpec GetLoadedSpec() const ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status SetParameter(const std::string& name, double value)
      ABSL_LOCKS_EXCLUDED(mu_);
  v1::ListSignalsResponse ListSignals() const ABSL_LOCKS_EXCLUDED(mu_);

  // ---- runs ----
  absl::StatusOr<v1::Run> StartRun(double duration_s) ABSL_LOCKS_EXCLUDED(mu_);
  // The recordings in the data directory (thread-safe on its own).
  RecordingCatalog& recordings() { return recordings_; }
  absl::StatusOr<v1::Run> StopRun() ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<v1::Run> ClearFault() ABSL_LOCKS_EXCLUDED(mu_);
  // Loads the request's spec (if any), compiles the protocol, starts a run
  // that plays and records it; the run ends COMPLETED after the last sweep.
  // Nothing starts if anything is wrong (InvalidArgument with the path).
  absl::StatusOr<v1::Run> RunProtocol(const v1::RunProtocolRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Checks `request` as RunProtocol would, changing nothing (also during a
  // run): InvalidArgument with the path, or what the run would do.
  absl::StatusOr<v1::ProtocolCheck> ValidateProtocol(
      const v1::RunProtocolRequest& request) const ABSL_LOCKS_EXCLUDED(mu_);
  // What a queue item will run, fixed when it is added: the spec it
  // carries; else, with `keep_loaded_spec`, the loaded spec and its text,
  // copied now; else no spec (an empty one, so it never runs under a spec
  // loaded later). Checked as RunProtocol checks a run (the protocol
  // compiled against that spec, the session, what to record), so a bad item
  // is refused at once: InvalidArgument with the path.
  absl::StatusOr<v1::RunProtocolRequest> FixQueuedRun(
      v1::RunProtocolRequest run, bool keep_loaded_spec)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<v1::Run> PauseRun(bool immediately) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<v1::Run> ResumeRun() ABSL_LOCKS_EXCLUDED(mu_);
  // Aborts the protocol of the active run (the run ends ABORTED).
  absl::StatusOr<v1::Run> AbortRun() ABSL_LOCKS_EXCLUDED(mu_);
  v1::Run GetRun() const ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until the run's version differs from `seen` (or `timeout`);
  // returns the run and its version. Returns at once after Shutdown().
  std::pair<v1::Run, uint64_t> WaitRunChange(uint64_t seen,
                                             absl::Duration timeout) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Told of the run as it changes (a WatchRun stream). Called on the
  // notifier thread with no lock of the Instrument held, but with the
  // watchers' lock: it must not block, nor add or remove a watcher.
  // `version` grows with each change; the same version may come twice.
  // `shutting_down` marks the last call.
  class RunWatcher {
   public:
    virtual ~RunWatcher() = default;
    virtual void OnRunChanged(const v1::Run& run, uint64_t version,
                              bool shutting_down) = 0;
  };
  // Adds `watcher` and tells it the run now. After RemoveRunWatcher returns
  // no call to it is in progress.
  void AddRunWatcher(RunWatcher* watcher) ABSL_LOCKS_EXCLUDED(watchers_mu_);
  void RemoveRunWatcher(RunWatcher* watcher) ABSL_LOCKS_EXCLUDED(watchers_mu_);

  // Any thread: for the metrics collector.
  Health GetHealth() const ABSL_LOCKS_EXCLUDED(mu_);

  // ---- streaming ----
  // A stream (Subscribe, WatchRun) a client holds open; its slot is given
  // back when this is destroyed. ResourceExhausted past
  // max_streams_per_client for `client` (its token's name, or its host).
  class StreamSlot {
   public:
    StreamSlot(Instrument* inst, std::string client)
        : inst_(inst), client_(std::move(client)) {}
    ~StreamSlot();
    StreamSlot(const StreamSlot&) = delete;
    StreamSlot& operator=(const StreamSlot&) = delete;

   private:
    Instrument* inst_;
    std::string client_;
  };
  absl::StatusOr<std::unique_ptr<StreamSlot>> OpenStream(
      const std::string& client) ABSL_LOCKS_EXCLUDED(streams_mu_);
  // Waits until every StreamSlot is given back, or `timeout`; true if all
  // were (the daemon's shutdown: streams deliver their final status).
  bool WaitStreamsClosed(absl::Duration timeout)
      ABSL_LOCKS_EXCLUDED(streams_mu_);
  absl::StatusOr<std::shared_ptr<Subscription>> Subscribe(
      const std::vector<std::string>& signals, uint32_t decimation,
      uint32_t samples_per_chunk) ABSL_LOCKS_EXCLUDED(mu_);
  void Unsubscribe(const std::shared_ptr<Subscription>& sub)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Stops any run (outputs to 0, run ABORTED), closes every stream with
  // UNAVAILABLE. Idempotent.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);
  bool shutting_down() const { return shutting_down_.load(); }

  // For tests and tools in the same process.
  rt::ClampEngine& engine() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // What ConfigureChannels rebuilds.
  struct Core {
    std::unique_ptr<rt::Daq> rig;
    std::unique_ptr<rt::ClampEngine> engine;
    std::unique_ptr<SignalFanout> fanout;
  };

  // Unavailable while shutting down; FailedPrecondition while a run is
  // active.
  absl::Status CanStartLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A protocol run checked and compiled, ready to start.
  struct PreparedRun {
    rt::ProtocolSpec lowered;
    std::unique_ptr<rt::Timeline> timeline;
    std::vector<std::string> cells;
    v1::Session metadata;
    RecorderConfig recorder;  // what to record; path and session to fill
  };
  absl::StatusOr<PreparedRun> PrepareRunLocked(
      const v1::RunProtocolRequest& request) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fills the recording's file name, flushes, QC and NWB session (run `id`,
  // starting `now`).
  void DescribeRecordingLocked(const v1::RunProtocolRequest& request,
                               PreparedRun& prepared, uint64_t id,
                               absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The most the recording can take on disk (set in `rc`), or
  // ResourceExhausted naming the data directory if it would not fit.
  absl::Status ReserveRecording(RecorderConfig& rc,
                                const rt::Timeline& timeline) const;
  // A protocol run whose loop did not start: its timeline and recorder
  // dropped, its recording listed as failed.
  void AbandonRunLocked(const absl::Status& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  struct RunRecord {
    uint64_t id = 0;
    v1::RunState state = v1::IDLE;
    std::string fault_reason;
    double duration_s = 0;
    int64_t started_unix_ns = 0;
    int64_t started_mono_ns = 0;
    int64_t ended_mono_ns = 0;
    StatsMark at_start;
    v1::TimingSummary final_timing;
    // Protocol runs.
    std::string protocol_name;
    std::string nwb_path;
    uint64_t timeline_id = 0;  // 0: not a protocol run
    uint32_t sweeps_total = 0;
    rt::PlayerStatus player;
    std::unique_ptr<Recorder> recorder;
    std::vector<RecordedSweep> sweeps;
    std::string error;
    bool ending = false;  // EndRunLocked() under way
    v1::Fidelity fidelity;
    v1::Session session;  // as recorded
  };

  explicit Instrument(InstrumentOptions options);
  absl::StatusOr<std::unique_ptr<Core>> BuildCore(const rt::DaqConfig& daq);
  static StatsMark Mark(const Core& core);
  // The running (or just ended) run's timing.
  v1::TimingSummary RunTimingLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static v1::TimingSummary Summarize(const StatsMark& now,
                                     const StatsMark& start);
  v1::Run RunLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool RunActiveLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EndRunLocked(v1::RunState final_state)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status StartLoopLocked(double duration_s)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<v1::LoadSpecResponse> LoadSpecLocked(const v1::Spec& spec,
                                                      const std::string& source)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The loop is stopped: lets the recorder take the last frames, closes the
  // file, keeps the sweeps' summaries.
  void FinishRecordingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Hands the closed file and its run's summary to recordings_.
  void CloseRecordingLocked(v1::RunState final_state)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WatchProtocolLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Called by the monitor thread without the lock: estimates the fidelity
  // of a run that just ended, if one is waiting.
  void EstimatePendingFidelity() ABSL_LOCKS_EXCLUDED(mu_);
  ServiceLimits Limits() const;
  std::vector<std::string> CellNamesLocked() const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MonitorLoop();
  void NotifyLoop();

  const InstrumentOptions options_;
  mutable absl::Mutex mu_;
  std::unique_ptr<Core> core_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<rt::RtLoop> loop_ ABSL_GUARDED_BY(mu_);
  rt::RtSettingsObtained rt_settings_ ABSL_GUARDED_BY(mu_);
  bool rt_settings_known_ ABSL_GUARDED_BY(mu_) = false;
  RunRecord run_ ABSL_GUARDED_BY(mu_);
  uint64_t run_version_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t last_run_id_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Mutex streams_mu_;
  absl::flat_hash_map<std::string, uint64_t> streams_by_client_
      ABSL_GUARDED_BY(streams_mu_);
  v1::LoadedSpec loaded_ ABSL_GUARDED_BY(mu_);
  // Each live-changed parameter's latest value (bounded by the spec's
  // parameters), re-applied when the rig is reconfigured: the listed
  // history in loaded_ keeps only the latest changes.
  absl::btree_map<std::string, double> live_values_ ABSL_GUARDED_BY(mu_);
  // A run that ended with a spec loaded: its id and replay inputs.
  std::optional<std::pair<uint64_t, fidelity::FidelityInput>> fidelity_pending_
      ABSL_GUARDED_BY(mu_);
  RecordingCatalog recordings_;
  std::atomic<bool> shutting_down_{false};
  std::thread monitor_;
  absl::Mutex watchers_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::vector<RunWatcher*> watchers_ ABSL_GUARDED_BY(watchers_mu_);
  std::thread notifier_;
};

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_INSTRUMENT_INSTRUMENT_H_
