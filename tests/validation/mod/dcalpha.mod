: Alpha-function synapse of the NEURON book (Example 10.4), written as two
: linear ODEs for dynclamp's validation: a' = -a/tau, g' = (a - g)/tau; an
: event adds w e to a, so a lone event peaks at w, tau after it.
NEURON {
  POINT_PROCESS DcAlpha
  RANGE tau, e, i, g
  NONSPECIFIC_CURRENT i
}
UNITS { (nA) = (nanoamp) (mV) = (millivolt) (uS) = (microsiemens) }
PARAMETER { tau = 2 (ms) e = 0 (mV) }
ASSIGNED { v (mV) i (nA) }
STATE { a (uS) g (uS) }
INITIAL { a = 0 g = 0 }
BREAKPOINT {
  SOLVE state METHOD derivimplicit
  i = g * (v - e)
}
DERIVATIVE state {
  a' = -a / tau
  g' = (a - g) / tau
}
NET_RECEIVE(weight (uS)) { a = a + weight * exp(1) }
