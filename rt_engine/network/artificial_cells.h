// Artificial spiking cells and spike generators (NEURON book ch. 10): cells
// whose state is computed analytically at event times only.
//
//   IntFire1  tau m' = -m; an event adds w; m > 1 fires, then an absolute
//             refractory period (events ignored) ends with m = 0.
//   IntFire2  taus i' = ib - i, taum m' = i - m (taum < taus); an event adds
//             w to i; the firing time is found by a safeguarded Newton
//             search on the analytic m(t); firing resets m only.
//   IntFire4  e' = -ke e, i1' = -ki1 i1, i2' = -ki2 i2 + ai1 i1,
//             m' = -km m + ae e + ai2 i2 (ke > ki1 > ki2 > km); w > 0 adds to
//             e, w < 0 to i1; a, normalized so a lone event of weight w peaks
//             at w in m. The firing time is approached by single Newton steps
//             t + (1 - m)/m' taken at each event and at self-events, which
//             never overshoot because m is concave where they are taken.
//   VecStim   emits the given spike times.
//   NetStim   regular or Poisson-like trains: start, interval, number and
//             noise (0 = regular, 1 = Poisson) as NEURON's NetStim; seeded.
//
// Each cell owns one timer (self-event). The caller (the network) supplies
// a Context that fires output spikes and sets the cell's timer.
//
// Threads: Validate/Prepare non-RT; everything else RT-safe.
#ifndef DYNCLAMP_RT_ENGINE_NETWORK_ARTIFICIAL_CELLS_H_
#define DYNCLAMP_RT_ENGINE_NETWORK_ARTIFICIAL_CELLS_H_

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "rt_engine/base/random.h"
#include "rt_engine/models/param_info.h"
#include "rt_engine/models/param_table.h"

