#include "rt_engine/protocol/timeline.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numbers>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "rt_engine/base/random.h"
#include "rt_engine/handoff/frame.h"

namespace dynclamp::rt {

std::vector<double> EpochLevels(const StimulusSpec& stimulus) {
  std::vector<double> levels;
  for (const EpochSpec& e : stimulus.epochs) {
    switch (e.shape) {
      case EpochSpec::Shape::kHold:
      case EpochSpec::Shape::kNoise:
        levels.push_back(e.level);
        break;
      case EpochSpec::Shape::kRamp:
        levels.push_back(e.level);
        levels.push_back(e.level_end);
        break;
      case EpochSpec::Shape::kSine:
        levels.push_back(e.level + e.amplitude);
        levels.push_back(e.level - e.amplitude);
        break;
      case EpochSpec::Shape::kWait:
        break;
    }
  }
  return levels;
}
namespace {

// Largest stimulus current accepted (pA): the rig's own limit clips far
// below this; beyond it a value is a typo.
constexpr double kMaxCurrentPa = 1e5;

absl::Status Error(const std::string& path, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", reason));
}

// Samples in `duration_ms` at `dt_ms`, or an error naming the path.
absl::StatusOr<int64_t> Samples(double duration_ms, double dt_ms,
                                const std::string& path) {
  if (!std::isfinite(duration_ms) || !(duration_ms > 0)) {
    return Error(path, absl::StrFormat("must be > 0 ms, got %g", duration_ms));
  }
  const double n = std::round(duration_ms / dt_ms);
  if (n < 1) {
    return Error(path, absl::StrFormat("%g ms is shorter than one step (%g ms)",
                                       duration_ms, dt_ms));
  }
  if (n > 1e12) return Error(path, "is too long");
  return static_cast<int64_t>(n);
}

absl::Status CheckEpoch(const EpochSpec& e, double dt_ms,
                        const std::string& path) {
  for (double x : {e.level, e.level_end, e.amplitude, e.frequency_hz,
                   e.phase_deg, e.tau_ms}) {
    if (!std::isfinite(x)) return Error(path, "every value must be finite");
  }
  if (e.shape == EpochSpec::Shape::kSine) {
    const double nyquist_hz = 500.0 / dt_ms;
    if (e.frequency_hz <= 0 || e.frequency_hz >= nyquist_hz) {
      return Error(path + ".frequency_hz",
                   absl::StrFormat("must be in (0, %g) Hz (half the clamp "
                                   "rate), got %g",
                                   nyquist_hz, e.frequency_hz));
    }
  }
  if (e.shape == EpochSpec::Shape::kNoise) {
    if (e.amplitude < 0) {
      return Error(path + ".sd",
                   absl::StrFormat("must be >= 0, got %g", e.amplitude));
    }
    if (e.tau_ms < 0) {
      return Error(path + ".tau_ms",
                   absl::StrFormat("must be >= 0 ms, got %g", e.tau_ms));
    }
  }
  return absl::OkStatus();
}

// Appends the value changes of one epoch starting at sample `start`.
// `is_current`: a wait injects 0; for a parameter it changes nothing.
void Generate(const EpochSpec& e, int64_t start, int64_t n, double dt_ms,
              bool is_current, std::vector<std::pair<int64_t, double>>& out) {
  switch (e.shape) {
    case EpochSpec::Shape::kHold:
      out.push_back({start, e.level});
      return;
    case EpochSpec::Shape::kWait:
      if (is_current) out.push_back({start, 0.0});
      return;
    case EpochSpec::Shape::kRamp:
      for (int64_t k = 0; k < n; ++k)
        out.push_back({start + k, e.level + (e.level_end - e.level) *
                                                static_cast<double>(k) /
                                                static_cast<double>(n)});
      return;
    case EpochSpec::Shape::kSine: {
      const double w = 2 * std::numbers::pi * e.frequency_hz * dt_ms * 1e-3;
      const double phase = e.phase_deg * std::numbers::pi / 180.0;
      for (int64_t k = 0; k < n; ++k)
        out.push_back(
            {start + k,
             e.level +
                 e.amplitude * std::sin(w * static_cast<double>(k) + phase)});
      return;
    }
    case EpochSpec::Shape::kNoise: {
      Rng rng(e.seed);
      const double decay = e.tau_ms > 0 ? std::exp(-dt_ms / e.tau_ms) : 0.0;
      const double kick = e.amplitude * std::sqrt(1 - decay * decay);
      double x = e.level + e.amplitude * rng.Normal();
      for (int64_t k = 0; k < n; ++k) {
        out.push_back({start + k, x});
        x = e.level + (x - e.level) * decay + kick * rng.Normal();
      }
      return;
    }
  }
}

// How many changes Generate() will append (for the memory cap).
int64_t CountChanges(const EpochSpec& e, int64_t n, bool is_current) {
  switch (e.shape) {
    case EpochSpec::Shape::kHold:
      return 1;
    case EpochSpec::Shape::kWait:
      return is_current ? 1 : 0;
    default:
      return n;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Timeline>> Timeline::Compile(
    const ProtocolSpec& spec, const std::vector<std::string>& cells,
    const ModelSet* set, double dt_ms, const TimelineLimits& limits) {
  if (!(dt_ms > 0) || !std::isfinite(dt_ms)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("dt_ms: must be > 0, got %g", dt_ms));
  }
  if (spec.sweeps.empty()) {
    return absl::InvalidArgumentError("sweeps: a protocol needs a sweep");
  }
  if (spec.repetitions < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("repetitions: must be >= 1, got %d", spec.repetitions));
  }
  const int64_t played =
      static_cast<int64_t>(spec.sweeps.size()) * spec.repetitions;
  if (played > limits.max_sweeps_played) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "repetitions: %d sweeps would be played, more than the cap of %d",
        played, limits.max_sweeps_played));
  }
  auto timeline = std::unique_ptr<Timeline>(new Timeline());
  Timeline& t = *timeline;
  t.spec_ = spec;
  t.generation_ = set != nullptr ? set->generation() : 0;
  if (spec.interval_ms != 0) {
    if (!std::isfinite(spec.interval_ms) || spec.interval_ms < 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "interval_ms: must be >= 0 ms, got %g", spec.interval_ms));
    }
    t.interval_samples_ =
        static_cast<int64_t>(std::round(spec.interval_ms / dt_ms));
  }

  // First pass: validate everything and size the result.
  int64_t total_changes = 0;
  std::size_t max_tracks = 0;
  std::map<std::string, uint32_t> driven_index;
  for (std::size_t s = 0; s < spec.sweeps.size(); ++s) {
    const SweepSpec& sweep = spec.sweeps[s];
    const std::string spath = absl::StrCat("sweeps[", s, "]");
    if (sweep.stimuli.empty()) {
      return Error(spath + ".stimuli",
                   "a sweep needs a stimulus (a wait epoch just records)");
    }
    std::map<std::string, std::size_t> parameters_seen;
    for (std::size_t k = 0; k < sweep.stimuli.size(); ++k) {
      const StimulusSpec& st = sweep.stimuli[k];
      const std::string path = absl::StrCat(spath, ".stimuli[", k, "]");
      if (st.cell.empty() == st.parameter.empty()) {
        return Error(path, "give exactly one target: a cell or a parameter");
      }
      if (!st.cell.empty() &&
          std::find(cells.begin(), cells.end(), st.cell) == cells.end()) {
        return Error(path + ".cell",
                     absl::StrCat("'", st.cell, "' is not a recorded cell (",
                                  absl::StrJoin(cells, ", "), ")"));
      }
      if (!st.parameter.empty()) {
        if (set == nullptr) {
          return Error(
              path + ".parameter",
              absl::StrCat("'", st.parameter, "': no spec is loaded to drive"));
        }
        if (!parameters_seen.emplace(st.parameter, k).second) {
          return Error(
              path + ".parameter",
              absl::StrCat("'", st.parameter, "' is already driven by stimuli[",
                           parameters_seen[st.parameter], "]"));
        }
      }
      if (st.epochs.empty()) return Error(path + ".epochs", "none given");
      for (std::size_t e = 0; e < st.epochs.size(); ++e) {
        const std::string epath = absl::StrCat(path, ".epochs[", e, "]");
        absl::StatusOr<int64_t> n =
            Samples(st.epochs[e].duration_ms, dt_ms, epath + ".duration_ms");
        if (!n.ok()) return n.status();
        if (auto c = CheckEpoch(st.epochs[e], dt_ms, epath); !c.ok()) return c;
        total_changes += CountChanges(st.epochs[e], *n, st.parameter.empty());
      }
      ++total_changes;  // a current's end
    }
    max_tracks = std::max(max_tracks, sweep.stimuli.size());
  }
  const std::size_t estimate =
      static_cast<std::size_t>(total_changes) * sizeof(Change);
  if (estimate > limits.max_bytes) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "protocol: the compiled timeline needs %.1f MiB, more than the cap "
        "of %.1f MiB; shorten it or use fewer per-sample epochs",
        estimate / 1048576.0, limits.max_bytes / 1048576.0));
  }

  // Second pass: generate, and check every parameter value against its
  // range (through the model set, which names the parameter).
  std::vector<std::pair<int64_t, double>> values;
  for (std::size_t s = 0; s < spec.sweeps.size(); ++s) {
    const SweepSpec& sweep = spec.sweeps[s];
    CompiledSweep compiled;
    for (std::size_t k = 0; k < sweep.stimuli.size(); ++k) {
      const StimulusSpec& st = sweep.stimuli[k];
      const std::string path = absl::StrCat("sweeps[", s, "].stimuli[", k, "]");
      const bool is_current = st.parameter.empty();
      values.clear();
      int64_t start = 0;
      for (const EpochSpec& e : st.epochs) {
        const int64_t n = *Samples(e.duration_ms, dt_ms, "");
        Generate(e, start, n, dt_ms, is_current, values);
        start += n;
      }
      compiled.samples = std::max(compiled.samples, start);
      Track track;
      track.is_current = is_current;
      if (is_current) {
        track.cell = static_cast<uint32_t>(
            std::find(cells.begin(), cells.end(), st.cell) - cells.begin());
        for (const auto& [sample, v] : values) {
          if (!(std::abs(v) <= kMaxCurrentPa)) {
            return Error(path,
                         absl::StrFormat("reaches %g pA at sample %d; currents "
                                         "are limited to +-%g pA",
                                         v, sample, kMaxCurrentPa));
          }
        }
        values.push_back({start, 0.0});  // no current past its last epoch
      } else {
        double lo = 0, hi = 0;
        if (!values.empty()) {
          lo = hi = values.front().second;
          for (const auto& [sample, v] : values) {
            lo = std::min(lo, v);
            hi = std::max(hi, v);
          }
        }
        absl::StatusOr<ParamUpdate> low = set->ResolveParam(st.parameter, lo);
        if (!low.ok()) {
          return Error(path + ".parameter",
                       std::string(low.status().message()));
        }
        absl::StatusOr<ParamUpdate> high = set->ResolveParam(st.parameter, hi);
        if (!high.ok()) {
          return Error(path + ".parameter",
                       std::string(high.status().message()));
        }
        track.update = *low;
        auto [it, added] = driven_index.emplace(
            st.parameter, static_cast<uint32_t>(t.driven_.size()));
        if (added) t.driven_.push_back({*low, 0.0});
        track.driven = it->second;
      }
      track.changes.reserve(values.size());
      for (const auto& [sample, v] : values)
        track.changes.push_back({sample, v});
      t.bytes_ += track.changes.size() * sizeof(Change);
      compiled.tracks.push_back(std::move(track));
    }
    t.sweeps_.push_back(std::move(compiled));
  }
  for (int r = 0; r < spec.repetitions; ++r)
    for (uint32_t s = 0; s < spec.sweeps.size(); ++s) t.order_.push_back(s);
  t.cursor_.assign(max_tracks, 0);
  t.track_value_.assign(max_tracks, 0.0);
  t.current_.assign(cells.size(), 0.0);
  return timeline;
}

