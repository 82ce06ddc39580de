// ClampEngine: one clamp cycle, and the non-RT control side around it.
//
// RunCycle() is the whole of what the RT loop does each period, in five
// named stages: TakeChanges (a newly loaded model set from the mailbox, live
// parameter changes, a protocol, a cleared FAULT), Read (all inputs), Step
// (the models, holding currents and the protocol), Write (all outputs,
// clipped), Publish (one frame and the timing figures). It never allocates,
// locks, logs or blocks. RtLoop calls it on its RT thread at each deadline;
// tests and offline tools call it directly on their own thread (with the
// simulated rig's nominal clock this is deterministic and faster than real
// time).
//
// Safety: outputs are 0 until a model set runs, in FAULT and after
// ZeroOutputs(). A DAQ read/write error, or max_consecutive_overruns overruns
// in a row, enters FAULT in the same cycle: outputs are driven to 0, inputs
// are still read and frames still published, models are not stepped. Only
// the non-RT side clears FAULT (RequestClearFault()).
//
// Threads: the constructor and every method marked non-RT run on control
// threads (they are serialized by an internal mutex). RunCycle(),
// NoteDeadline() and ZeroOutputs() run only on the thread that owns the loop.
// Observers (state(), stats(), counters) are readable from any thread;
// frames() is read by one consumer thread.
#ifndef DYNCLAMP_RT_ENGINE_LOOP_CLAMP_ENGINE_H_
#define DYNCLAMP_RT_ENGINE_LOOP_CLAMP_ENGINE_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "rt_engine/base/enum_names.h"
#include "rt_engine/base/timing_stats.h"
#include "rt_engine/daq/daq.h"
#include "rt_engine/handoff/frame_ring.h"
#include "rt_engine/handoff/spsc_queue.h"
#include "rt_engine/handoff/swap_mailbox.h"
#include "rt_engine/model_set.h"
#include "rt_engine/protocol/timeline.h"

namespace dynclamp::rt {

enum class EngineState : uint8_t { kRunning = 0, kFault = 1 };
enum class FaultReason : uint8_t {
  kNone = 0,
  kDaqRead,
  kDaqWrite,
  kOverruns,
  kDaqLost,  // the device went away (unplugged, driver unloaded)
};
inline constexpr EnumNames<FaultReason, FaultReason::kNone,
                           FaultReason::kDaqLost>
    kFaultReasonNames("none", "DAQ input read failed",
                      "DAQ output write failed",
                      "too many consecutive overruns",
                      "DAQ device lost (unplugged, or its driver unloaded)");
inline const char* FaultReasonName(FaultReason reason) {
  return kFaultReasonNames.Name(reason);
}

// The protocol player as the RT side last left it.
struct PlayerStatus {
  uint64_t timeline_id = 0;  // PlayTimeline()'s number; 0: none yet
  PlayerState state = PlayerState::kIdle;
  uint32_t sweeps_completed = 0;
  uint32_t sweeps_started = 0;
  int32_t protocol_sweep = -1;  // sweep of the protocol playing, or -1
};

struct ClampEngineConfig {
  int64_t period_ns = 50'000;  // clamp step; >= 5 us
  std::size_t ring_capacity_frames = 1 << 16;
  std::size_t max_signals = 64;  // model signals per frame
  std::size_t param_queue_capacity = 1024;
  int max_consecutive_overruns = 10;  // 0 = overruns never fault
};

// What each value of a frame is, for one model-set generation.
struct FrameLayout {
  uint32_t generation = 0;
  std::vector<SignalInfo> values;  // cell V's, cell I's, then model signals
};

class ClampEngine {
 public:
  // Non-RT. `daq` must be configured and outlive the engine.
  static absl::StatusOr<std::unique_ptr<ClampEngine>> Create(
      Daq& daq, const ClampEngineConfig& config);
  ~ClampEngine();
  ClampEngine(const ClampEngine&) = delete;
  ClampEngine& operator=(const ClampEngine&) = delete;

