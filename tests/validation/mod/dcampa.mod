: Saturating synapse of the NEURON book (Example 10.6, AMPA_S), written from
: its equations for dynclamp's validation: per-stream transmitter pulses of
: Cdur that concatenate; Ron/Roff pools.
NEURON {
  POINT_PROCESS DcAmpa
  RANGE g
  NONSPECIFIC_CURRENT i
  GLOBAL Cdur, Alpha, Beta, Erev, Rinf, Rtau
}
UNITS { (nA) = (nanoamp) (mV) = (millivolt) (umho) = (micromho) }
PARAMETER { Cdur = 1.0 (ms) Alpha = 1.1 (/ms) Beta = 0.19 (/ms) Erev = 0 (mV) }
ASSIGNED { v (mV) i (nA) g (umho) Rtau (ms) Rinf synon }
STATE { Ron Roff }
INITIAL {
  synon = 0
  Rtau = 1 / (Alpha + Beta)
  Rinf = Alpha / (Alpha + Beta)
}
BREAKPOINT {
  SOLVE release METHOD cnexp
  g = (Ron + Roff) * 1 (umho)
  i = g * (v - Erev)
}
DERIVATIVE release {
  Ron' = (synon * Rinf - Ron) / Rtau
  Roff' = -Beta * Roff
}
NET_RECEIVE(weight, on, r0, t0 (ms)) {
  if (flag == 0) {
    if (!on) {
      synon = synon + weight
      r0 = r0 * exp(-Beta * (t - t0))
      Ron = Ron + r0
      Roff = Roff - r0
      t0 = t
      on = 1
      net_send(Cdur, 1)
    } else {
      net_move(t + Cdur)
    }
  }
  if (flag == 1) {
    synon = synon - weight
    r0 = weight * Rinf + (r0 - weight * Rinf) * exp(-(t - t0) / Rtau)
    Ron = Ron - r0
    Roff = Roff + r0
    t0 = t
    on = 0
  }
}
