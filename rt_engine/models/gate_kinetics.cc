#include "rt_engine/models/gate_kinetics.h"

#include <muParser.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rt_engine/models/param_info.h"

namespace dynclamp::rt {

double RateFunction::operator()(double v_mv) const noexcept {
  const double x = (v_mv - v_half_mv) / slope_mv;
  switch (form) {
    case RateForm::kExponential:
      return rate_per_ms * std::exp(x);
    case RateForm::kSigmoid:
      return rate_per_ms / (1.0 + std::exp(-x));
    case RateForm::kLinoid:
      // x / (1 - e^-x) -> 1 + x/2 near 0 (removable singularity).
      if (std::fabs(x) < 1e-6) return rate_per_ms * (1.0 + 0.5 * x);
      return rate_per_ms * x / (1.0 - std::exp(-x));
  }
  return 0.0;
}

double TauBell::operator()(double v_mv) const noexcept {
  const double d = v_mv - v_center_mv;
  return base_ms + amplitude_ms / (std::exp(d / slope_rise_mv) +
                                   std::exp(-d / slope_fall_mv));
}

namespace {

double Sigmoid(double v, double v_half, double slope) {
  return 1.0 / (1.0 + std::exp(-(v - v_half) / slope));
}

double InterpolateTau(const std::vector<double>& v_pts,
                      const std::vector<double>& tau_pts, double v) {
  if (v <= v_pts.front()) return tau_pts.front();
  if (v >= v_pts.back()) return tau_pts.back();
  const auto it = std::upper_bound(v_pts.begin(), v_pts.end(), v);
  const std::size_t i = static_cast<std::size_t>(it - v_pts.begin()) - 1;
  const double f = (v - v_pts[i]) / (v_pts[i + 1] - v_pts[i]);
  return tau_pts[i] + f * (tau_pts[i + 1] - tau_pts[i]);
}

absl::Status CheckRateFunction(const RateFunction& r, absl::string_view path,
                               absl::string_view which) {
  const std::string field = absl::StrCat(path, ".", which);
  if (!std::isfinite(r.rate_per_ms) || r.rate_per_ms < 0) {
    return FieldError(
        field, "rate_per_ms",
        absl::StrFormat("must be finite and >= 0, got %g", r.rate_per_ms));
  }
  if (!std::isfinite(r.v_half_mv) || std::fabs(r.v_half_mv) > 1000) {
    return FieldError(
        field, "v_half_mv",
        absl::StrFormat("must be in [-1000, 1000] mV, got %g", r.v_half_mv));
  }
  if (!std::isfinite(r.slope_mv) || r.slope_mv == 0 ||
      std::fabs(r.slope_mv) > 1000) {
    return FieldError(
        field, "slope_mv",
        absl::StrFormat("must be non-zero and within +-1000 mV, got %g",
                        r.slope_mv));
  }
  return absl::OkStatus();
}

}  // namespace

struct GateEvaluator::Impl {
  GateSpec spec;
  double celsius = 0;
  double phi = 1;
  std::string path;
  // Expression kinetics: muparser keeps a pointer to `v`, so Impl must not
  // move once the parsers are set up (it lives behind a unique_ptr).
  mutable double v = 0;
  mu::Parser first;
  mu::Parser second;
};

GateEvaluator::GateEvaluator() : impl_(std::make_unique<Impl>()) {}
GateEvaluator::GateEvaluator(GateEvaluator&&) noexcept = default;
GateEvaluator& GateEvaluator::operator=(GateEvaluator&&) noexcept = default;
GateEvaluator::~GateEvaluator() = default;

absl::StatusOr<GateEvaluator> GateEvaluator::Create(const GateSpec& spec,
                                                    double celsius,
                                                    std::string path) {
  if (spec.power < 0 || spec.power > 8) {
    return FieldError(
        path, "power",
        absl::StrFormat("must be an integer in [0, 8], got %d", spec.power));
  }
  if (!std::isfinite(spec.q10) || spec.q10 <= 0 || spec.q10 > 100) {
    return FieldError(path, "q10",
                      absl::StrFormat("must be in (0, 100], got %g", spec.q10));
  }
  if (!std::isfinite(spec.q10_ref_celsius) || spec.q10_ref_celsius < -10 ||
      spec.q10_ref_celsius > 60) {
    return FieldError(path, "q10_ref_celsius",
                      absl::StrFormat("must be in [-10, 60] degC, got %g",
                                      spec.q10_ref_celsius));
  }
  if (!std::isfinite(spec.tau_min_ms) || spec.tau_min_ms < 0 ||
      spec.tau_min_ms > 1e6) {
    return FieldError(
        path, "tau_min_ms",
        absl::StrFormat("must be in [0, 1e6] ms, got %g", spec.tau_min_ms));
  }
  GateEvaluator ev;
  Impl& impl = *ev.impl_;
  impl.spec = spec;
  impl.celsius = celsius;
  impl.phi = std::pow(spec.q10, (celsius - spec.q10_ref_celsius) / 10.0);
  impl.path = path;

  if (const auto* ab = std::get_if<AlphaBeta>(&spec.kinetics)) {
    if (auto s = CheckRateFunction(ab->alpha, path, "alpha"); !s.ok()) return s;
    if (auto s = CheckRateFunction(ab->beta, path, "beta"); !s.ok()) return s;
  } else if (const auto* it = std::get_if<InfTau>(&spec.kinetics)) {
    if (!std::isfinite(it->inf_v_half_mv) ||
        std::fabs(it->inf_v_half_mv) > 1000)
      return FieldError(path, "inf_v_half_mv", "must be in [-1000, 1000] mV");
    if (!std::isfinite(it->inf_slope_mv) || it->inf_slope_mv == 0)
      return FieldError(path, "inf_slope_mv", "must be finite and non-zero");
    switch (it->tau_form) {
      case TauForm::kConstant:
        if (!std::isfinite(it->tau_ms) || it->tau_ms <= 0)
          return FieldError(
              path, "tau_ms",
              absl::StrFormat("must be > 0 ms, got %g", it->tau_ms));
        break;
      case TauForm::kBell: {
        const TauBell& b = it->bell;
        if (!std::isfinite(b.base_ms) || b.base_ms < 0)
          return FieldError(path, "bell.base_ms", "must be finite and >= 0");
        if (!std::isfinite(b.amplitude_ms) || b.amplitude_ms < 0)
          return FieldError(path, "bell.amplitude_ms",
                            "must be finite and >= 0");
        if (b.base_ms + b.amplitude_ms <= 0)
          return FieldError(path, "bell",
                            "base_ms + amplitude_ms must be > 0 (tau > 0)");
        if (!std::isfinite(b.v_center_mv))
          return FieldError(path, "bell.v_center_mv", "must be finite");
        if (!std::isfinite(b.slope_rise_mv) || b.slope_rise_mv <= 0)
          return FieldError(path, "bell.slope_rise_mv", "must be > 0 mV");
        if (!std::isfinite(b.slope_fall_mv) || b.slope_fall_mv <= 0)
          return FieldError(path, "bell.slope_fall_mv", "must be > 0 mV");
        break;
      }
      case TauForm::kTable: {
        const auto& vs = it->table_v_mv;
        const auto& ts = it->table_tau_ms;
        if (vs.size() < 2 || vs.size() != ts.size())
          return FieldError(
              path, "tau_table",
              "needs at least 2 points and as many V as tau values");
        for (std::size_t i = 0; i < vs.size(); ++i) {
          if (!std::isfinite(vs[i]) || (i > 0 && vs[i] <= vs[i - 1]))
            return FieldError(path, absl::StrCat("tau_table.v_mv[", i, "]"),
                              "V must be finite and strictly increasing");
          if (!std::isfinite(ts[i]) || ts[i] <= 0)
            return FieldError(path, absl::StrCat("tau_table.tau_ms[", i, "]"),
                              absl::StrFormat("must be > 0 ms, got %g", ts[i]));
        }
        break;
      }
    }
  } else if (const auto* ex = std::get_if<ExpressionRates>(&spec.kinetics)) {
    const char* first_name = ex->alpha_beta ? "alpha_expr" : "inf_expr";
    const char* second_name = ex->alpha_beta ? "beta_expr" : "tau_expr";
    auto setup = [&](mu::Parser& p, const std::string& text,
                     const char* field) -> absl::Status {
      if (text.empty()) return FieldError(path, field, "is empty");
      try {
        p.DefineVar("V", &impl.v);
        p.DefineVar("v", &impl.v);
        p.DefineConst("celsius", celsius);
        p.SetExpr(text);
        impl.v = -65.0;
        p.Eval();  // forces the parse now so syntax errors surface here
      } catch (const mu::Parser::exception_type& e) {
        return FieldError(path, field,
                          absl::StrCat("does not parse: ", e.GetMsg()));
      }
      return absl::OkStatus();
    };
    if (auto s = setup(impl.first, ex->first, first_name); !s.ok()) return s;
    if (auto s = setup(impl.second, ex->second, second_name); !s.ok()) return s;
  } else {
    const NativeKinetics* nk = std::get<const NativeKinetics*>(spec.kinetics);
    if (nk == nullptr || nk->rates == nullptr)
      return FieldError(path, "kinetics", "native kinetics are missing");
  }
  return ev;
}

absl::StatusOr<GateRates> GateEvaluator::Evaluate(double v_mv) const {
  const Impl& impl = *impl_;
  const std::string& path = impl.path;
  double inf = 0, tau = 0;
  if (const auto* ab = std::get_if<AlphaBeta>(&impl.spec.kinetics)) {
    const double a = ab->alpha(v_mv), b = ab->beta(v_mv);
    if (!std::isfinite(a) || a < 0)
      return FieldError(
          path, "alpha",
          absl::StrFormat("is %g at V = %g mV (must be finite, >= 0)", a,
                          v_mv));
    if (!std::isfinite(b) || b < 0)
      return FieldError(
          path, "beta",
          absl::StrFormat("is %g at V = %g mV (must be finite, >= 0)", b,
                          v_mv));
    if (a + b <= 0)
      return FieldError(
          path, "alpha+beta",
          absl::StrFormat("is 0 at V = %g mV: tau is infinite", v_mv));
    inf = a / (a + b);
    tau = 1.0 / (a + b);
  } else if (const auto* it = std::get_if<InfTau>(&impl.spec.kinetics)) {
    inf = Sigmoid(v_mv, it->inf_v_half_mv, it->inf_slope_mv);
    switch (it->tau_form) {
      case TauForm::kConstant:
        tau = it->tau_ms;
        break;
      case TauForm::kBell:
        tau = it->bell(v_mv);
        break;
      case TauForm::kTable:
        tau = InterpolateTau(it->table_v_mv, it->table_tau_ms, v_mv);
        break;
    }
  } else if (const auto* ex =
                 std::get_if<ExpressionRates>(&impl.spec.kinetics)) {
    impl.v = v_mv;
    double f = 0, s = 0;
    try {
      f = impl.first.Eval();
      s = impl.second.Eval();
    } catch (const mu::Parser::exception_type& e) {
      return FieldError(
          path, ex->alpha_beta ? "alpha_expr" : "inf_expr",
          absl::StrCat("fails at V = ", v_mv, " mV: ", e.GetMsg()));
    }
    const char* fn = ex->alpha_beta ? "alpha_expr" : "inf_expr";
    const char* sn = ex->alpha_beta ? "beta_expr" : "tau_expr";
    if (!std::isfinite(f))
      return FieldError(
          path, fn,
          absl::StrFormat("is %g at V = %g mV (must be finite)", f, v_mv));
    if (!std::isfinite(s))
      return FieldError(
          path, sn,
          absl::StrFormat("is %g at V = %g mV (must be finite)", s, v_mv));
    if (ex->alpha_beta) {
      if (f < 0)
        return FieldError(
            path, fn,
            absl::StrFormat("is negative (%g) at V = %g mV", f, v_mv));
      if (s < 0)
        return FieldError(
            path, sn,
            absl::StrFormat("is negative (%g) at V = %g mV", s, v_mv));
      if (f + s <= 0)
        return FieldError(
            path, "alpha+beta",
            absl::StrFormat("is 0 at V = %g mV: tau is infinite", v_mv));
      inf = f / (f + s);
      tau = 1.0 / (f + s);
    } else {
      inf = f;
      tau = s;
    }
  } else {
    const NativeKinetics* nk =
        std::get<const NativeKinetics*>(impl.spec.kinetics);
    const GateRates r = nk->rates(v_mv, impl.celsius);
    inf = r.inf;
    tau = r.tau_ms;
  }
  tau = std::max(tau / impl.phi, impl.spec.tau_min_ms);
  if (!std::isfinite(inf) || inf < -1e-9 || inf > 1 + 1e-9)
    return FieldError(
        path, "inf",
        absl::StrFormat("is %g at V = %g mV (must be in [0, 1])", inf, v_mv));
  if (!std::isfinite(tau) || tau <= 0)
    return FieldError(
        path, "tau",
        absl::StrFormat("is %g ms at V = %g mV (must be > 0)", tau, v_mv));
  return GateRates{std::clamp(inf, 0.0, 1.0), tau};
}

GateRates FastGate::Eval(double v_mv) const noexcept {
  double inf = 0, tau = 0;
  switch (kind) {
    case Kind::kAlphaBeta: {
      const double a = alpha(v_mv), b = beta(v_mv);
      inf = a / (a + b);
      tau = 1.0 / (a + b);
      break;
    }
    case Kind::kInfTau:
      inf = Sigmoid(v_mv, inf_v_half_mv, inf_slope_mv);
      tau = tau_bell ? bell(v_mv) : tau_const_ms;
      break;
    case Kind::kNative: {
      const GateRates r = native->rates(v_mv, celsius);
      inf = r.inf;
      tau = r.tau_ms;
      break;
    }
  }
  tau = tau / phi;
  if (tau < tau_min_ms) tau = tau_min_ms;
  return {inf, tau};
}

absl::StatusOr<FastGate> MakeFastGate(const GateSpec& spec, double celsius) {
  FastGate g;
  g.celsius = celsius;
  g.phi = std::pow(spec.q10, (celsius - spec.q10_ref_celsius) / 10.0);
  g.tau_min_ms = spec.tau_min_ms;
  if (const auto* ab = std::get_if<AlphaBeta>(&spec.kinetics)) {
    g.kind = FastGate::Kind::kAlphaBeta;
    g.alpha = ab->alpha;
    g.beta = ab->beta;
  } else if (const auto* it = std::get_if<InfTau>(&spec.kinetics)) {
    if (it->tau_form == TauForm::kTable)
      return absl::InvalidArgumentError("tabulated tau has no closed form");
    g.kind = FastGate::Kind::kInfTau;
    g.inf_v_half_mv = it->inf_v_half_mv;
    g.inf_slope_mv = it->inf_slope_mv;
    g.tau_bell = it->tau_form == TauForm::kBell;
    g.tau_const_ms = it->tau_ms;
    g.bell = it->bell;
  } else if (const auto* nk =
                 std::get_if<const NativeKinetics*>(&spec.kinetics)) {
    g.kind = FastGate::Kind::kNative;
    g.native = *nk;
  } else {
    return absl::InvalidArgumentError(
        "expression kinetics have no closed form");
  }
  return g;
}

}  // namespace dynclamp::rt