  // ---- non-RT control --------------------------------------------------
  // Validates and prepares `spec` completely, then offers it to the RT side,
  // which swaps it in between two cycles. Returns the new generation. A bad
  // spec changes nothing.
  absl::StatusOr<uint32_t> LoadModelSet(const ModelSetSpec& spec)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Prepares `spec` exactly as LoadModelSet would, without loading it;
  // returns the signals it would publish.
  absl::StatusOr<std::vector<SignalInfo>> ValidateModelSet(
      const ModelSetSpec& spec) const ABSL_LOCKS_EXCLUDED(mu_);
  // Changes one live parameter ("<conductance>.<param>") of the most recently
  // loaded set at the next cycle boundary. ResourceExhausted if the queue of
  // pending changes is full.
  absl::Status SetParam(absl::string_view path, double value)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Asks the RT side to leave FAULT at the next cycle.
  void RequestClearFault();
  // Compiles `protocol` against the most recently loaded model set (its
  // parameters) and the rig's cells; errors as Timeline::Compile.
  absl::StatusOr<std::unique_ptr<Timeline>> CompileTimeline(
      const ProtocolSpec& protocol, const TimelineLimits& limits) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // The same against `spec` as the next LoadModelSet() would load it
  // (nothing is loaded): check a protocol before loading its spec. The
  // caller loads `spec` next, with no other load in between. `signals`, if
  // given, receives the signals `spec` will publish (as ValidateModelSet),
  // from the same preparation.
  absl::StatusOr<std::unique_ptr<Timeline>> CompileTimelineFor(
      const ModelSetSpec& spec, const ProtocolSpec& protocol,
      const TimelineLimits& limits,
      std::vector<SignalInfo>* signals = nullptr) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Starts playing `timeline` at the next cycle (replacing any other);
  // returns its id for player_status().
  uint64_t PlayTimeline(std::unique_ptr<Timeline> timeline)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Only while no loop runs (the caller owns the engine then): ends the
  // timeline being played (its driven parameters back to their values
  // before it) and drops any posted one, so the next run starts without a
  // protocol unless it posts its own.
  void DropTimeline() ABSL_LOCKS_EXCLUDED(mu_);
  // Any thread. A steady current (pA) added to `cell`'s output from the next
  // cycle, like an amplifier's holding current: it goes through the same
  // limit and converter as the clamp's current and is what is recorded.
  // Kept across runs and spec loads; 0 releases it.
  void SetHolding(std::size_t cell, double pa) noexcept {
    if (cell < num_cells_)
      holding_pa_[cell].store(pa, std::memory_order_relaxed);
  }
  double holding_pa(std::size_t cell) const noexcept {
    return cell < num_cells_ ? holding_pa_[cell].load(std::memory_order_relaxed)
                             : 0.0;
  }
  // Pause, resume or abort the playing timeline at the next cycle. A
  // FAULT aborts it by itself.
  void CommandPlayer(PlayerCommand command);
  // Frees model sets the RT side has retired.
  void ReclaimRetired() ABSL_LOCKS_EXCLUDED(mu_);
  // The spec most recently loaded (empty before any load).
  ModelSetSpec loaded_spec() const ABSL_LOCKS_EXCLUDED(mu_);
  uint32_t loaded_generation() const ABSL_LOCKS_EXCLUDED(mu_);
  // Layout of frames produced under `generation`; NotFound if unknown.
  absl::StatusOr<FrameLayout> LayoutFor(uint32_t generation) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // ---- RT ---------------------------------------------------------------
  // One cycle. `deadline_ns` is when it was due, `wake_ns` when it started,
  // `period_ns` the time since the previous wake (0 for the first).
  void RunCycle(int64_t deadline_ns, int64_t wake_ns,
                int64_t period_ns) noexcept;
  // After a cycle: tell the engine whether it overran (ended past the next
  // deadline) and how many deadlines the schedule skipped (`missed`): the
  // next cycle's frame and the protocol then move on by as many slots.
  // Enough overruns in a row enter FAULT.
  void NoteDeadline(bool overran, int64_t missed) noexcept;
  // Drive every output to 0 (start, stop, termination).
  void ZeroOutputs() noexcept;
  // A loop starts: its slots count from 0 (a run's time starts at 0), and
  // deadlines skipped after the last loop's final cycle lead to no frame.
  void BeginSchedule() noexcept {
    slot_ = 0;
    pending_skip_ = 0;
  }

