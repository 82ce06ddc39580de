// ServiceLimits: what dynclampd refuses beyond, so that no request, however
// large or however often sent, can crash it or make it allocate without
// bound. Each limit is a flag at start and can be changed by an admin
// (AdminService.SetLimits); a refusal is RESOURCE_EXHAUSTED naming the field,
// its size and the limit.
//
// Threads: non-RT. LimitsStore is thread-safe.
#ifndef DYNCLAMP_SERVER_LOWERING_LIMITS_H_
#define DYNCLAMP_SERVER_LOWERING_LIMITS_H_

#include <cstdint>
#include <span>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "dynclamp/v1/admin.pb.h"
#include "dynclamp/v1/spec.pb.h"

namespace dynclamp::server {

struct ServiceLimits {
  uint64_t max_message_bytes = 4 << 20;  // gRPC's own; fixed at start
  uint64_t max_spec_bytes = 1 << 20;
  uint64_t max_cells = 10'000;        // model + artificial cells
  uint64_t max_synapses = 1'000'000;  // every kind of connection
  uint64_t max_events_in_flight = 1 << 20;
  uint64_t max_recorded_signals = 256;
  uint64_t max_subscribers = 16;
  uint64_t max_queue_items = 1000;
  // Streams (Subscribe and WatchRun) one client may hold open at once: a
  // client is its token's name, or without tokens its host.
  uint64_t max_streams_per_client = 8;
  uint64_t max_stream_signals = 1024;  // distinct signals in one Subscribe
  // Chunks waiting for a slow subscriber, in bytes: each one's and all
  // together. Past either, that subscriber loses samples (counted).
  uint64_t max_stream_queue_bytes = 32 << 20;
  uint64_t max_stream_bytes_total = 256 << 20;
  // Live changes GetLoadedSpec lists (the latest; the rest are counted).
  uint64_t max_live_changes = 1000;
  // Cell time one fidelity lab may simulate, in seconds (the paper's whole
  // lab: about 250).
  uint64_t max_lab_seconds = 2000;
};

// Each limit once: its name (the flag's, the proto field's), where it is
// kept, and the most it may be set to.
struct LimitField {
  const char* name;
  uint64_t ServiceLimits::*member;
  uint64_t cap;
};
std::span<const LimitField> LimitFields();

// InvalidArgument naming the first field that is 0 or beyond what the
// engine can hold at all.
absl::Status ValidateLimits(const ServiceLimits& limits);

// ResourceExhausted naming the first of the spec's size, cells, synapses
// and events in flight over its limit (at `path`, e.g. "spec" or
// "item.run.spec").
absl::Status CheckSpecLimits(const v1::Spec& spec, const ServiceLimits& limits,
                             const char* path = "spec");

v1::Limits LimitsToProto(const ServiceLimits& limits);
ServiceLimits LimitsFromProto(const v1::Limits& limits);

class LimitsStore {
 public:
  explicit LimitsStore(ServiceLimits limits) : limits_(limits) {}
  ServiceLimits Get() const ABSL_LOCKS_EXCLUDED(mu_);
  // Validates the whole set first; max_message_bytes cannot change.
  absl::Status Set(const ServiceLimits& limits) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  ServiceLimits limits_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_LOWERING_LIMITS_H_
