#include "rt_engine/models/channel_presets.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace dynclamp::rt {
namespace {

// ---- Migliore et al. (1999) CA1 soma ----------------------------------
// Rates with a removable singularity at v = th: a (v - th)/(1 - e^-(v-th)/q).
double Trap(double v, double th, double a, double q) {
  const double d = v - th;
  if (std::fabs(d) < 1e-6) return a * q;
  return a * d / (1.0 - std::exp(-d / q));
}
// Boltzmann factor exp(zeta * dv * F / (R T)) with dv in mV.
double Boltzmann(double zeta, double dv_mv, double celsius) {
  constexpr double kFaraday = 9.648e4;  // C/mol
  constexpr double kGasR = 8.315;       // J/(mol K)
  return std::exp(1e-3 * zeta * dv_mv * kFaraday /
                  (kGasR * (273.16 + celsius)));
}
double NaQt(double celsius) { return std::pow(2.0, (celsius - 24.0) / 10.0); }

GateRates NaM(double v, double c) noexcept {
  const double a = Trap(v, -30.0, 0.4, 7.2), b = Trap(-v, 30.0, 0.124, 7.2);
  return {a / (a + b), std::max(1.0 / (a + b) / NaQt(c), 0.02)};
}
GateRates NaH(double v, double c) noexcept {
  const double a = Trap(v, -45.0, 0.03, 1.5), b = Trap(-v, 45.0, 0.01, 1.5);
  return {1.0 / (1.0 + std::exp((v + 50.0) / 4.0)),
          std::max(1.0 / (a + b) / NaQt(c), 0.5)};
}
GateRates KdrN(double v, double c) noexcept {
  const double a = Boltzmann(-3.0, v - 13.0, c);
  const double b = Boltzmann(-3.0 * 0.7, v - 13.0, c);
  return {1.0 / (1.0 + a), std::max(b / (0.02 * (1.0 + a)), 2.0)};  // q10 = 1
}
GateRates KaN(double v, double c) noexcept {
  const double zeta = -1.5 - 1.0 / (1.0 + std::exp((v + 40.0) / 5.0));
  const double a = Boltzmann(zeta, v - 11.0, c);
  const double b = Boltzmann(zeta * 0.55, v - 11.0, c);
  const double qt = std::pow(5.0, (c - 24.0) / 10.0);
  return {1.0 / (1.0 + a), std::max(b / (qt * 0.05 * (1.0 + a)), 0.1)};
}
GateRates KaL(double v, double c) noexcept {
  return {1.0 / (1.0 + Boltzmann(3.0, v + 56.0, c)),
          std::max(0.26 * (v + 50.0), 2.0)};
}

constexpr double kCa1Celsius = 35.0;

GateSpec NativeGate(std::string name, int power, const NativeKinetics* k) {
  GateSpec g;
  g.name = std::move(name);
  g.power = power;
  g.kinetics = k;
  return g;
}

RateFunction Rate(RateForm form, double a, double vh, double k) {
  return RateFunction{form, a, vh, k};
}

GateSpec AlphaBetaGate(std::string name, int power, RateFunction alpha,
                       RateFunction beta, double q10, double ref_celsius) {
  GateSpec g;
  g.name = std::move(name);
  g.power = power;
  g.kinetics = AlphaBeta{alpha, beta};
  g.q10 = q10;
  g.q10_ref_celsius = ref_celsius;
  return g;
}

HhChannel::Params Channel(double g_ns, double e_mv, double celsius,
                          std::vector<GateSpec> gates) {
  HhChannel::Params p;
  p.g_max_ns = g_ns;
  p.e_rev_mv = e_mv;
  p.celsius = celsius;
  p.gates = std::move(gates);
  return p;
}

// tau = 1 / (exp(c1 + s1 V) + exp(c2 - s2 V)) rewritten in TauBell's
// center/slope form: amplitude / (exp((V-Vc)/k1) + exp(-(V-Vc)/k2)).
TauBell BellFromExponents(double c1, double s1, double c2, double s2) {
  TauBell b;
  b.base_ms = 0.0;
  b.slope_rise_mv = 1.0 / s1;
  b.slope_fall_mv = 1.0 / s2;
  b.v_center_mv = (c2 - c1) / (s1 + s2);
  b.amplitude_ms = std::exp(-(c1 + s1 * b.v_center_mv));
  return b;
}

constexpr PresetInfo kPresets[] = {
    {"hh_na", "Hodgkin-Huxley squid Na+ (m^3 h), E = 50 mV"},
    {"hh_k", "Hodgkin-Huxley squid delayed-rectifier K+ (n^4), E = -77 mV"},
    {"hh_leak", "Hodgkin-Huxley squid leak, E = -54.387 mV"},
    {"ca1_na", "CA1 pyramidal transient Na+ (m^3 h), Migliore 1999, 35 degC"},
    {"ca1_kdr", "CA1 pyramidal delayed-rectifier K+ (n), Migliore 1999"},
    {"ca1_ka", "CA1 pyramidal A-type K+ (n l), Migliore 1999"},
    {"ca1_leak", "CA1 pyramidal passive leak (Rm = 28 kOhm cm^2, -65 mV)"},
    {"ih", "hyperpolarization-activated cation current (m), E = -43 mV"},
    {"km", "M-type K+ current (n), E = -90 mV"},
};

}  // namespace

