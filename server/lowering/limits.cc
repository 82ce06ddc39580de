#include "server/lowering/limits.h"

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

std::span<const LimitField> LimitFields() {
  static constexpr LimitField kFields[] = {
      {"max_message_bytes", &ServiceLimits::max_message_bytes, 1u << 30},
      {"max_spec_bytes", &ServiceLimits::max_spec_bytes, 1u << 30},
      {"max_cells", &ServiceLimits::max_cells, rt::kMaxModelCells},
      {"max_synapses", &ServiceLimits::max_synapses, rt::kMaxConnections},
      {"max_events_in_flight", &ServiceLimits::max_events_in_flight,
       rt::kMaxEventsInFlightCap},
      {"max_recorded_signals", &ServiceLimits::max_recorded_signals, 100'000},
      {"max_subscribers", &ServiceLimits::max_subscribers, 1000},
      {"max_queue_items", &ServiceLimits::max_queue_items, 1'000'000},
      {"max_streams_per_client", &ServiceLimits::max_streams_per_client, 1000},
      {"max_stream_signals", &ServiceLimits::max_stream_signals, 100'000},
      {"max_stream_queue_bytes", &ServiceLimits::max_stream_queue_bytes,
       uint64_t{16} << 30},
      {"max_stream_bytes_total", &ServiceLimits::max_stream_bytes_total,
       uint64_t{64} << 30},
      {"max_live_changes", &ServiceLimits::max_live_changes, 1'000'000},
      {"max_lab_seconds", &ServiceLimits::max_lab_seconds, 10'000'000},
  };
  return kFields;
}

absl::Status ValidateLimits(const ServiceLimits& l) {
  for (const LimitField& f : LimitFields()) {
    const uint64_t value = l.*f.member;
    if (value == 0 || value > f.cap) {
      return absl::InvalidArgumentError(
          absl::StrCat(f.name, ": must be in [1, ", f.cap, "], got ", value));
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

// The proto's fields carry the same names as the limits (a test checks
// that every limit has one).
v1::Limits LimitsToProto(const ServiceLimits& l) {
  v1::Limits p;
  const auto* d = p.GetDescriptor();
  for (const LimitField& f : LimitFields()) {
    p.GetReflection()->SetUInt64(&p, d->FindFieldByName(f.name), l.*f.member);
  }
  return p;
}

ServiceLimits LimitsFromProto(const v1::Limits& p) {
  ServiceLimits l;
  const auto* d = p.GetDescriptor();
  for (const LimitField& f : LimitFields()) {
    l.*f.member = p.GetReflection()->GetUInt64(p, d->FindFieldByName(f.name));
  }
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
