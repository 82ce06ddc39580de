#include "server/api/fidelity_service.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "server/api/grpc_services.h"
#include "server/lowering/spec_lowering.h"

namespace dynclamp::server {
namespace {

void ToProto(const fidelity::SpikeMeasure& m, v1::LabSpike* out) {
  out->set_spiked(m.spiked);
  out->set_peak_mv(m.peak_mv);
  out->set_trough_mv(m.trough_mv);
  out->set_error_v2(m.error_v2);
  out->set_max_error_mv(m.max_error_mv);
  out->mutable_v_mv()->Assign(m.v_mv.begin(), m.v_mv.end());
}

v1::Integrator ToProto(std::optional<rt::Integrator> i) {
  if (!i.has_value()) return v1::INTEGRATOR_UNSPECIFIED;
  switch (*i) {
    case rt::Integrator::kExpEuler:
      return v1::EXP_EULER;
    case rt::Integrator::kRk4:
      return v1::RK4;
    case rt::Integrator::kForwardEuler:
      return v1::FORWARD_EULER;
  }
  return v1::INTEGRATOR_UNSPECIFIED;
}

}  // namespace

absl::StatusOr<LoweredLab> LowerLabRequest(const v1::RunLabRequest& req) {
  LoweredLab lab;
  const std::string family = req.family().empty() ? "na" : req.family();
  absl::StatusOr<fidelity::LabSetup> setup = fidelity::PaperSetup(family);
  if (!setup.ok()) return setup.status();
  lab.setup = *std::move(setup);
  if (req.has_spec()) {
    absl::StatusOr<rt::ModelSetSpec> spec = LowerSpec(req.spec(), {"cell0"});
    if (!spec.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec: ", spec.status().message()));
    }
    lab.setup.spec = *std::move(spec);
    lab.setup.native_control = false;
  }
  if (req.block_size() > 0)
    lab.setup.cell.blocked.assign(req.block().begin(), req.block().end());
  if (req.fi_currents_pa_size() > 0) {
    lab.setup.fi_currents_pa.assign(req.fi_currents_pa().begin(),
                                    req.fi_currents_pa().end());
  } else {
    for (double i = 0; i <= 2000; i += 200)
      lab.setup.fi_currents_pa.push_back(i);
  }
  if (req.fi_duration_s() != 0) lab.setup.fi_duration_s = req.fi_duration_s();
  lab.setup.trials = req.trials() != 0 ? req.trials() : 10;
  if (req.seed() != 0) lab.setup.seed = req.seed();
  if (req.pulse_pa() != 0) lab.setup.pulse_pa = req.pulse_pa();
  if (req.conditions_size() == 0) {
    lab.conditions = fidelity::PaperConditions();
  } else {
    for (int k = 0; k < req.conditions_size(); ++k) {
      const v1::LabCondition& c = req.conditions(k);
      fidelity::LabCondition out;
      out.label = c.label().empty() ? absl::StrCat("condition ", k) : c.label();
      out.step_us = c.step_us();
      out.worst_step_us = c.worst_step_us();
      out.latency_us = c.latency_us();
      out.fi_curve = c.fi_curve();
      out.series = c.series();
      if (c.integrator() != v1::INTEGRATOR_UNSPECIFIED) {
        absl::StatusOr<rt::Integrator> i = LowerIntegrator(
            c.integrator(), absl::StrCat("conditions[", k, "]"));
        if (!i.ok()) return i.status();
        out.integrator = *i;
      }
      lab.conditions.push_back(std::move(out));
    }
  }
  if (absl::Status s = fidelity::ValidateLab(lab.setup, lab.conditions);
      !s.ok())
    return s;
  return lab;
}

v1::LabReport LabReportToProto(const fidelity::LabReport& r,
                               const LoweredLab& lab) {
  v1::LabReport out;
  out.set_cell(r.cell_description);
  out.set_family(absl::StrJoin(lab.setup.cell.blocked, ","));
  out.set_grid_us(lab.setup.grid_us);
  out.set_window_before_ms(lab.setup.window_before_ms);
  out.set_align_mv(lab.setup.align_mv);
  out.set_trials(lab.setup.trials);
  ToProto(r.control, out.mutable_control());
  out.mutable_fi_currents_pa()->Assign(r.fi_currents_pa.begin(),
                                       r.fi_currents_pa.end());
  out.mutable_control_fi_hz()->Assign(r.control_fi_hz.begin(),
                                      r.control_fi_hz.end());
  for (const fidelity::ConditionResult& c : r.results) {
    v1::LabResult* res = out.add_results();
    v1::LabCondition* cond = res->mutable_condition();
    cond->set_label(c.condition.label);
    cond->set_step_us(c.condition.step_us);
    cond->set_worst_step_us(c.condition.worst_step_us);
    cond->set_latency_us(c.condition.latency_us);
    cond->set_integrator(ToProto(c.condition.integrator));
    cond->set_fi_curve(c.condition.fi_curve);
    cond->set_series(c.condition.series);
    res->set_mean_error_v2(c.mean_error_v2);
    res->set_max_error_v2(c.max_error_v2);
    res->mutable_trial_errors_v2()->Assign(c.trial_errors_v2.begin(),
                                           c.trial_errors_v2.end());
    res->set_shape_change(c.shape_change);
    res->set_distorted(c.shape_change > fidelity::kDistortedShape);
    res->set_fi_change(c.fi_change);
    res->mutable_fi_rates_hz()->Assign(c.fi_rates_hz.begin(),
                                       c.fi_rates_hz.end());
    ToProto(c.spike, res->mutable_spike());
  }
  return out;
}

grpc::Status FidelityServiceImpl::RunLab(grpc::ServerContext* ctx,
                                         const v1::RunLabRequest* req,
                                         v1::LabReport* out) {
  // The lab only reads the rig, but it competes with a running clamp for
  // the machine: during a run only the holder of the rig lock may start
  // one.
  if (absl::Status s = gate_.Allow(ctx); !s.ok()) return ToGrpcStatus(s);
  const v1::RunState state = inst_.GetRun().state();
  if ((state == v1::RUNNING || state == v1::FAULT) && !gate_.HoldsLock(ctx)) {
    return ToGrpcStatus(absl::FailedPreconditionError(
        "the rig is running: a fidelity lab waits until it is idle, or "
        "take the rig lock (dynclamp lock acquire) to run one alongside"));
  }
  absl::StatusOr<LoweredLab> lab = LowerLabRequest(*req);
  if (!lab.ok()) return ToGrpcStatus(lab.status());
  const double seconds =
      fidelity::LabSimulatedSeconds(lab->setup, lab->conditions);
  if (const uint64_t limit = limits_.Get().max_lab_seconds; seconds > limit) {
    return ToGrpcStatus(absl::ResourceExhaustedError(absl::StrFormat(
        "lab: %.0f s of cell time to simulate, over the daemon's limit of %d "
        "s (--max_lab_seconds); fewer conditions, trials, F-I currents or a "
        "shorter fi_duration_s",
        seconds, limit)));
  }
  if (busy_.exchange(true)) {
    return ToGrpcStatus(absl::ResourceExhaustedError(
        "a fidelity lab is already running on this daemon; try again when "
        "it is done"));
  }
  const absl::Time start = absl::Now();
  absl::StatusOr<fidelity::LabReport> report = fidelity::RunLab(
      lab->setup, lab->conditions, threads_,
      [this, ctx] { return ctx->IsCancelled() || shutting_down_.load(); });
  busy_.store(false);
  if (shutting_down_.load()) {
    return ToGrpcStatus(absl::UnavailableError("the daemon is shutting down"));
  }
  if (!report.ok()) return ToGrpcStatus(report.status());
  *out = LabReportToProto(*report, *lab);
  out->set_seconds(absl::ToDoubleSeconds(absl::Now() - start));
  return grpc::Status::OK;
}

}  // namespace dynclamp::server
