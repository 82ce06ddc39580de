// Options for an Instrument of one cell, "cell0", for tests: the simulated
// rig unless a test names another backend, no FAULT on overruns (a loaded
// test machine), recordings in the test's temporary directory.
#ifndef DYNCLAMP_TESTS_SERVER_INSTRUMENT_ONE_CELL_INSTRUMENT_H_
#define DYNCLAMP_TESTS_SERVER_INSTRUMENT_ONE_CELL_INSTRUMENT_H_

#include <gtest/gtest.h>

#include "server/instrument/instrument.h"

namespace dynclamp::server::testing {

inline InstrumentOptions OneCellInstrument() {
  InstrumentOptions o;
  rt::DaqChannelConfig ch;
  ch.name = "cell0";
  o.daq.channels = {ch};
  o.sim.cells.resize(1);
  o.max_consecutive_overruns = 0;
  o.data_dir = ::testing::TempDir();
  return o;
}

}  // namespace dynclamp::server::testing

#endif  // DYNCLAMP_TESTS_SERVER_INSTRUMENT_ONE_CELL_INSTRUMENT_H_