int64_t Timeline::total_samples() const {
  int64_t total = 0;
  for (uint32_t s : order_) total += sweeps_[s].samples;
  if (!order_.empty())
    total += interval_samples_ * static_cast<int64_t>(order_.size() - 1);
  return total;
}

void Timeline::StartSweep() noexcept {
  state_ = PlayerState::kSweep;
  sample_ = 0;
  std::fill(cursor_.begin(), cursor_.end(), 0);
  std::fill(track_value_.begin(), track_value_.end(), 0.0);
  ++started_;
}

void Timeline::LeaveSweep(ModelSet* set) noexcept {
  std::fill(current_.begin(), current_.end(), 0.0);
  if (set == nullptr) return;
  for (const Driven& d : driven_) {
    ParamUpdate u = d.update;
    u.value = d.original;
    set->Apply(u);  // a set of another generation ignores it
  }
}

void Timeline::FinishSweep(ModelSet* set) noexcept {
  ++completed_;
  ++position_;
  LeaveSweep(set);
  if (position_ == order_.size()) {
    state_ = PlayerState::kDone;
  } else if (pause_after_sweep_) {
    state_ = PlayerState::kPaused;
    pause_after_sweep_ = false;
  } else if (interval_samples_ > 0) {
    state_ = PlayerState::kInterval;
    sample_ = 0;
  } else {
    StartSweep();
  }
}