  // ---- observers (any thread) -------------------------------------------
  EngineState state() const noexcept {
    return static_cast<EngineState>(state_.load(std::memory_order_acquire));
  }
  FaultReason fault_reason() const noexcept {
    return static_cast<FaultReason>(fault_.load(std::memory_order_acquire));
  }
  const TimingStats& stats() const noexcept { return stats_; }
  TimingStats& mutable_stats() noexcept { return stats_; }
  FrameRing& frames() noexcept { return ring_; }
  const ClampEngineConfig& config() const noexcept { return config_; }
  Daq& daq() noexcept { return daq_; }
  std::size_t num_cells() const noexcept { return num_cells_; }
  // Generation of the set the RT side is running (0 = none yet).
  uint32_t active_generation() const noexcept {
    return active_generation_.load(std::memory_order_acquire);
  }
  PlayerStatus player_status() const noexcept;

 private:
  ClampEngine(Daq& daq, const ClampEngineConfig& config);
  // Marks FAULT; the cycle's write stage (or EnterFault) drives outputs to 0.
  void MarkFault(FaultReason reason) noexcept;
  // Marks FAULT and drives outputs to 0 now (outside the write stage).
  void EnterFault(FaultReason reason) noexcept;
  ModelSet::Config ModelSetConfig() const;

  // One cycle's stages, in RunCycle's order, and what they pass on.
  struct Cycle {
    int64_t deadline_ns = 0, wake_ns = 0, period_ns = 0;
    uint64_t skipped = 0;  // slots skipped before this one
    uint32_t flags = 0;    // kFrame* for the frame
    bool running = false;  // not in FAULT after the read
    int64_t read_start_ns = 0, write_end_ns = 0, compute_ns = 0;
    Timeline* timeline = nullptr;  // the protocol playing, if any
    TimelineTick tick;
  };
  void TakeChanges(Cycle& cycle) noexcept;
  void Read(Cycle& cycle) noexcept;
  void Step(Cycle& cycle) noexcept;
  void Write(Cycle& cycle) noexcept;
  void Publish(const Cycle& cycle) noexcept;

  Daq& daq_;
  const ClampEngineConfig config_;
  const std::size_t num_cells_;

  // RT-owned.
  ModelSet* active_ = nullptr;
  std::vector<double> v_mv_;
  std::vector<double> i_pa_;
  std::unique_ptr<std::atomic<double>[]> holding_pa_;  // per cell
  int consecutive_overruns_ = 0;
  bool previous_overran_ = false;
  uint64_t slot_ = 0;           // the schedule's slot of the next cycle
  uint64_t pending_skip_ = 0;   // slots skipped since the last cycle
  uint32_t slots_skipped_ = 0;  // in all (mod 2^32), for frames

  // Crossing the boundary.
  SwapMailbox<ModelSet> mailbox_;
  struct PostedTimeline {  // what crosses: the timeline and its id
    std::unique_ptr<Timeline> timeline;
    uint64_t id = 0;
  };
  SwapMailbox<PostedTimeline> timeline_mailbox_;
  PostedTimeline* posted_timeline_ = nullptr;  // RT-owned
  std::atomic<uint8_t> player_command_{0};
  std::atomic<uint64_t> player_word_{0};    // id (32) | state (8) | sweep (24)
  std::atomic<uint64_t> player_counts_{0};  // completed (32) | started (32)
  SpscQueue<ParamUpdate> param_queue_;
  FrameRing ring_;
  TimingStats stats_;
  std::atomic<uint8_t> state_{static_cast<uint8_t>(EngineState::kRunning)};
  std::atomic<uint8_t> fault_{static_cast<uint8_t>(FaultReason::kNone)};
  std::atomic<bool> clear_fault_requested_{false};
  std::atomic<uint32_t> active_generation_{0};

  // Non-RT.
  mutable absl::Mutex mu_;
  uint32_t next_generation_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_timeline_id_ ABSL_GUARDED_BY(mu_) = 1;
  // The newest set posted: pending or active, never retired, so reading its
  // immutable parts under mu_ is safe.
  const ModelSet* latest_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::map<uint32_t, FrameLayout> layouts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_LOOP_CLAMP_ENGINE_H_
