// Timeline: a protocol compiled off the RT thread into what the RT loop plays
// sample by sample, and the player that plays it.
//
// A protocol is a list of sweeps, repeated, with a rest between sweeps. A
// sweep is a set of stimuli played side by side from its start; a stimulus
// is a sequence of epochs (hold, ramp, sine, seeded noise, wait) on one
// target: the current injected into a recorded cell (pA, added to the
// clamp's own current) or a live parameter of the loaded model set
// ("<object>.<param>", in the parameter's unit). Compile() validates the
// whole protocol (targets, durations, every value a parameter will take
// against its range, the memory cap) and turns every stimulus into its list
// of value changes at sample indices; nothing is computed per sample on the
// RT thread beyond following those lists.
//
// Playing: the clamp engine calls Begin() before stepping the models (it
// applies parameter changes and fixes this sample's stimulus currents) and
// adds stimulus() to its output currents after. Between sweeps the clamp
// keeps running with no stimulus. Parameters the protocol drives go back to
// the values they had when it started when it ends, is aborted or is paused
// at once. Commands: pause after the current sweep, pause now (the sweep is
// cut short and played again from its start on resume), resume, abort.
//
// Threads: Compile() and the accessors of immutable data are non-RT. Begin()
// and stimulus() are RT-safe and belong to the thread playing the timeline.
#ifndef DYNCLAMP_RT_ENGINE_PROTOCOL_TIMELINE_H_
#define DYNCLAMP_RT_ENGINE_PROTOCOL_TIMELINE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "rt_engine/model_set.h"

namespace dynclamp::rt {

struct EpochSpec {
  enum class Shape : uint8_t { kHold, kRamp, kSine, kNoise, kWait };
  Shape shape = Shape::kHold;
  double duration_ms = 0;
  double level = 0;  // hold: the value; ramp: start; sine: offset; noise: mean
  double level_end = 0;     // ramp: the value at the end
  double amplitude = 0;     // sine: amplitude; noise: SD
  double frequency_hz = 0;  // sine
  double phase_deg = 0;     // sine
  double tau_ms = 0;        // noise: 0 = a new value every sample; > 0 = OU
  uint64_t seed = 1;        // noise
};

struct StimulusSpec {
  std::string cell;       // the current injected into this recorded cell, or
  std::string parameter;  // "<object>.<param>" of the loaded model set
  std::vector<EpochSpec> epochs;  // back to back from the sweep's start
};

struct SweepSpec {
  std::string name;
  std::vector<StimulusSpec> stimuli;
  // Where the sweep came from, for the recording: "sweeps" (written out),
  // "fi_curve", "titration" or "test_pulse"; a titration's parameter and
  // value.
  std::string family = "sweeps";
  std::string titrated_parameter;
  double titrated_value = 0;
};

// Non-RT. The levels a stimulus's epochs reach: each hold's value, each
// ramp's ends, each sine's offset +- amplitude, each noise's mean.
std::vector<double> EpochLevels(const StimulusSpec& stimulus);

struct ProtocolSpec {
  std::string name;
  std::vector<SweepSpec> sweeps;
  int repetitions = 1;     // the whole list of sweeps, this many times
  double interval_ms = 0;  // rest between two sweeps
};

struct TimelineLimits {
  std::size_t max_bytes = std::size_t{256} << 20;  // compiled size cap
  int max_sweeps_played = 100'000;
};

// What the player did this cycle, for the frame.
struct TimelineTick {
  uint32_t sweep = 0;  // recorded sweep number + 1 (0: not in a sweep)
  uint32_t flags = 0;  // kFrameSweepStart / kFrameSweepEnd / kFrameSweepCut
  int64_t sample = 0;  // index within the sweep
  int32_t protocol_sweep = -1;  // index in spec().sweeps
};

enum class PlayerCommand : uint8_t {
  kNone,
  kPauseAfterSweep,
  kPauseNow,
  kResume,
  kAbort,
};
enum class PlayerState : uint8_t {
  kIdle,      // nothing posted
  kSweep,     // playing a sweep
  kInterval,  // resting between sweeps
  kPaused,
  kDone,  // every sweep played
  kAborted,
};

class Timeline {
 public:
  // Non-RT. `cells`: the recorded cells' names. `set`: the model set the
  // parameters belong to (may be null if no stimulus targets a parameter);
  // its generation is stamped into every change. InvalidArgument naming
  // the path (e.g. "sweeps[2].stimuli[0].epochs[1].duration_ms") and the
  // reason; nothing is built then.
  static absl::StatusOr<std::unique_ptr<Timeline>> Compile(
      const ProtocolSpec& spec, const std::vector<std::string>& cells,
      const ModelSet* set, double dt_ms, const TimelineLimits& limits = {});

