// Event-driven synapses (NEURON book ch. 10): conductances on a cell that
// jump when an event arrives through a connection and relax between events.
// Weights are in nS (NEURON uses uS); I = g (E - V) in pA.
//
//   ExpSyn    g' = -g/tau;                 event: g += w
//   Exp2Syn   A' = -A/tau1, B' = -B/tau2,  g = B - A;
//             event: A += w f, B += w f    (f normalizes the peak to w)
//   AlphaSyn  a' = -a/tau, g' = (a - g)/tau; event: a += w e
//             (an isolated event peaks at w, tau after it)
//   GSyn      Exp2Syn whose effective weight w (1 + G2 - G1) depends on a
//             use-dependent "G protein" kept per connection (NET_RECEIVE
//             arguments belong to the NetCon), G1/G2 decaying with Gtau1/2
//   AmpaS     saturating synapse: each stream's event starts (or prolongs)
//             a transmitter pulse of Cdur; Ron/Roff pools (Destexhe/Lytton)
//
// Every kind is linear in its state (events and pulses add to it), so
// synapses of one kind with equal parameters on one cell may share one
// state: the cell sees exactly the sum (ModelSet does this for synapses
// whose own signals are not published).
//
// All updates between events are exact for the step. An event that arrived
// at te during the last step is applied at the step boundary tn with its
// evolution over (tn - te) accounted for exactly (linear superposition).
//
// Threads: Validate/Prepare non-RT; Receive/Step RT-safe.
#ifndef DYNCLAMP_RT_ENGINE_NETWORK_EVENT_SYNAPSES_H_
#define DYNCLAMP_RT_ENGINE_NETWORK_EVENT_SYNAPSES_H_

#include <array>
#include <cmath>
#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "rt_engine/models/param_info.h"
#include "rt_engine/models/param_table.h"

