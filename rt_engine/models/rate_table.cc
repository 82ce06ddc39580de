#include "rt_engine/models/rate_table.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rt_engine/models/param_info.h"

namespace dynclamp::rt {

absl::Status ValidateTableRange(const TableRange& r, absl::string_view path) {
  if (!std::isfinite(r.v_min_mv) || r.v_min_mv > kPhysiologicalVMinMv) {
    return FieldError(path, "v_min_mv",
                      absl::StrFormat("must be <= %g mV to cover the "
                                      "physiological range, got %g",
                                      kPhysiologicalVMinMv, r.v_min_mv));
  }
  if (!std::isfinite(r.v_max_mv) || r.v_max_mv < kPhysiologicalVMaxMv) {
    return FieldError(path, "v_max_mv",
                      absl::StrFormat("must be >= %g mV to cover the "
                                      "physiological range, got %g",
                                      kPhysiologicalVMaxMv, r.v_max_mv));
  }
  if (!std::isfinite(r.dv_mv) || r.dv_mv < 0.001 || r.dv_mv > 1.0) {
    return FieldError(
        path, "dv_mv",
        absl::StrFormat("must be in [0.001, 1] mV, got %g", r.dv_mv));
  }
  if ((r.v_max_mv - r.v_min_mv) / r.dv_mv > 1e6) {
    return FieldError(path, "dv_mv",
                      "gives more than 1,000,000 table entries; widen dv_mv "
                      "or narrow the range");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const RateTable>> RateTable::Build(
    const GateEvaluator& gate, const TableRange& range, Integrator integrator,
    double dt_ms) {
  if (!(dt_ms > 0) || !std::isfinite(dt_ms)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("time step must be > 0 ms, got %g", dt_ms));
  }
  const std::size_t n = static_cast<std::size_t>(std::llround(
                            (range.v_max_mv - range.v_min_mv) / range.dv_mv)) +
                        1;
  auto table = std::shared_ptr<RateTable>(new RateTable());
  table->v_min_mv_ = range.v_min_mv;
  table->v_max_mv_ = range.v_min_mv + static_cast<double>(n - 1) * range.dv_mv;
  table->inv_dv_ = 1.0 / range.dv_mv;
  // The largest x with a valid right neighbour; nextafter keeps i <= n - 2.
  table->max_x_ = std::nextafter(static_cast<double>(n - 1), 0.0);
  table->dt_ms_ = dt_ms;
  table->integrator_ = integrator;
  table->entries_.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double v = range.v_min_mv + static_cast<double>(i) * range.dv_mv;
    absl::StatusOr<GateRates> rates = gate.Evaluate(v);
    if (!rates.ok()) return rates.status();
    const double coef = integrator == Integrator::kExpEuler
                            ? std::exp(-dt_ms / rates->tau_ms)
                            : 1.0 / rates->tau_ms;
    table->entries_[i] = {rates->inf, coef};
  }
  return std::shared_ptr<const RateTable>(std::move(table));
}

namespace {

// Exact text of every input that shapes a table ("%a" prints doubles
// exactly), so equal keys mean equal tables.
std::string TableKey(const GateSpec& g, double celsius, const TableRange& r,
                     Integrator integrator, double dt_ms) {
  std::string key =
      absl::StrFormat("%a|%a|%a|%a|%a|%d|%a|%a|%a|", celsius, r.v_min_mv,
                      r.v_max_mv, r.dv_mv, dt_ms, static_cast<int>(integrator),
                      g.q10, g.q10_ref_celsius, g.tau_min_ms);
  auto rate = [&key](const RateFunction& f) {
    absl::StrAppendFormat(&key, "%d,%a,%a,%a;", static_cast<int>(f.form),
                          f.rate_per_ms, f.v_half_mv, f.slope_mv);
  };
  if (const auto* ab = std::get_if<AlphaBeta>(&g.kinetics)) {
    key += "ab:";
    rate(ab->alpha);
    rate(ab->beta);
  } else if (const auto* it = std::get_if<InfTau>(&g.kinetics)) {
    absl::StrAppendFormat(
        &key, "it:%a,%a,%d,%a,%a,%a,%a,%a,%a;", it->inf_v_half_mv,
        it->inf_slope_mv, static_cast<int>(it->tau_form), it->tau_ms,
        it->bell.base_ms, it->bell.amplitude_ms, it->bell.v_center_mv,
        it->bell.slope_rise_mv, it->bell.slope_fall_mv);
    if (it->tau_form == TauForm::kTable) {
      for (std::size_t i = 0; i < it->table_v_mv.size(); ++i)
        absl::StrAppendFormat(
            &key, "%a:%a,", it->table_v_mv[i],
            i < it->table_tau_ms.size() ? it->table_tau_ms[i] : 0.0);
    }
  } else if (const auto* ex = std::get_if<ExpressionRates>(&g.kinetics)) {
    absl::StrAppend(&key, "ex:", ex->alpha_beta ? 1 : 0, ":", ex->first.size(),
                    ":", ex->first, ":", ex->second);
  } else {
    const NativeKinetics* nk = std::get<const NativeKinetics*>(g.kinetics);
    absl::StrAppend(&key, "nat:", nk ? nk->id : "null");
  }
  return key;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const RateTable>> RateTableCache::GetOrBuild(
    const GateSpec& gate, double celsius, const TableRange& range,
    Integrator integrator, double dt_ms, std::string path) {
  std::string key = TableKey(gate, celsius, range, integrator, dt_ms);
  if (auto it = tables_.find(key); it != tables_.end()) return it->second;
  absl::StatusOr<GateEvaluator> ev =
      GateEvaluator::Create(gate, celsius, std::move(path));
  if (!ev.ok()) return ev.status();
  absl::StatusOr<std::shared_ptr<const RateTable>> table =
      RateTable::Build(*ev, range, integrator, dt_ms);
  if (!table.ok()) return table.status();
  tables_.emplace(std::move(key), *table);
  return *table;
}

}  // namespace dynclamp::rt