const NativeKinetics kCa1NaM{"ca1_na.m", &NaM};
const NativeKinetics kCa1NaH{"ca1_na.h", &NaH};
const NativeKinetics kCa1KdrN{"ca1_kdr.n", &KdrN};
const NativeKinetics kCa1KaN{"ca1_ka.n", &KaN};
const NativeKinetics kCa1KaL{"ca1_ka.l", &KaL};

std::span<const PresetInfo> ListPresets() { return kPresets; }

absl::StatusOr<PresetParams> MakePreset(absl::string_view name) {
  using RF = RateForm;
  if (name == "hh_na") {
    return Channel(
        ReferenceNs(0.120), 50.0, 6.3,
        {AlphaBetaGate("m", 3, Rate(RF::kLinoid, 1.0, -40.0, 10.0),
                       Rate(RF::kExponential, 4.0, -65.0, -18.0), 3.0, 6.3),
         AlphaBetaGate("h", 1, Rate(RF::kExponential, 0.07, -65.0, -20.0),
                       Rate(RF::kSigmoid, 1.0, -35.0, 10.0), 3.0, 6.3)});
  }
  if (name == "hh_k") {
    return Channel(
        ReferenceNs(0.036), -77.0, 6.3,
        {AlphaBetaGate("n", 4, Rate(RF::kLinoid, 0.1, -55.0, 10.0),
                       Rate(RF::kExponential, 0.125, -65.0, -80.0), 3.0, 6.3)});
  }
  if (name == "hh_leak") {
    return ConstantConductance::Params{ReferenceNs(0.0003), -54.387};
  }
  if (name == "ca1_na") {
    return Channel(
        ReferenceNs(0.032), 55.0, kCa1Celsius,
        {NativeGate("m", 3, &kCa1NaM), NativeGate("h", 1, &kCa1NaH)});
  }
  if (name == "ca1_kdr") {
    return Channel(ReferenceNs(0.01), -90.0, kCa1Celsius,
                   {NativeGate("n", 1, &kCa1KdrN)});
  }
  if (name == "ca1_ka") {
    return Channel(
        ReferenceNs(0.048), -90.0, kCa1Celsius,
        {NativeGate("n", 1, &kCa1KaN), NativeGate("l", 1, &kCa1KaL)});
  }
  if (name == "ca1_leak") {
    return ConstantConductance::Params{ReferenceNs(1.0 / 28000.0), -65.0};
  }
  if (name == "ih") {
    GateSpec m;
    m.name = "m";
    m.power = 1;
    InfTau it;
    it.inf_v_half_mv = -75.0;
    it.inf_slope_mv = -5.5;
    it.tau_form = TauForm::kBell;
    it.bell = BellFromExponents(-1.87, 0.0701, -14.59, 0.086);
    m.kinetics = it;
    return Channel(ReferenceNs(0.0001), -43.0, 36.0, {m});
  }
  if (name == "km") {
    return Channel(
        ReferenceNs(0.001), -90.0, 36.0,
        {AlphaBetaGate("n", 1, Rate(RF::kLinoid, 0.009, -30.0, 9.0),
                       Rate(RF::kLinoid, 0.009, -30.0, -9.0), 2.3, 23.0)});
  }
  return absl::NotFoundError(
      absl::StrCat("preset: no channel preset named '", name, "'"));
}

}  // namespace dynclamp::rt
