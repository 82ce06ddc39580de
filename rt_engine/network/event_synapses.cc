#include "rt_engine/network/event_synapses.h"

#include <cmath>

#include "absl/strings/str_format.h"

namespace dynclamp::rt {
namespace {

// Peak of exp(-t/t2) - exp(-t/t1) (t1 < t2), to normalize the peak to 1.
double DoubleExpFactor(double t1, double t2) {
  const double tp = t1 * t2 / (t2 - t1) * std::log(t2 / t1);
  return 1.0 / (std::exp(-tp / t2) - std::exp(-tp / t1));
}

}  // namespace

EventSynapseParams EventSynapseDefaults(SynapseKind kind) {
  EventSynapseParams p;
  p.kind = kind;
  return EventSynapseParamTable(kind).WithDefaults(p);
}

absl::Status ValidateEventSynapse(const EventSynapseParams& p,
                                  absl::string_view path) {
  if (auto s = EventSynapseParamTable(p.kind).Check(p, path); !s.ok()) return s;
  if ((p.kind == SynapseKind::kExp2 || p.kind == SynapseKind::kGsyn) &&
      !(p.tau1_ms < p.tau2_ms)) {
    return FieldError(path, "tau1_ms",
                      absl::StrFormat("must be < tau2_ms (%g ms), got %g ms",
                                      p.tau2_ms, p.tau1_ms));
  }
  if (p.kind == SynapseKind::kGsyn && !(p.gtau1_ms < p.gtau2_ms)) {
    return FieldError(path, "gtau1_ms",
                      absl::StrFormat("must be < gtau2_ms (%g ms), got %g ms",
                                      p.gtau2_ms, p.gtau1_ms));
  }
  return absl::OkStatus();
}

EventSynapseCoeffs PrepareEventSynapse(const EventSynapseParams& p,
                                       double dt_ms) {
  EventSynapseCoeffs c;
  c.dt_ms = dt_ms;
  switch (p.kind) {
    case SynapseKind::kExp:
      c.d1 = std::exp(-dt_ms / p.tau_ms);
      break;
    case SynapseKind::kAlpha:
      c.d1 = std::exp(-dt_ms / p.tau_ms);
      c.factor = std::exp(1.0);
      break;
    case SynapseKind::kExp2:
    case SynapseKind::kGsyn:
      c.d1 = std::exp(-dt_ms / p.tau1_ms);
      c.d2 = std::exp(-dt_ms / p.tau2_ms);
      c.factor = DoubleExpFactor(p.tau1_ms, p.tau2_ms);
      if (p.kind == SynapseKind::kGsyn)
        c.gfactor = DoubleExpFactor(p.gtau1_ms, p.gtau2_ms);
      break;
    case SynapseKind::kAmpa:
      c.rtau = 1.0 / (p.alpha_per_ms + p.beta_per_ms);
      c.rinf = p.alpha_per_ms / (p.alpha_per_ms + p.beta_per_ms);
      c.ron_decay = std::exp(-dt_ms / c.rtau);
      c.roff_decay = std::exp(-dt_ms * p.beta_per_ms);
      break;
  }
  return c;
}

SynapseStep StepOf(const EventSynapseParams& p, const EventSynapseCoeffs& c) {
  SynapseStep step;
  switch (p.kind) {
    case SynapseKind::kExp:
      step.d1 = c.d1;  // b stays 0
      break;
    case SynapseKind::kExp2:
    case SynapseKind::kGsyn:
      step.ca = -1;
      step.cb = 1;
      step.d1 = c.d1;
      step.d2 = c.d2;
      break;
    case SynapseKind::kAlpha:
      step.ca = 0;
      step.cb = 1;
      step.d1 = step.d2 = c.d1;
      step.kab = c.dt_ms / p.tau_ms;
      break;
    case SynapseKind::kAmpa:
      // Ron' = Rinf synon + (Ron - Rinf synon) e^{-dt/tau}.
      step.cb = 1;
      step.d1 = c.ron_decay;
      step.d2 = c.roff_decay;
      step.ka = c.rinf * (1 - c.ron_decay);
      break;
  }
  return step;
}

bool ReceiveEvent(const EventSynapseParams& p, const EventSynapseCoeffs& c,
                  EventSynapseState& s, ConnectionState& conn, double w,
                  double te, double now) noexcept {
  const double age = now - te;  // >= 0: how long ago it really arrived
  switch (p.kind) {
    case SynapseKind::kExp:
      s.a += ExpSynJump(w, age, p.tau_ms);
      return false;
    case SynapseKind::kAlpha: {
      // State of an alpha kernel started `age` ago with a0 = w e.
      const double decay = std::exp(-age / p.tau_ms);
      const double a0 = w * c.factor;
      s.a += a0 * decay;
      s.b += a0 * (age / p.tau_ms) * decay;
      return false;
    }
    case SynapseKind::kGsyn: {
      conn.x1 =
          conn.x1 * std::exp(-(te - conn.t0) / p.gtau1_ms) + p.ginc * c.gfactor;
      conn.x2 =
          conn.x2 * std::exp(-(te - conn.t0) / p.gtau2_ms) + p.ginc * c.gfactor;
      conn.t0 = te;
      w = w * (1.0 + conn.x2 - conn.x1);
      conn.w_eff = w;
      [[fallthrough]];
    }
    case SynapseKind::kExp2:
      s.a += w * c.factor * std::exp(-age / p.tau1_ms);
      s.b += w * c.factor * std::exp(-age / p.tau2_ms);
      return false;
    case SynapseKind::kAmpa:
      if (conn.x2 == 0.0) {  // off: this stream starts a pulse
        s.synon += w;
        conn.x1 *= std::exp(-p.beta_per_ms * (te - conn.t0));
        // What the transfer at te has become by now (linear superposition
        // on the pools): r0 now rises in Ron towards w Rinf.
        const double on = std::exp(-age / c.rtau);
        s.a += conn.x1 * on + w * c.rinf * (1.0 - on);
        s.b -= conn.x1 * std::exp(-p.beta_per_ms * age);
        conn.t0 = te;
        conn.x2 = 1.0;
      }
      return true;  // (re)arm the offset at te + Cdur: concatenated pulses
  }
  return false;
}

void AmpaOffset(const EventSynapseParams& p, const EventSynapseCoeffs& c,
                EventSynapseState& s, ConnectionState& conn, double w,
                double te, double now) noexcept {
  if (conn.x2 == 0.0) return;
  s.synon -= w;
  conn.x1 =
      w * c.rinf + (conn.x1 - w * c.rinf) * std::exp(-(te - conn.t0) / c.rtau);
  // What the transfer at te has become by now (linear superposition).
  const double age = now - te;
  const double on = std::exp(-age / c.rtau);
  s.a -= conn.x1 * on + w * c.rinf * (1.0 - on);
  s.b += conn.x1 * std::exp(-p.beta_per_ms * age);
  conn.t0 = te;
  conn.x2 = 0.0;
}

}  // namespace dynclamp::rt
