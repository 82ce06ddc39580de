// Gate kinetics of Hodgkin-Huxley-type channels: how a gate's steady state
// x_inf(V) and time constant tau_x(V) are given, and how they are evaluated.
//
// A gate is given in one of four ways:
//  - AlphaBeta: opening and closing rates in standard parametric forms
//    (x_inf = a/(a+b), tau = 1/(a+b));
//  - InfTau: a sigmoid x_inf with a constant, bell-shaped or tabulated tau;
//  - ExpressionRates: alpha/beta or inf/tau as expressions of V (muparser);
//  - NativeKinetics: compiled functions of V and temperature (the presets).
// Temperature: rates are multiplied by q10^((celsius - q10_ref_celsius)/10)
// (tau divided), then tau is floored at tau_min_ms.
//
// Threads: GateSpec and GateEvaluator are non-RT (they may parse and throw
// inside muparser, and allocate). RateFunction, TauBell and FastGate are
// plain data whose evaluation is RT-safe.
#ifndef DYNCLAMP_RT_ENGINE_MODELS_GATE_KINETICS_H_
#define DYNCLAMP_RT_ENGINE_MODELS_GATE_KINETICS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rt_engine/base/enum_names.h"

namespace dynclamp::rt {

enum class Integrator : uint8_t { kExpEuler, kRk4, kForwardEuler };
inline constexpr EnumNames<Integrator, Integrator::kExpEuler,
                           Integrator::kForwardEuler>
    kIntegratorNames("exp_euler", "rk4", "forward_euler");
inline absl::string_view IntegratorName(Integrator integrator) {
  return kIntegratorNames.Name(integrator);
}

// Units: V in mV, rates in 1/ms, tau in ms.
enum class RateForm : uint8_t {
  kExponential,  // r = A exp((V - Vh)/k)
  kSigmoid,      // r = A / (1 + exp(-(V - Vh)/k))
  kLinoid,       // r = A x / (1 - exp(-x)), x = (V - Vh)/k; r(Vh) = A
};
inline constexpr EnumNames<RateForm, RateForm::kExponential, RateForm::kLinoid>
    kRateFormNames("exponential", "sigmoid", "linoid");
inline absl::string_view RateFormName(RateForm form) {
  return kRateFormNames.Name(form);
}

struct RateFunction {
  RateForm form = RateForm::kExponential;
  double rate_per_ms = 0;  // A
  double v_half_mv = 0;    // Vh
  double slope_mv = 1;     // k (sign chooses the direction)
  double operator()(double v_mv) const noexcept;
};

// tau = base + amplitude / (exp((V - Vc)/k_rise) + exp(-(V - Vc)/k_fall))
struct TauBell {
  double base_ms = 0;
  double amplitude_ms = 1;
  double v_center_mv = 0;
  double slope_rise_mv = 10;
  double slope_fall_mv = 10;
  double operator()(double v_mv) const noexcept;
};

struct GateRates {
  double inf;
  double tau_ms;
};

// inf and tau computed together: they share most of their exponentials.
using NativeRatesFn = GateRates (*)(double v_mv, double celsius) noexcept;
struct NativeKinetics {
  absl::string_view id;  // e.g. "ca1_na.m"
  NativeRatesFn rates;
};

struct AlphaBeta {
  RateFunction alpha;
  RateFunction beta;
};

enum class TauForm : uint8_t { kConstant, kBell, kTable };
struct InfTau {
  double inf_v_half_mv = 0;  // x_inf = 1 / (1 + exp(-(V - Vh)/k))
  double inf_slope_mv = 1;   // k > 0 activates with depolarization
  TauForm tau_form = TauForm::kConstant;
  double tau_ms = 1;                 // kConstant
  TauBell bell;                      // kBell
  std::vector<double> table_v_mv;    // kTable: strictly increasing V,
  std::vector<double> table_tau_ms;  // linear between points, flat beyond
};

struct ExpressionRates {
  bool alpha_beta = true;  // true: (alpha, beta); false: (inf, tau)
  std::string first;       // alpha(V) in 1/ms, or inf(V)
  std::string second;      // beta(V) in 1/ms, or tau(V) in ms
};

using GateKineticsForm =
    std::variant<AlphaBeta, InfTau, ExpressionRates, const NativeKinetics*>;

struct GateSpec {
  std::string name;  // "m", "h", "n" ... unique within its channel
  int power = 1;     // exponent in g = g_max prod x^p; 0..8
  GateKineticsForm kinetics;
  double q10 = 1.0;
  double q10_ref_celsius = 6.3;
  double tau_min_ms = 0.0;
};

// Non-RT. Evaluates any GateSpec at a given V after Create() validated its
// scalar fields and compiled its expressions.
class GateEvaluator {
 public:
  // `path` names the gate in messages, e.g. "conductances[1] (na).gates[0]".
  static absl::StatusOr<GateEvaluator> Create(const GateSpec& spec,
                                              double celsius, std::string path);
  GateEvaluator(GateEvaluator&&) noexcept;
  GateEvaluator& operator=(GateEvaluator&&) noexcept;
  ~GateEvaluator();

  // Rates at V with temperature scaling and the tau floor applied. Fails with
  // the field and V if anything is not finite, tau <= 0, inf outside [0, 1]
  // or a rate is negative.
  absl::StatusOr<GateRates> Evaluate(double v_mv) const;

 private:
  GateEvaluator();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// RT-safe evaluator for the closed-form kinetics (AlphaBeta, InfTau with
// constant or bell tau, NativeKinetics). Used by the simulated cells, which
// integrate their own channels exactly rather than through tables.
struct FastGate {
  enum class Kind : uint8_t { kAlphaBeta, kInfTau, kNative };
  Kind kind = Kind::kAlphaBeta;
  RateFunction alpha, beta;
  double inf_v_half_mv = 0, inf_slope_mv = 1;
  bool tau_bell = false;
  double tau_const_ms = 1;
  TauBell bell;
  const NativeKinetics* native = nullptr;
  double celsius = 6.3;
  double phi = 1.0;  // temperature factor on rates
  double tau_min_ms = 0.0;

  GateRates Eval(double v_mv) const noexcept;
};

// Builds a FastGate if `spec` has closed-form kinetics; InvalidArgument
// otherwise (expressions and tabulated tau have no fast form).
absl::StatusOr<FastGate> MakeFastGate(const GateSpec& spec, double celsius);

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_MODELS_GATE_KINETICS_H_