void Timeline::Skip(ModelSet* set, int64_t slots) noexcept {
  while (slots > 0) {
    if (state_ == PlayerState::kSweep) {
      const int64_t left = sweeps_[order_[position_]].samples - sample_;
      if (slots <= left) {
        sample_ += slots;
        return;
      }
      slots -= left;
      sample_ += left;
      FinishSweep(set);
    } else if (state_ == PlayerState::kInterval) {
      const int64_t left = interval_samples_ - sample_;
      if (slots <= left) {
        sample_ += slots;
        return;
      }
      slots -= left;
      StartSweep();
    } else {
      return;  // paused, done or aborted: nothing plays
    }
  }
}

TimelineTick Timeline::Begin(ModelSet* set, PlayerCommand command,
                             int64_t skipped) noexcept {
  TimelineTick tick;
  if (state_ == PlayerState::kIdle) {
    // The values the driven parameters have now are the ones to restore.
    if (set != nullptr) {
      for (Driven& d : driven_) d.original = set->Read(d.update);
    }
    StartSweep();
  } else if (skipped > 0) {
    Skip(set, skipped);
  }
  switch (command) {
    case PlayerCommand::kNone:
    case PlayerCommand::kResume:
      break;
    case PlayerCommand::kPauseAfterSweep:
      if (state_ == PlayerState::kSweep) pause_after_sweep_ = true;
      if (state_ == PlayerState::kInterval) state_ = PlayerState::kPaused;
      break;
    case PlayerCommand::kPauseNow:
    case PlayerCommand::kAbort:
      if (state_ == PlayerState::kSweep) {
        tick.flags |= kFrameSweepCut;
        tick.sweep = started_;
        tick.sample = sample_;
        tick.protocol_sweep = static_cast<int32_t>(order_[position_]);
      }
      if (state_ == PlayerState::kSweep || state_ == PlayerState::kInterval ||
          state_ == PlayerState::kPaused) {
        LeaveSweep(set);
        state_ = command == PlayerCommand::kAbort ? PlayerState::kAborted
                                                  : PlayerState::kPaused;
        pause_after_sweep_ = false;
      }
      return tick;
  }
  if (state_ == PlayerState::kPaused) {
    if (command != PlayerCommand::kResume) return tick;
    StartSweep();  // the next sweep, or again the one cut short
  }
  if (state_ == PlayerState::kSweep &&
      sample_ >= sweeps_[order_[position_]].samples) {
    FinishSweep(set);
  }
  if (state_ == PlayerState::kInterval) {
    if (sample_ < interval_samples_) {
      ++sample_;
      return tick;
    }
    StartSweep();
  }
  if (state_ != PlayerState::kSweep) return tick;

  const CompiledSweep& sweep = sweeps_[order_[position_]];
  std::fill(current_.begin(), current_.end(), 0.0);
  for (std::size_t k = 0; k < sweep.tracks.size(); ++k) {
    const Track& track = sweep.tracks[k];
    std::size_t& c = cursor_[k];
    // Changes due in skipped slots take effect now, the latest one last.
    while (c < track.changes.size() && track.changes[c].sample <= sample_) {
      track_value_[k] = track.changes[c].value;
      if (!track.is_current && set != nullptr) {
        ParamUpdate u = track.update;
        u.value = track_value_[k];
        set->Apply(u);
      }
      ++c;
    }
    if (track.is_current) current_[track.cell] += track_value_[k];
  }
  tick.sweep = started_;
  tick.sample = sample_;
  tick.protocol_sweep = static_cast<int32_t>(order_[position_]);
  if (sample_ == 0) tick.flags |= kFrameSweepStart;
  if (sample_ == sweep.samples - 1) tick.flags |= kFrameSweepEnd;
  ++sample_;
  return tick;
}

}  // namespace dynclamp::rt
