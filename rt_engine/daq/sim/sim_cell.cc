#include "rt_engine/daq/sim/sim_cell.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rt_engine/models/channel_presets.h"
#include "rt_engine/models/param_info.h"

namespace dynclamp::rt {

absl::StatusOr<SimCell> SimCell::Create(const SimCellConfig& cfg,
                                        const std::string& path) {
  if (!std::isfinite(cfg.capacitance_pf) || cfg.capacitance_pf < 1 ||
      cfg.capacitance_pf > 1e5) {
    return FieldError(
        path, "capacitance_pf",
        absl::StrFormat("must be in [1, 1e5] pF, got %g", cfg.capacitance_pf));
  }
  if (!std::isfinite(cfg.bias_pa) || std::fabs(cfg.bias_pa) > 1e6) {
    return FieldError(path, "bias_pa", "must be finite, within +-1e6 pA");
  }
  SimCell cell;
  cell.c_pf_ = cfg.capacitance_pf;
  cell.bias_pa_ = cfg.bias_pa;
  const double scale = cfg.capacitance_pf / kReferenceCapacitancePf;

  struct Wanted {
    const char* name;
    const char* preset;
  };
  std::vector<Wanted> wanted;
  const char* leak_preset = nullptr;
  double celsius = cfg.celsius;
  switch (cfg.model) {
    case SimCellConfig::Model::kPassive:
      cell.leak_g_ns_ = 10.0 * scale;
      cell.leak_e_mv_ = -65.0;
      break;
    case SimCellConfig::Model::kHh:
      wanted = {{"na", "hh_na"}, {"k", "hh_k"}};
      leak_preset = "hh_leak";
      break;
    case SimCellConfig::Model::kCa1:
      wanted = {{"na", "ca1_na"}, {"kdr", "ca1_kdr"}, {"ka", "ca1_ka"}};
      leak_preset = "ca1_leak";
      break;
  }
  for (const std::string& b : cfg.blocked) {
    if (std::none_of(wanted.begin(), wanted.end(),
                     [&](const Wanted& w) { return b == w.name; })) {
      std::string known;
      for (const Wanted& w : wanted)
        absl::StrAppend(&known, known.empty() ? "" : ", ", w.name);
      return FieldError(
          path, "blocked",
          absl::StrCat("'", b, "' is not a channel of this cell",
                       known.empty() ? " (it has none)"
                                     : absl::StrCat(" (it has ", known, ")")));
    }
  }
  if (leak_preset != nullptr) {
    auto leak = MakePreset(leak_preset);
    const auto& lp = std::get<ConstantConductance::Params>(*leak);
    cell.leak_g_ns_ = lp.g_ns * scale;
    cell.leak_e_mv_ = lp.e_rev_mv;
  }
  if (!std::isnan(cfg.leak_g_ns)) {
    if (!std::isfinite(cfg.leak_g_ns) || cfg.leak_g_ns < 0)
      return FieldError(path, "leak_g_ns", "must be finite and >= 0");
    cell.leak_g_ns_ = cfg.leak_g_ns;
  }
  if (!std::isnan(cfg.leak_e_mv)) {
    if (!std::isfinite(cfg.leak_e_mv) || std::fabs(cfg.leak_e_mv) > 200)
      return FieldError(path, "leak_e_mv", "must be in [-200, 200] mV");
    cell.leak_e_mv_ = cfg.leak_e_mv;
  }
  for (const Wanted& w : wanted) {
    if (std::find(cfg.blocked.begin(), cfg.blocked.end(), w.name) !=
        cfg.blocked.end()) {
      continue;
    }
    auto preset = MakePreset(w.preset);
    const auto& hp = std::get<HhChannel::Params>(*preset);
    Channel& ch = cell.channels_[cell.num_channels_++];
    ch.name = w.name;
    ch.g_ns = hp.g_max_ns * scale;
    ch.e_mv = hp.e_rev_mv;
    ch.num_gates = static_cast<int>(hp.gates.size());
    ch.first_state = cell.num_state_;
    const double c = std::isnan(celsius) ? hp.celsius : celsius;
    for (int g = 0; g < ch.num_gates; ++g) {
      absl::StatusOr<FastGate> fg = MakeFastGate(hp.gates[g], c);
      if (!fg.ok()) return fg.status();
      ch.gates[g] = *fg;
      ch.powers[g] = hp.gates[g].power;
    }
    cell.num_state_ += ch.num_gates;
  }
  // All three models rest near -65 mV (HH's leak reversal is not its rest).
  const double v0 = std::isnan(cfg.v_init_mv) ? -65.0 : cfg.v_init_mv;
  if (!std::isfinite(v0) || std::fabs(v0) > 200)
    return FieldError(path, "v_init_mv", "must be in [-200, 200] mV");
  cell.state_[0] = v0;
  for (int k = 0; k < cell.num_channels_; ++k) {
    const Channel& ch = cell.channels_[k];
    for (int g = 0; g < ch.num_gates; ++g) {
      cell.state_[ch.first_state + g] = ch.gates[g].Eval(v0).inf;
    }
  }
  return cell;
}

double SimCell::IonicCurrent(const State& s) const noexcept {
  const double v = s[0];
  double i = leak_g_ns_ * (leak_e_mv_ - v);
  for (int k = 0; k < num_channels_; ++k) {
    const Channel& ch = channels_[k];
    double open = 1.0;
    for (int g = 0; g < ch.num_gates; ++g) {
      double x = s[ch.first_state + g];
      for (int p = 0; p < ch.powers[g]; ++p) open *= x;
    }
    i += ch.g_ns * open * (ch.e_mv - v);
  }
  return i;
}

double SimCell::IntrinsicCurrentPa() const noexcept {
  return IonicCurrent(state_);
}

void SimCell::Derivatives(const State& s, double i_total_pa,
                          State& ds) const noexcept {
  const double v = s[0];
  ds[0] = (IonicCurrent(s) + i_total_pa) / c_pf_;  // pA / pF = mV/ms
  for (int k = 0; k < num_channels_; ++k) {
    const Channel& ch = channels_[k];
    for (int g = 0; g < ch.num_gates; ++g) {
      const GateRates r = ch.gates[g].Eval(v);
      ds[ch.first_state + g] = (r.inf - s[ch.first_state + g]) / r.tau_ms;
    }
  }
}

void SimCell::Advance(double duration_ms, int substeps,
                      double i_inj_pa) noexcept {
  if (substeps < 1 || !(duration_ms > 0)) return;
  const double h = duration_ms / substeps;
  const double i_total = i_inj_pa + bias_pa_;
  const int n = num_state_;
  State k1, k2, k3, k4, tmp;
  for (int step = 0; step < substeps; ++step) {
    Derivatives(state_, i_total, k1);
    for (int j = 0; j < n; ++j) tmp[j] = state_[j] + 0.5 * h * k1[j];
    Derivatives(tmp, i_total, k2);
    for (int j = 0; j < n; ++j) tmp[j] = state_[j] + 0.5 * h * k2[j];
    Derivatives(tmp, i_total, k3);
    for (int j = 0; j < n; ++j) tmp[j] = state_[j] + h * k3[j];
    Derivatives(tmp, i_total, k4);
    for (int j = 0; j < n; ++j) {
      state_[j] += h / 6.0 * (k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j]);
    }
  }
}

std::vector<std::string> SimCell::ChannelNames() const {
  std::vector<std::string> names;
  for (int k = 0; k < num_channels_; ++k) names.push_back(channels_[k].name);
  return names;
}

}  // namespace dynclamp::rt
