#include "fidelity/replay.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rt_engine/loop/clamp_engine.h"

namespace dynclamp::fidelity {
namespace {

struct Trace {
  std::vector<double> t_ms;
  std::vector<std::vector<double>> v_mv;  // per cell
};

absl::StatusOr<Trace> Replay(const FidelityInput& in, double jitter_us,
                             double latency_us, double drive_pa) {
  rt::SimRigConfig sim = in.cells;
  for (rt::SimCellConfig& cell : sim.cells) cell.bias_pa += drive_pa;
  sim.clock = rt::SimRigConfig::Clock::kNominal;
  sim.noise_sd_mv = 0;
  sim.io_jitter_us = 0;
  sim.jitter_us = jitter_us;
  sim.latency_us = latency_us;
  sim.seed = 7;
  rt::SimRig rig(sim);
  if (auto s = rig.Configure(in.daq); !s.ok()) return s;
  if (auto s = rig.Prepare(in.period_ns); !s.ok()) return s;
  rt::ClampEngineConfig ec;
  ec.period_ns = in.period_ns;
  ec.ring_capacity_frames = 16;
  ec.max_consecutive_overruns = 0;
  auto engine = rt::ClampEngine::Create(rig, ec);
  if (!engine.ok()) return engine.status();
  if (auto g = (*engine)->LoadModelSet(in.spec); !g.ok()) return g.status();
  const std::size_t cells = in.daq.channels.size();
  Trace trace;
  trace.v_mv.resize(cells);
  rt::FrameHeader h;
  std::vector<double> values((*engine)->frames().values_per_frame());
  int64_t t = 0;
  // The same simulated duration however long the steps are.
  while (rig.world_time_ms() < in.duration_s * 1e3) {
    t += in.period_ns;
    (*engine)->RunCycle(t, t, in.period_ns);
    while ((*engine)->frames().TryPop(h, values)) {
    }
    trace.t_ms.push_back(rig.world_time_ms());
    for (std::size_t c = 0; c < cells; ++c)
      trace.v_mv[c].push_back(rig.true_v_mv(c));
  }
  return trace;
}

// V of `trace` at time t (linear interpolation).
double At(const std::vector<double>& t, const std::vector<double>& v,
          double when) {
  const auto it = std::lower_bound(t.begin(), t.end(), when);
  if (it == t.begin()) return v.front();
  if (it == t.end()) return v.back();
  const std::size_t i = static_cast<std::size_t>(it - t.begin());
  const double f = (when - t[i - 1]) / (t[i] - t[i - 1]);
  return v[i - 1] + f * (v[i] - v[i - 1]);
}

std::vector<double> SpikeTimes(const std::vector<double>& t,
                               const std::vector<double>& v) {
  std::vector<double> out;
  for (std::size_t i = 1; i < v.size(); ++i) {
    if (v[i - 1] < 0.0 && v[i] >= 0.0) {
      const double f = (0.0 - v[i - 1]) / (v[i] - v[i - 1]);
      out.push_back(t[i - 1] + f * (t[i] - t[i - 1]));
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<FidelityReport> EstimateFidelity(const FidelityInput& in) {
  const double period_us = static_cast<double>(in.period_ns) * 1e-3;
  FidelityReport r;
  r.worst_step_us = std::max(in.worst_step_us, period_us);
  r.worst_latency_us = std::max(in.worst_latency_us, 0.0);
  absl::StatusOr<Trace> ideal;
  for (double drive : {0.0, 50.0, 100.0, 150.0, 200.0, 300.0, 400.0, 600.0,
                       800.0, 1200.0, 1600.0}) {
    ideal = Replay(in, 0, 0, drive);
    if (!ideal.ok()) return ideal.status();
    r.drive_pa = drive;
    int spikes = 0;
    for (const auto& v : ideal->v_mv)
      spikes += static_cast<int>(SpikeTimes(ideal->t_ms, v).size());
    if (spikes >= 3) break;
  }
  absl::StatusOr<Trace> measured =
      Replay(in, r.worst_step_us - period_us, r.worst_latency_us, r.drive_pa);
  if (!measured.ok()) return measured.status();
  const double end_ms = std::min(ideal->t_ms.back(), measured->t_ms.back());
  double sum2 = 0;
  std::size_t n = 0;
  double shift_sum = 0;
  int matched = 0;
  for (std::size_t c = 0; c < ideal->v_mv.size(); ++c) {
    for (std::size_t i = 0; i < ideal->t_ms.size(); ++i) {
      if (ideal->t_ms[i] > end_ms) break;
      const double d = At(measured->t_ms, measured->v_mv[c], ideal->t_ms[i]) -
                       ideal->v_mv[c][i];
      sum2 += d * d;
      ++n;
      r.max_error_mv = std::max(r.max_error_mv, std::abs(d));
    }
    std::vector<double> a = SpikeTimes(ideal->t_ms, ideal->v_mv[c]);
    std::vector<double> b = SpikeTimes(measured->t_ms, measured->v_mv[c]);
    std::erase_if(a, [&](double x) { return x > end_ms; });
    std::erase_if(b, [&](double x) { return x > end_ms; });
    r.spikes_ideal += static_cast<int>(a.size());
    r.spikes_measured += static_cast<int>(b.size());
    for (std::size_t k = 0; k < std::min(a.size(), b.size()); ++k) {
      shift_sum += std::abs(b[k] - a[k]);
      ++matched;
    }
  }
  r.rms_error_mv = n ? std::sqrt(sum2 / static_cast<double>(n)) : 0;
  r.mean_spike_shift_ms = matched ? shift_sum / matched : 0;
  std::vector<std::string> why;
  if (r.rms_error_mv > kFidelityRmsMv)
    why.push_back(absl::StrFormat("V differs by %.2f mV RMS (%.1f mV worst)",
                                  r.rms_error_mv, r.max_error_mv));
  if (r.spikes_ideal != r.spikes_measured)
    why.push_back(absl::StrFormat("%d spikes instead of %d", r.spikes_measured,
                                  r.spikes_ideal));
  if (r.mean_spike_shift_ms > kFidelitySpikeShiftMs)
    why.push_back(absl::StrFormat("spikes shifted by %.2f ms on average",
                                  r.mean_spike_shift_ms));
  if (!why.empty()) {
    r.warning =
        absl::StrCat("with the measured timing (worst step ",
                     absl::StrFormat("%.1f", r.worst_step_us), " us, latency ",
                     absl::StrFormat("%.1f", r.worst_latency_us),
                     " us) the loaded conductances are distorted: ");
    for (std::size_t k = 0; k < why.size(); ++k)
      absl::StrAppend(&r.warning, k ? "; " : "", why[k]);
  }
  return r;
}

}  // namespace dynclamp::fidelity
