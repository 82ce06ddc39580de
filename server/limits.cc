#include "server/limits.h"

#include "absl/strings/str_cat.h"
#include "rt_engine/network/circuit_spec.h"

namespace dynclamp::server {

namespace {

absl::Status Exhausted(const char* path, const char* what, uint64_t got,
                       uint64_t limit, const char* flag) {
  return absl::ResourceExhaustedError(
      absl::StrCat(path, ": ", got, " ", what, ", over the daemon's limit of ",
                   limit, " (--", flag, ")"));
}

}  // namespace

absl::Status ValidateLimits(const ServiceLimits& l) {
  struct Field {
    const char* name;
    uint64_t value, cap;
  };
  const Field fields[] = {
      {"max_message_bytes", l.max_message_bytes, 1u << 30},
      {"max_spec_bytes", l.max_spec_bytes, 1u << 30},
      {"max_cells", l.max_cells, rt::kMaxModelCells},
      {"max_synapses", l.max_synapses, rt::kMaxConnections},
      {"max_events_in_flight", l.max_events_in_flight,
       rt::kMaxEventsInFlightCap},
      {"max_recorded_signals", l.max_recorded_signals, 100'000},
      {"max_subscribers", l.max_subscribers, 1000},
      {"max_queue_items", l.max_queue_items, 1'000'000},
  };
  for (const Field& f : fields) {
    if (f.value == 0 || f.value > f.cap) {
      return absl::InvalidArgumentError(
          absl::StrCat(f.name, ": must be in [1, ", f.cap, "], got ", f.value));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckSpecLimits(const v1::Spec& spec, const ServiceLimits& l,
                             const char* path) {
  const uint64_t bytes = spec.ByteSizeLong();
  if (bytes > l.max_spec_bytes) {
    return Exhausted(path, "bytes", bytes, l.max_spec_bytes, "max_spec_bytes");
  }
  const uint64_t cells = spec.model_cells_size() + spec.artificial_cells_size();
  if (cells > l.max_cells) {
    return Exhausted(path, "model and artificial cells", cells, l.max_cells,
                     "max_cells");
  }
  const uint64_t synapses = spec.synapses_size() + spec.connections_size() +
                            spec.graded_synapses_size() +
                            spec.gap_junctions_size();
  if (synapses > l.max_synapses) {
    return Exhausted(path, "synapses and connections", synapses, l.max_synapses,
                     "max_synapses");
  }
  if (spec.has_max_events_in_flight() &&
      spec.max_events_in_flight() > l.max_events_in_flight) {
    return Exhausted(path, "events in flight (max_events_in_flight)",
                     spec.max_events_in_flight(), l.max_events_in_flight,
                     "max_events_in_flight");
  }
  return absl::OkStatus();
}

v1::Limits LimitsToProto(const ServiceLimits& l) {
  v1::Limits p;
  p.set_max_message_bytes(l.max_message_bytes);
  p.set_max_spec_bytes(l.max_spec_bytes);
  p.set_max_cells(l.max_cells);
  p.set_max_synapses(l.max_synapses);
  p.set_max_events_in_flight(l.max_events_in_flight);
  p.set_max_recorded_signals(l.max_recorded_signals);
  p.set_max_subscribers(l.max_subscribers);
  p.set_max_queue_items(l.max_queue_items);
  return p;
}

ServiceLimits LimitsFromProto(const v1::Limits& p) {
  ServiceLimits l;
  l.max_message_bytes = p.max_message_bytes();
  l.max_spec_bytes = p.max_spec_bytes();
  l.max_cells = p.max_cells();
  l.max_synapses = p.max_synapses();
  l.max_events_in_flight = p.max_events_in_flight();
  l.max_recorded_signals = p.max_recorded_signals();
  l.max_subscribers = p.max_subscribers();
  l.max_queue_items = p.max_queue_items();
  return l;
}

ServiceLimits LimitsStore::Get() const {
  absl::MutexLock lock(&mu_);
  return limits_;
}

absl::Status LimitsStore::Set(const ServiceLimits& limits) {
  if (absl::Status s = ValidateLimits(limits); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  if (limits.max_message_bytes != limits_.max_message_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_message_bytes: fixed when the daemon starts (",
        limits_.max_message_bytes, "); restart it with --max_message_bytes"));
  }
  limits_ = limits;
  return absl::OkStatus();
}

}  // namespace dynclamp::server
