: CA1 pyramidal delayed-rectifier K+ current (Migliore et al. 1999 kinetics),
: written for dynclamp's validation from the same equations as
: rt_engine/models/channel_presets.cc. g = gbar n.
NEURON {
  SUFFIX dcca1kdr
  USEION k READ ek WRITE ik
  RANGE gbar
}
UNITS { (mA) = (milliamp) (mV) = (millivolt) (S) = (siemens) }
PARAMETER { gbar = 0.01 (S/cm2) }
ASSIGNED { v (mV) ek (mV) ik (mA/cm2) celsius (degC) ninf ntau (ms) }
STATE { n }
BREAKPOINT {
  SOLVE states METHOD cnexp
  ik = gbar * n * (v - ek)
}
INITIAL { rates(v) n = ninf }
DERIVATIVE states { rates(v) n' = (ninf - n) / ntau }
UNITSOFF
FUNCTION boltz(zeta, dv) {
  boltz = exp(1e-3 * zeta * dv * 9.648e4 / (8.315 * (273.16 + celsius)))
}
PROCEDURE rates(v) { LOCAL a
  a = boltz(-3, v - 13)
  ninf = 1 / (1 + a)
  ntau = boltz(-3 * 0.7, v - 13) / (0.02 * (1 + a))
  if (ntau < 2) { ntau = 2 }
}
UNITSON
