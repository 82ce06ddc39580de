// Frame: the fixed-size record the RT loop publishes once per cycle.
//
// A frame is a FrameHeader followed by `values_per_frame` doubles laid out as
// [V of each DAQ channel (mV)] [injected current of each channel (pA)]
// [model signals of the active model set, in its signal-table order].
// The layout is fixed when the loop is configured, so the ring that carries
// frames never resizes. Plain data: safe on any thread.
#ifndef DYNCLAMP_RT_ENGINE_HANDOFF_FRAME_H_
#define DYNCLAMP_RT_ENGINE_HANDOFF_FRAME_H_

#include <cstdint>

namespace dynclamp::rt {

enum FrameFlags : uint32_t {
  kFrameFault = 1u << 0,    // the loop was in FAULT: outputs forced to 0
  kFrameClipped = 1u << 1,  // at least one output was clipped this cycle
  kFrameAfterOverrun =
      1u << 2,  // the previous cycle overran; deadlines skipped
  kFrameModelSwapped = 1u << 3,  // a new model set took effect this cycle
  kFrameDaqError = 1u << 4,      // a DAQ read or write failed this cycle
  kFrameSweepStart = 1u << 5,    // first sample of a protocol sweep
  kFrameSweepEnd = 1u << 6,      // last sample of a sweep played in full
  kFrameSweepCut = 1u << 7,      // a sweep was cut short (pause now, abort)
};

struct FrameHeader {
  // The schedule's slot this sample fills: periods since the loop (the run)
  // started, counting the deadlines skipped after overruns (which have no
  // frame), so cycle x period is the sample's time in the run.
  uint64_t cycle = 0;
  int64_t wake_time_ns = 0;       // CLOCK_MONOTONIC time the cycle woke
  uint32_t flags = 0;             // FrameFlags
  uint32_t model_generation = 0;  // generation of the model set that ran
  uint32_t period_ns = 0;         // actual time since the previous wake-up
  uint32_t lateness_ns = 0;       // wake-up minus deadline
  uint32_t compute_ns = 0;        // time spent stepping the models
  uint32_t latency_ns = 0;        // start of input read to end of output write
  uint32_t num_values = 0;        // how many values follow that are meaningful
  uint32_t sweep = 0;             // recorded sweep number; 0: not in one
  int64_t sweep_sample = 0;       // sample index within that sweep
  int32_t protocol_sweep = -1;    // the protocol's sweep being played
  // Slots skipped so far (mod 2^32): the difference between two frames is
  // how many slots between them had no cycle, as distinct from frames lost.
  uint32_t slots_skipped = 0;
};
static_assert(sizeof(FrameHeader) == 64);

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_HANDOFF_FRAME_H_