namespace dynclamp::rt {

enum class ArtificialKind : uint8_t {
  kIntFire1,
  kIntFire2,
  kIntFire4,
  kVecStim,
  kNetStim
};

struct ArtificialParams {
  ArtificialKind kind = ArtificialKind::kIntFire1;
  // IntFire1
  double tau_ms = 10.0;
  double refrac_ms = 5.0;
  // IntFire2
  double taum_ms = 10.0;
  double taus_ms = 20.0;
  double ib = 0.0;
  // IntFire4
  double taue_ms = 5.0;
  double taui1_ms = 10.0;
  double taui2_ms = 20.0;
  double taum4_ms = 50.0;
  // VecStim
  std::vector<double> spike_times_ms{};
  // NetStim
  double interval_ms = 10.0;
  double number = 10.0;
  double start_ms = 50.0;
  double noise = 0.0;
  uint64_t seed = 1;
};

// The parameters each kind reads, declared once.
namespace artificial_tables {
using P = ArtificialParams;
inline constexpr ParamTable kIntFire1{std::array<Param<P>, 2>{{
    {{"tau_ms", "ms", 10.0, 0.0, 1e6, true, false, "membrane time constant"},
     &P::tau_ms},
    {{"refrac_ms", "ms", 5.0, 0.0, 1e6, false, false,
      "absolute refractory period"},
     &P::refrac_ms},
}}};
inline constexpr ParamTable kIntFire2{std::array<Param<P>, 3>{{
    {{"taum_ms", "ms", 10.0, 0.0, 1e6, true, false, "membrane time constant"},
     &P::taum_ms},
    {{"taus_ms", "ms", 20.0, 0.0, 1e6, true, false,
      "synaptic current time constant"},
     &P::taus_ms},
    {{"ib", "1", 0.0, -1e3, 1e3, false, false, "bias current (threshold = 1)"},
     &P::ib},
}}};
inline constexpr ParamTable kIntFire4{std::array<Param<P>, 4>{{
    {{"taue_ms", "ms", 5.0, 0.0, 1e6, true, false,
      "excitatory current time constant"},
     &P::taue_ms},
    {{"taui1_ms", "ms", 10.0, 0.0, 1e6, true, false,
      "inhibitory rise time constant"},
     &P::taui1_ms},
    {{"taui2_ms", "ms", 20.0, 0.0, 1e6, true, false,
      "inhibitory decay time constant"},
     &P::taui2_ms},
    {{"taum_ms", "ms", 50.0, 0.0, 1e6, true, false, "membrane time constant"},
     &P::taum4_ms},
}}};
inline constexpr ParamTable kVecStim{std::array<Param<P>, 0>{}};
inline constexpr ParamTable kNetStim{std::array<Param<P>, 4>{{
    {{"interval_ms", "ms", 10.0, 0.0, 1e9, true, false, "mean interval"},
     &P::interval_ms},
    {{"number", "1", 10.0, 0.0, 1e9, false, false, "spikes to emit"},
     &P::number},
    {{"start_ms", "ms", 50.0, 0.0, 1e9, false, false, "first spike (noise 0)"},
     &P::start_ms},
    {{"noise", "1", 0.0, 0.0, 1.0, false, false, "0 regular ... 1 Poisson"},
     &P::noise},
}}};
// In ArtificialKind order.
inline constexpr std::array<ParamSpan<P>, 5> kByKind = {
    kIntFire1.rows(), kIntFire2.rows(), kIntFire4.rows(), kVecStim.rows(),
    kNetStim.rows()};
// Each kind's name, the spec's field that chooses it, in the same order.
inline constexpr std::array<absl::string_view, 5> kNames = {
    "int_fire1", "int_fire2", "int_fire4", "vec_stim", "net_stim"};
}  // namespace artificial_tables
// kind, spike_times_ms, seed
DYNCLAMP_PARAMS_COVER_KINDS(ArtificialParams, artificial_tables::kByKind, 3);

inline constexpr std::array<ArtificialKind, 5> kArtificialKinds = {
    ArtificialKind::kIntFire1, ArtificialKind::kIntFire2,
    ArtificialKind::kIntFire4, ArtificialKind::kVecStim,
    ArtificialKind::kNetStim};
constexpr absl::string_view ArtificialKindName(ArtificialKind kind) {
  return artificial_tables::kNames[static_cast<std::size_t>(kind)];
}
// The parameters `kind` reads (the others are unused by it).
constexpr ParamSpan<ArtificialParams> ArtificialParamTable(
    ArtificialKind kind) {
  return artificial_tables::kByKind[static_cast<std::size_t>(kind)];
}
// Params of `kind` with that kind's defaults.
ArtificialParams ArtificialDefaults(ArtificialKind kind);
absl::Status ValidateArtificial(const ArtificialParams& p,
                                absl::string_view path);

struct ArtificialCoeffs {
  // IntFire4 rate constants and normalizations.
  double ke = 0, ki1 = 0, ki2 = 0, km = 0, ae = 0, ai1 = 0, ai2 = 0;
};
ArtificialCoeffs PrepareArtificial(const ArtificialParams& p);

struct ArtificialState {
  double m = 0, i = 0, e = 0, i1 = 0, i2 = 0;  // model states at t0
  double t0 = 0;
  bool refractory = false;
  uint32_t next_spike = 0;  // VecStim index / NetStim count
  Rng rng{1};
};

class ArtificialContext {
 public:
  virtual void Fire(double t_ms) noexcept = 0;      // output spike
  virtual void SetTimer(double t_ms) noexcept = 0;  // kNever: off
  virtual double TimerTime() const noexcept = 0;

 protected:
  ~ArtificialContext() = default;
};

// RT. Start of the run (t = 0): states reset, first timers set.
void InitArtificial(const ArtificialParams& p, const ArtificialCoeffs& c,
                    ArtificialState& s, ArtificialContext& ctx) noexcept;
// RT. An input event of weight w at t (IntFire only).
void ArtificialReceive(const ArtificialParams& p, const ArtificialCoeffs& c,
                       ArtificialState& s, ArtificialContext& ctx, double w,
                       double t) noexcept;
// RT. The cell's own timer fired at t.
void ArtificialTimer(const ArtificialParams& p, const ArtificialCoeffs& c,
                     ArtificialState& s, ArtificialContext& ctx,
                     double t) noexcept;
// RT. The "membrane" state m at time t >= t0, for recording (IntFire1/2/4;
// IntFire1 reports 2 while refractory as NEURON's M does... here: m).
double ArtificialM(const ArtificialParams& p, const ArtificialCoeffs& c,
                   const ArtificialState& s, double t) noexcept;

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_NETWORK_ARTIFICIAL_CELLS_H_