namespace dynclamp::rt {

enum class SynapseKind : uint8_t { kExp, kExp2, kAlpha, kGsyn, kAmpa };

// Every event synapse kind uses the same parameter record; each kind reads
// the fields it needs (EventSynapseParamTable(kind)).
struct EventSynapseParams {
  SynapseKind kind = SynapseKind::kExp;
  double e_rev_mv = 0.0;
  double tau_ms = 2.0;     // ExpSyn, AlphaSyn
  double tau1_ms = 0.5;    // Exp2Syn, GSyn rise
  double tau2_ms = 5.0;    // Exp2Syn, GSyn decay
  double gtau1_ms = 20.0;  // GSyn
  double gtau2_ms = 21.0;  // GSyn
  double ginc = 1.0;       // GSyn
  double cdur_ms = 1.0;    // AmpaS
  double alpha_per_ms = 1.1;
  double beta_per_ms = 0.19;
};

// The parameters each kind reads, declared once.
namespace event_synapse_tables {
using P = EventSynapseParams;
inline constexpr Param<P> kERev{
    {"e_rev_mv", "mV", 0.0, -200.0, 200.0, false, false, "reversal potential"},
    &P::e_rev_mv};
inline constexpr ParamTable kExp{std::array<Param<P>, 2>{{
    {{"tau_ms", "ms", 2.0, 0.0, 1e5, true, false, "decay time constant"},
     &P::tau_ms},
    kERev,
}}};
inline constexpr ParamTable kExp2{std::array<Param<P>, 3>{{
    {{"tau1_ms", "ms", 0.5, 0.0, 1e5, true, false, "rise time constant"},
     &P::tau1_ms},
    {{"tau2_ms", "ms", 5.0, 0.0, 1e5, true, false, "decay time constant"},
     &P::tau2_ms},
    kERev,
}}};
inline constexpr ParamTable kAlpha{std::array<Param<P>, 2>{{
    {{"tau_ms", "ms", 2.0, 0.0, 1e5, true, false, "time to peak"}, &P::tau_ms},
    kERev,
}}};
inline constexpr ParamTable kGsyn{std::array<Param<P>, 6>{{
    {{"tau1_ms", "ms", 1.0, 0.0, 1e5, true, false, "rise time constant"},
     &P::tau1_ms},
    {{"tau2_ms", "ms", 1.05, 0.0, 1e5, true, false, "decay time constant"},
     &P::tau2_ms},
    {{"gtau1_ms", "ms", 20.0, 0.0, 1e6, true, false, "G protein rise"},
     &P::gtau1_ms},
    {{"gtau2_ms", "ms", 21.0, 0.0, 1e6, true, false, "G protein decay"},
     &P::gtau2_ms},
    {{"ginc", "1", 1.0, -100.0, 100.0, false, false, "G increment per event"},
     &P::ginc},
    kERev,
}}};
inline constexpr ParamTable kAmpa{std::array<Param<P>, 4>{{
    {{"cdur_ms", "ms", 1.0, 0.0, 1e4, true, false,
      "transmitter pulse duration"},
     &P::cdur_ms},
    {{"alpha_per_ms", "1/ms", 1.1, 0.0, 1e4, true, false, "binding rate"},
     &P::alpha_per_ms},
    {{"beta_per_ms", "1/ms", 0.19, 0.0, 1e4, true, false, "unbinding rate"},
     &P::beta_per_ms},
    kERev,
}}};
// In SynapseKind order.
inline constexpr std::array<ParamSpan<P>, 5> kByKind = {
    kExp.rows(), kExp2.rows(), kAlpha.rows(), kGsyn.rows(), kAmpa.rows()};
// Each kind's name, the spec's field that chooses it, in the same order.
inline constexpr std::array<absl::string_view, 5> kNames = {
    "exp_syn", "exp2_syn", "alpha_syn", "gsyn", "ampa_s"};
}  // namespace event_synapse_tables
DYNCLAMP_PARAMS_COVER_KINDS(EventSynapseParams, event_synapse_tables::kByKind,
                            1);  // kind

inline constexpr std::array<SynapseKind, 5> kSynapseKinds = {
    SynapseKind::kExp, SynapseKind::kExp2, SynapseKind::kAlpha,
    SynapseKind::kGsyn, SynapseKind::kAmpa};
constexpr absl::string_view SynapseKindName(SynapseKind kind) {
  return event_synapse_tables::kNames[static_cast<std::size_t>(kind)];
}
// The parameters `kind` reads (the others are unused by it).
constexpr ParamSpan<EventSynapseParams> EventSynapseParamTable(
    SynapseKind kind) {
  return event_synapse_tables::kByKind[static_cast<std::size_t>(kind)];
}
// Params of `kind` with that kind's defaults.
EventSynapseParams EventSynapseDefaults(SynapseKind kind);
absl::Status ValidateEventSynapse(const EventSynapseParams& p,
                                  absl::string_view path);

struct EventSynapseCoeffs {
  double d1 = 0, d2 = 0;  // per-step decays (tau or tau1, tau2)
  double factor = 1;      // Exp2Syn/GSyn peak normalization; e for Alpha
  double gfactor = 1;     // GSyn
  double rinf = 0, rtau = 1, ron_decay = 0, roff_decay = 0;  // AmpaS
  double dt_ms = 0;
};
EventSynapseCoeffs PrepareEventSynapse(const EventSynapseParams& p,
                                       double dt_ms);

struct EventSynapseState {
  double a = 0;      // ExpSyn: g; Exp2Syn/GSyn: A; Alpha: a; AmpaS: Ron
  double b = 0;      // Exp2Syn/GSyn: B; Alpha: g; AmpaS: Roff
  double synon = 0;  // AmpaS
};

// Per-connection state (what NEURON keeps in the NetCon's weight vector).
struct ConnectionState {
  double x1 = 0;     // GSyn: G1;   AmpaS: r0
  double x2 = 0;     // GSyn: G2;   AmpaS: on (0/1)
  double t0 = 0;     // GSyn, AmpaS: time of the previous event
  double w_eff = 0;  // GSyn: the effective weight last applied
};

// RT. What an ExpSyn's g gains from an event of weight w_ns that arrived
// age_ms before the step boundary where it is applied.
inline double ExpSynJump(double w_ns, double age_ms, double tau_ms) noexcept {
  return w_ns * std::exp(-age_ms / tau_ms);
}

// RT. An event of weight w_ns that arrived at te_ms, applied at now_ms.
// Returns true if an AmpaS stream must (re)arm its offset timer at
// te + Cdur.
bool ReceiveEvent(const EventSynapseParams& p, const EventSynapseCoeffs& c,
                  EventSynapseState& s, ConnectionState& conn, double w_ns,
                  double te_ms, double now_ms) noexcept;
// RT. AmpaS stream offset (its self-event) at te_ms, applied at now_ms.
void AmpaOffset(const EventSynapseParams& p, const EventSynapseCoeffs& c,
                EventSynapseState& s, ConnectionState& conn, double w_ns,
                double te_ms, double now_ms) noexcept;
// One step of any kind is the same linear map of its state, with per-kind
// coefficients (so a step over thousands of synapses of mixed kinds is one
// branch-free loop):
//   g  = ca a + cb b
//   a' = d1 a + ka synon                  (AmpaS: Ron relaxes towards
//                                          synon Rinf)
//   b' = d2 (b + kab a)                   (AlphaSyn: g integrates a)
// ExpSyn: g = a. Exp2Syn/GSyn: g = b - a. AlphaSyn: g = b. AmpaS: g = a + b.
struct SynapseStep {
  double ca = 1, cb = 0, d1 = 0, d2 = 0, ka = 0, kab = 0;
};
SynapseStep StepOf(const EventSynapseParams& p, const EventSynapseCoeffs& c);

// RT. Conductance now (nS).
inline double SynapseConductance(const SynapseStep& c,
                                 const EventSynapseState& s) noexcept {
  return c.ca * s.a + c.cb * s.b;
}

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_NETWORK_EVENT_SYNAPSES_H_
