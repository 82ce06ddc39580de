: CA1 pyramidal transient Na+ current (Migliore et al. 1999 kinetics), written
: for dynclamp's validation from the same equations as
: rt_engine/models/channel_presets.cc. g = gbar m^3 h.
NEURON {
  SUFFIX dcca1na
  USEION na READ ena WRITE ina
  RANGE gbar
}
UNITS { (mA) = (milliamp) (mV) = (millivolt) (S) = (siemens) }
PARAMETER { gbar = 0.032 (S/cm2) }
ASSIGNED { v (mV) ena (mV) ina (mA/cm2) celsius (degC)
           minf hinf mtau (ms) htau (ms) }
STATE { m h }
BREAKPOINT {
  SOLVE states METHOD cnexp
  ina = gbar * m * m * m * h * (v - ena)
}
INITIAL { rates(v) m = minf h = hinf }
DERIVATIVE states {
  rates(v)
  m' = (minf - m) / mtau
  h' = (hinf - h) / htau
}
UNITSOFF
FUNCTION trap(x, th, a, q) {
  if (fabs(x - th) < 1e-6) { trap = a * q }
  else { trap = a * (x - th) / (1 - exp(-(x - th) / q)) }
}
PROCEDURE rates(v) { LOCAL a, b, qt
  qt = 2 ^ ((celsius - 24) / 10)
  a = trap(v, -30, 0.4, 7.2)
  b = trap(-v, 30, 0.124, 7.2)
  minf = a / (a + b)
  mtau = 1 / (a + b) / qt
  if (mtau < 0.02) { mtau = 0.02 }
  a = trap(v, -45, 0.03, 1.5)
  b = trap(-v, 45, 0.01, 1.5)
  htau = 1 / (a + b) / qt
  if (htau < 0.5) { htau = 0.5 }
  hinf = 1 / (1 + exp((v + 50) / 4))
}
UNITSON
