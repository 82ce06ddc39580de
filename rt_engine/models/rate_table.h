// RateTable: a gate's kinetics tabulated over V once, off the RT thread, with
// the coefficient its integrator needs for the clamp step already computed, so
// the RT step does one linear interpolation per gate and no exp().
//
// Entry.coef is exp(-dt/tau) for exponential Euler and 1/tau (1/ms) for RK4
// and forward Euler. V outside the table is clamped to the nearest edge.
//
// Threads: Build() is non-RT. Lookup() is RT-safe; a built table is
// immutable and may be shared by any number of channels and threads.
#ifndef DYNCLAMP_RT_ENGINE_MODELS_RATE_TABLE_H_
#define DYNCLAMP_RT_ENGINE_MODELS_RATE_TABLE_H_

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rt_engine/models/gate_kinetics.h"

namespace dynclamp::rt {

struct TableRange {
  double v_min_mv = -150.0;
  double v_max_mv = 100.0;
  double dv_mv = 0.05;
};

// The physiological range every table must cover.
inline constexpr double kPhysiologicalVMinMv = -100.0;
inline constexpr double kPhysiologicalVMaxMv = 50.0;

// InvalidArgument naming path.<field> unless the range covers the
// physiological range, dv is in [0.001, 1] mV and the table has at most
// 1,000,000 entries.
absl::Status ValidateTableRange(const TableRange& range,
                                absl::string_view path);

class RateTable {
 public:
  struct Entry {
    double inf;
    double coef;
  };

  // Non-RT. Evaluates `gate` at every table point; fails with the gate's
  // path, the field and the V where kinetics are not finite or out of range.
  static absl::StatusOr<std::shared_ptr<const RateTable>> Build(
      const GateEvaluator& gate, const TableRange& range, Integrator integrator,
      double dt_ms);

  Entry Lookup(double v_mv) const noexcept {
    double x = (v_mv - v_min_mv_) * inv_dv_;
    if (!(x >= 0.0)) x = 0.0;  // also catches NaN
    if (x > max_x_) x = max_x_;
    const std::size_t i = static_cast<std::size_t>(x);
    const double f = x - static_cast<double>(i);
    const Entry& a = entries_[i];
    const Entry& b = entries_[i + 1];
    return {a.inf + f * (b.inf - a.inf), a.coef + f * (b.coef - a.coef)};
  }

  Integrator integrator() const noexcept { return integrator_; }
  double dt_ms() const noexcept { return dt_ms_; }
  std::size_t size() const noexcept { return entries_.size(); }
  double v_min_mv() const noexcept { return v_min_mv_; }
  double v_max_mv() const noexcept { return v_max_mv_; }
  double inv_dv() const noexcept { return inv_dv_; }
  // Table point i is at v_min_mv() + i / inv_dv().
  const std::vector<Entry>& entries() const noexcept { return entries_; }

 private:
  RateTable() = default;
  double v_min_mv_ = 0, v_max_mv_ = 0, inv_dv_ = 1, max_x_ = 0;
  double dt_ms_ = 0;
  Integrator integrator_ = Integrator::kExpEuler;
  std::vector<Entry> entries_;
};

// Non-RT. Shares one table among every gate with the same kinetics,
// temperature, range, integrator and step, so a thousand copies of a channel
// cost one set of tables (memory and cache).
class RateTableCache {
 public:
  absl::StatusOr<std::shared_ptr<const RateTable>> GetOrBuild(
      const GateSpec& gate, double celsius, const TableRange& range,
      Integrator integrator, double dt_ms, std::string path);
  std::size_t size() const { return tables_.size(); }

 private:
  std::map<std::string, std::shared_ptr<const RateTable>> tables_;
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_MODELS_RATE_TABLE_H_
