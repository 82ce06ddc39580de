// FidelityService: runs the fidelity lab (server/fidelity_lab.h) for a
// client. The request is lowered to the lab's setup (the family's preset or
// the client's spec, the paper's conditions unless others are given), the
// lab runs on gRPC's handler thread plus workers, never on the RT thread,
// and one lab runs at a time.
//
// Threads: gRPC handler threads (non-RT).
#ifndef DYNCLAMP_SERVER_API_FIDELITY_SERVICE_H_
#define DYNCLAMP_SERVER_API_FIDELITY_SERVICE_H_

#include <atomic>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "dynclamp/v1/fidelity.grpc.pb.h"
#include "fidelity/lab.h"
#include "server/api/auth/access.h"
#include "server/instrument/instrument.h"
#include "server/lowering/limits.h"

namespace dynclamp::server {

struct LoweredLab {
  fidelity::LabSetup setup;
  std::vector<fidelity::LabCondition> conditions;
};

// INVALID_ARGUMENT naming the field for anything the lab would refuse.
absl::StatusOr<LoweredLab> LowerLabRequest(const v1::RunLabRequest& request);
v1::LabReport LabReportToProto(const fidelity::LabReport& report,
                               const LoweredLab& lab);

// The lab is a guest on the rig: refused while a run is going unless the
// caller holds the rig lock, bounded in simulated time (max_lab_seconds),
// off the RT thread's CPU and below the daemon's threads in priority, and
// stopped within about 100 ms when its client cancels, goes away or passes
// its deadline, or when the daemon shuts down.
class FidelityServiceImpl final : public v1::FidelityService::Service {
 public:
  FidelityServiceImpl(int threads, const AccessGate& gate, Instrument& inst,
                      const LimitsStore& limits)
      : threads_(threads), gate_(gate), inst_(inst), limits_(limits) {}
  grpc::Status RunLab(grpc::ServerContext* ctx, const v1::RunLabRequest* req,
                      v1::LabReport* out) override;
  // Stops a running lab (SIGTERM): it returns UNAVAILABLE.
  void Shutdown() { shutting_down_.store(true); }

 private:
  const int threads_;
  const AccessGate& gate_;
  Instrument& inst_;
  const LimitsStore& limits_;
  std::atomic<bool> busy_{false};
  std::atomic<bool> shutting_down_{false};
};

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_API_FIDELITY_SERVICE_H_