  Timeline(const Timeline&) = delete;
  Timeline& operator=(const Timeline&) = delete;

  // RT. Plays one cycle: follows `command`, applies parameter changes to
  // `set` (ignored if null or of another generation) and fixes stimulus().
  // `skipped`: slots of the schedule that passed without a cycle since the
  // last one (deadlines skipped after an overrun); the protocol moves on by
  // as many, so it keeps the schedule's time and those samples are missing.
  TimelineTick Begin(ModelSet* set, PlayerCommand command,
                     int64_t skipped = 0) noexcept;
  // RT. This cycle's stimulus current per recorded cell (pA).
  std::span<const double> stimulus() const noexcept { return current_; }
  PlayerState state() const noexcept { return state_; }
  // Sweeps played to their end, and recorded sweeps started (cut ones too).
  uint32_t sweeps_completed() const noexcept { return completed_; }
  uint32_t sweeps_started() const noexcept { return started_; }
  int32_t protocol_sweep() const noexcept {  // index in spec().sweeps, or -1
    return state_ == PlayerState::kSweep ? order_[position_] : -1;
  }

  // Immutable after Compile.
  const ProtocolSpec& spec() const { return spec_; }
  std::size_t sweeps_to_play() const { return order_.size(); }
  int64_t sweep_samples(std::size_t protocol_sweep) const {
    return sweeps_[protocol_sweep].samples;
  }
  int64_t total_samples() const;  // every sweep and interval
  std::size_t bytes() const { return bytes_; }
  uint32_t generation() const { return generation_; }

 private:
  struct Change {
    int64_t sample;
    double value;
  };
  struct Track {
    bool is_current = true;
    uint32_t cell = 0;             // current: the recorded cell
    ParamUpdate update;            // parameter: resolved, value per change
    uint32_t driven = UINT32_MAX;  // parameter: its entry in driven_
    std::vector<Change> changes;   // sorted by sample
  };
  struct CompiledSweep {
    int64_t samples = 0;
    std::vector<Track> tracks;
  };
  struct Driven {  // a parameter some sweep drives, restored at the end
    ParamUpdate update;
    double original = 0;
  };

  Timeline() = default;
  void StartSweep() noexcept;
  // The end of a sweep played to its last sample: on to the rest, the next
  // sweep, a pause or done.
  void FinishSweep(ModelSet* set) noexcept;
  // Moves on by `slots` samples without playing them.
  void Skip(ModelSet* set, int64_t slots) noexcept;
  // Out of a sweep: no stimulus, driven parameters back to their originals.
  void LeaveSweep(ModelSet* set) noexcept;

  ProtocolSpec spec_;
  std::vector<CompiledSweep> sweeps_;
  std::vector<uint32_t> order_;  // protocol sweep of each sweep played
  int64_t interval_samples_ = 0;
  std::size_t bytes_ = 0;
  uint32_t generation_ = 0;
  std::vector<Driven> driven_;

  // RT state.
  PlayerState state_ = PlayerState::kIdle;
  std::size_t position_ = 0;         // in order_
  int64_t sample_ = 0;               // in the sweep or the interval
  std::vector<std::size_t> cursor_;  // per track of the current sweep
  std::vector<double> track_value_;  // per track: current value
  std::vector<double> current_;      // per cell
  uint32_t completed_ = 0, started_ = 0;
  bool pause_after_sweep_ = false;
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_PROTOCOL_TIMELINE_H_
