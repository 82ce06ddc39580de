: CA1 pyramidal A-type K+ current (Migliore et al. 1999 proximal kinetics),
: written for dynclamp's validation from the same equations as
: rt_engine/models/channel_presets.cc. g = gbar n l.
NEURON {
  SUFFIX dcca1ka
  USEION k READ ek WRITE ik
  RANGE gbar
}
UNITS { (mA) = (milliamp) (mV) = (millivolt) (S) = (siemens) }
PARAMETER { gbar = 0.048 (S/cm2) }
ASSIGNED { v (mV) ek (mV) ik (mA/cm2) celsius (degC)
           ninf linf ntau (ms) ltau (ms) }
STATE { n l }
BREAKPOINT {
  SOLVE states METHOD cnexp
  ik = gbar * n * l * (v - ek)
}
INITIAL { rates(v) n = ninf l = linf }
DERIVATIVE states {
  rates(v)
  n' = (ninf - n) / ntau
  l' = (linf - l) / ltau
}
UNITSOFF
FUNCTION boltz(zeta, dv) {
  boltz = exp(1e-3 * zeta * dv * 9.648e4 / (8.315 * (273.16 + celsius)))
}
PROCEDURE rates(v) { LOCAL a, zeta, qt
  zeta = -1.5 - 1 / (1 + exp((v + 40) / 5))
  qt = 5 ^ ((celsius - 24) / 10)
  a = boltz(zeta, v - 11)
  ninf = 1 / (1 + a)
  ntau = boltz(zeta * 0.55, v - 11) / (qt * 0.05 * (1 + a))
  if (ntau < 0.1) { ntau = 0.1 }
  linf = 1 / (1 + boltz(3, v + 56))
  ltau = 0.26 * (v + 50)
  if (ltau < 2) { ltau = 2 }
}
UNITSON
