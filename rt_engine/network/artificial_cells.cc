#include "rt_engine/network/artificial_cells.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rt_engine/network/event_queue.h"

namespace dynclamp::rt {
namespace {

// ---- IntFire2 ----------------------------------------------------------
// m(d) = a + b e^{-d/ts} + c e^{-d/tm}, from the state at t0.
struct TwoExp {
  double a, b, c, ts, tm;
  double M(double d) const {
    return a + b * std::exp(-d / ts) + c * std::exp(-d / tm);
  }
  double dM(double d) const {
    return -b / ts * std::exp(-d / ts) - c / tm * std::exp(-d / tm);
  }
};

TwoExp IntFire2Curve(const ArtificialParams& p, double m0, double i0) {
  const double bcoef = (i0 - p.ib) * p.taus_ms / (p.taus_ms - p.taum_ms);
  return {p.ib, bcoef, m0 - p.ib - bcoef, p.taus_ms, p.taum_ms};
}

// Root of f(d) = 1 in [lo, hi] where f(lo) < 1 <= f(hi): Newton steps kept
// inside the bracket, bisection when a step would leave it.
double SolveCrossing(const TwoExp& f, double lo, double hi) {
  double d = lo;
  for (int it = 0; it < 100; ++it) {
    const double v = f.M(d) - 1.0;
    if (v < 0)
      lo = d;
    else
      hi = d;
    if (hi - lo < 1e-12 * std::max(1.0, hi)) break;
    const double slope = f.dM(d);
    double next = slope != 0 ? d - v / slope : 0.5 * (lo + hi);
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    d = next;
  }
  return hi;
}

// First d >= 0 with m(d) = 1, or kNever.
double IntFire2FireTime(const TwoExp& f) {
  if (f.M(0) >= 1.0) return 0.0;
  // m' has at most one zero for d > 0.
  double dstar = -1;
  const double ratio = -(f.c * f.ts) / (f.b * f.tm);
  if (f.b != 0 && ratio > 0) {
    const double d = std::log(ratio) / (1.0 / f.tm - 1.0 / f.ts);
    if (d > 0) dstar = d;
  }
  const bool rising = f.dM(0) > 0;
  double lo = 0;
  if (rising && dstar > 0) {
    if (f.M(dstar) < 1.0) return kNever;  // the maximum stays below
    return SolveCrossing(f, 0, dstar);
  }
  if (!rising && dstar > 0)
    lo = dstar;  // past the minimum it rises to a
  else if (!rising)
    return kNever;                // decreasing for ever
  if (f.a <= 1.0) return kNever;  // rises only towards a <= 1
  double hi = lo + f.tm;
  for (int k = 0; k < 200 && f.M(hi) < 1.0; ++k) hi = lo + 2 * (hi - lo);
  if (f.M(hi) < 1.0) return kNever;
  return SolveCrossing(f, lo, hi);
}

void IntFire2Advance(const ArtificialParams& p, ArtificialState& s, double t) {
  const double d = t - s.t0;
  const TwoExp f = IntFire2Curve(p, s.m, s.i);
  s.m = f.M(d);
  s.i = p.ib + (s.i - p.ib) * std::exp(-d / p.taus_ms);
  s.t0 = t;
}

void IntFire2Schedule(const ArtificialParams& p, ArtificialState& s,
                      ArtificialContext& ctx, double t) {
  const double d = IntFire2FireTime(IntFire2Curve(p, s.m, s.i));
  ctx.SetTimer(d == kNever ? kNever : t + d);
}

// ---- IntFire4 ----------------------------------------------------------
struct Four {
  double e, i1, i2, m;
};

Four IntFire4At(const ArtificialCoeffs& c, const ArtificialState& s, double d) {
  const double Ee = std::exp(-c.ke * d), Ei1 = std::exp(-c.ki1 * d),
               Ei2 = std::exp(-c.ki2 * d), Em = std::exp(-c.km * d);
  Four f;
  f.e = s.e * Ee;
  f.i1 = s.i1 * Ei1;
  f.i2 = s.i2 * Ei2 + c.ai1 * s.i1 * (Ei1 - Ei2) / (c.ki2 - c.ki1);
  f.m =
      s.m * Em + c.ae * s.e * (Ee - Em) / (c.km - c.ke) +
      c.ai2 * (s.i2 * (Ei2 - Em) / (c.km - c.ki2) +
               c.ai1 * s.i1 / (c.ki2 - c.ki1) *
                   ((Ei1 - Em) / (c.km - c.ki1) - (Ei2 - Em) / (c.km - c.ki2)));
  return f;
}

void IntFire4Advance(const ArtificialCoeffs& c, ArtificialState& s, double t) {
  const Four f = IntFire4At(c, s, t - s.t0);
  s.e = f.e;
  s.i1 = f.i1;
  s.i2 = f.i2;
  s.m = f.m;
  s.t0 = t;
}

// Threshold test and the next Newton estimate of the firing time.
void IntFire4Check(const ArtificialCoeffs& c, ArtificialState& s,
                   ArtificialContext& ctx, double t) {
  constexpr double kEps = 1e-6;
  if (s.m > 1.0 - kEps) {
    ctx.Fire(t);
    s.m = 0.0;
  }
  const double slope = -c.km * s.m + c.ae * s.e + c.ai2 * s.i2;
  ctx.SetTimer(slope > 0 ? t + (1.0 - s.m) / slope : kNever);
}

// Peak of g(t) = (e^{-ka t} - e^{-kb t}) / (kb - ka) for ka < kb... used
// only through the normalizations below.
double PeakTime(double k1, double k2) { return std::log(k1 / k2) / (k1 - k2); }

void NetStimNext(const ArtificialParams& p, ArtificialState& s,
                 ArtificialContext& ctx, double t) {
  if (static_cast<double>(s.next_spike) >= p.number) {
    ctx.SetTimer(kNever);
    return;
  }
  double interval = p.interval_ms;
  if (p.noise > 0) {
    // Exponential with mean 1 (1 - U avoids log(0)).
    const double expo = -std::log(1.0 - s.rng.Uniform());
    interval = (1.0 - p.noise) * p.interval_ms + p.noise * p.interval_ms * expo;
  }
  ctx.SetTimer(t + interval);
}

}  // namespace

ArtificialParams ArtificialDefaults(ArtificialKind kind) {
  ArtificialParams p;
  p.kind = kind;
  return ArtificialParamTable(kind).WithDefaults(p);
}

absl::Status ValidateArtificial(const ArtificialParams& p,
                                absl::string_view path) {
  if (auto s = ArtificialParamTable(p.kind).Check(p, path); !s.ok()) return s;
  if (p.kind == ArtificialKind::kIntFire2 && !(p.taum_ms < p.taus_ms)) {
    return FieldError(path, "taum_ms",
                      absl::StrFormat("must be < taus_ms (%g ms), got %g ms",
                                      p.taus_ms, p.taum_ms));
  }
  if (p.kind == ArtificialKind::kIntFire4 &&
      !(p.taue_ms < p.taui1_ms && p.taui1_ms < p.taui2_ms &&
        p.taui2_ms < p.taum4_ms)) {
    return FieldError(
        path, "taue_ms",
        "time constants must satisfy taue < taui1 < taui2 < taum");
  }
  if (p.kind == ArtificialKind::kVecStim) {
    for (std::size_t k = 0; k < p.spike_times_ms.size(); ++k) {
      const double t = p.spike_times_ms[k];
      if (!std::isfinite(t) || t < 0 ||
          (k > 0 && t < p.spike_times_ms[k - 1])) {
        return FieldError(path, absl::StrCat("spike_times_ms[", k, "]"),
                          "must be finite, >= 0 and non-decreasing");
      }
    }
  }
  return absl::OkStatus();
}

ArtificialCoeffs PrepareArtificial(const ArtificialParams& p) {
  ArtificialCoeffs c;
  if (p.kind != ArtificialKind::kIntFire4) return c;
  c.ke = 1.0 / p.taue_ms;
  c.ki1 = 1.0 / p.taui1_ms;
  c.ki2 = 1.0 / p.taui2_ms;
  c.km = 1.0 / p.taum4_ms;
  // e alone: m = ae (Ee - Em)/(km - ke) peaks at 1.
  double tp = PeakTime(c.ke, c.km);
  c.ae = (c.km - c.ke) / (std::exp(-c.ke * tp) - std::exp(-c.km * tp));
  // i1 alone: i2 = ai1 (Ei1 - Ei2)/(ki2 - ki1) peaks at 1.
  tp = PeakTime(c.ki1, c.ki2);
  c.ai1 = (c.ki2 - c.ki1) / (std::exp(-c.ki1 * tp) - std::exp(-c.ki2 * tp));
  // i1 alone: m = ai2 F(t); find F's single maximum by golden-section search.
  auto F = [&c](double t) {
    const double Ei1 = std::exp(-c.ki1 * t), Ei2 = std::exp(-c.ki2 * t),
                 Em = std::exp(-c.km * t);
    return c.ai1 / (c.ki2 - c.ki1) *
           ((Ei1 - Em) / (c.km - c.ki1) - (Ei2 - Em) / (c.km - c.ki2));
  };
  double lo = 0, hi = 20.0 * p.taum4_ms;
  const double g = (std::sqrt(5.0) - 1) / 2;
  for (int it = 0; it < 200; ++it) {
    const double x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
    if (F(x1) < F(x2))
      lo = x1;
    else
      hi = x2;
  }
  c.ai2 = 1.0 / F(0.5 * (lo + hi));
  return c;
}

void InitArtificial(const ArtificialParams& p, const ArtificialCoeffs& c,
                    ArtificialState& s, ArtificialContext& ctx) noexcept {
  const uint64_t seed = p.seed;
  s = ArtificialState{};
  s.rng.Seed(seed);
  switch (p.kind) {
    case ArtificialKind::kIntFire1:
    case ArtificialKind::kIntFire4:
      ctx.SetTimer(kNever);
      break;
    case ArtificialKind::kIntFire2:
      s.i = p.ib;
      IntFire2Schedule(p, s, ctx, 0.0);
      break;
    case ArtificialKind::kVecStim:
      ctx.SetTimer(p.spike_times_ms.empty() ? kNever : p.spike_times_ms[0]);
      break;
    case ArtificialKind::kNetStim: {
      if (p.number <= 0) {
        ctx.SetTimer(kNever);
        break;
      }
      // As NEURON: the first spike at start when regular; with noise, the
      // first interval is drawn and shifted so its mean stays at start.
      double first = p.start_ms;
      if (p.noise > 0) {
        const double expo = -std::log(1.0 - s.rng.Uniform());
        first = p.start_ms + p.noise * p.interval_ms * (expo - 1.0);
        if (first < 0) first = 0;
      }
      ctx.SetTimer(first);
      break;
    }
  }
}

void ArtificialReceive(const ArtificialParams& p, const ArtificialCoeffs& c,
                       ArtificialState& s, ArtificialContext& ctx, double w,
                       double t) noexcept {
  switch (p.kind) {
    case ArtificialKind::kIntFire1:
      if (s.refractory) return;  // inputs are ignored while refractory
      s.m = s.m * std::exp(-(t - s.t0) / p.tau_ms) + w;
      s.t0 = t;
      if (s.m > 1.0) {
        ctx.Fire(t);
        s.refractory = true;
        ctx.SetTimer(t + p.refrac_ms);
      }
      return;
    case ArtificialKind::kIntFire2:
      IntFire2Advance(p, s, t);
      s.i += w;
      if (s.m >= 1.0) {
        ctx.SetTimer(t);  // fire now, through the self-event
      } else {
        IntFire2Schedule(p, s, ctx, t);
      }
      return;
    case ArtificialKind::kIntFire4:
      IntFire4Advance(c, s, t);
      if (w > 0)
        s.e += w;
      else
        s.i1 += w;
      IntFire4Check(c, s, ctx, t);
      return;
    case ArtificialKind::kVecStim:
    case ArtificialKind::kNetStim:
      return;  // sources only
  }
}

void ArtificialTimer(const ArtificialParams& p, const ArtificialCoeffs& c,
                     ArtificialState& s, ArtificialContext& ctx,
                     double t) noexcept {
  switch (p.kind) {
    case ArtificialKind::kIntFire1:
      s.refractory = false;
      s.m = 0.0;
      s.t0 = t;
      ctx.SetTimer(kNever);
      return;
    case ArtificialKind::kIntFire2:
      IntFire2Advance(p, s, t);
      ctx.Fire(t);
      s.m = 0.0;
      IntFire2Schedule(p, s, ctx, t);
      return;
    case ArtificialKind::kIntFire4:
      IntFire4Advance(c, s, t);
      IntFire4Check(c, s, ctx, t);
      return;
    case ArtificialKind::kVecStim:
      ctx.Fire(t);
      ++s.next_spike;
      ctx.SetTimer(s.next_spike < p.spike_times_ms.size()
                       ? p.spike_times_ms[s.next_spike]
                       : kNever);
      return;
    case ArtificialKind::kNetStim:
      ctx.Fire(t);
      ++s.next_spike;
      NetStimNext(p, s, ctx, t);
      return;
  }
}

double ArtificialM(const ArtificialParams& p, const ArtificialCoeffs& c,
                   const ArtificialState& s, double t) noexcept {
  switch (p.kind) {
    case ArtificialKind::kIntFire1:
      return s.refractory ? 0.0 : s.m * std::exp(-(t - s.t0) / p.tau_ms);
    case ArtificialKind::kIntFire2:
      return IntFire2Curve(p, s.m, s.i).M(t - s.t0);
    case ArtificialKind::kIntFire4:
      return IntFire4At(c, s, t - s.t0).m;
    default:
      return 0.0;
  }
}

}  // namespace dynclamp::rt
