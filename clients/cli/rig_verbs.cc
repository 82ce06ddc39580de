#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "clients/cli/verbs.h"

namespace dynclamp::cli {
namespace {

int Status(const Globals& g) {
  auto client = ConnectOrDie(g, "status");
  const v1::Rig rig = OrDie("status", client->GetRig());
  std::printf("dynclampd %s at %s\n", rig.daemon_version().c_str(),
              g.server.c_str());
  std::printf("rig: %s\n", rig.description().c_str());
  std::printf("period: %.1f us (%.1f kHz)\n", rig.period_ns() / 1e3,
              1e6 / rig.period_ns());
  for (const v1::Channel& c : rig.channels()) {
    std::printf(
        "  %-8s in %g mV/V  out %g pA/V  limit %g pA  clipped %lu%s\n",
        c.name().c_str(), c.input_gain_mv_per_v(), c.output_gain_pa_per_v(),
        c.current_limit_pa(), static_cast<unsigned long>(c.clipped_samples()),
        c.holding_pa() == 0
            ? ""
            : absl::StrFormat("  held at %g pA", c.holding_pa()).c_str());
  }
  const v1::RtSettings& rt = rig.rt_settings();
  if (rt.known()) {
    std::printf("RT thread: %s %d, memory %s, cpu %s\n", rt.policy().c_str(),
                rt.priority(), rt.memory_locked() ? "locked" : "not locked",
                rt.cpu() < 0 ? "any" : std::to_string(rt.cpu()).c_str());
    for (const auto& n : rt.notes()) std::printf("  note: %s\n", n.c_str());
    if (!rt.wake().empty())
      std::printf("  wake: %s\n", rt.wake_reason().c_str());
  } else {
    std::printf("RT thread: not started yet\n");
  }
  const v1::LoadedSpec spec = OrDie("status", client->GetLoadedSpec());
  if (spec.generation() == 0) {
    std::printf("spec: none loaded\n");
  } else {
    std::vector<std::string> parts;
    for (const auto& c : spec.spec().conductances())
      parts.push_back(absl::StrCat(c.name(), " on ", c.cell()));
    std::printf("spec: generation %u: %s\n", spec.generation(),
                absl::StrJoin(parts, ", ").c_str());
    if (spec.live_changes_dropped() > 0)
      std::printf("  live: %llu earlier changes not listed\n",
                  static_cast<unsigned long long>(spec.live_changes_dropped()));
    for (const auto& lc : spec.live_changes())
      std::printf("  live: %s = %g\n", lc.parameter().c_str(), lc.value());
  }
  const v1::Run run = OrDie("status", client->GetRun());
  PrintRun(run);
  PrintSweeps(run);
  return 0;
}

int Mechanisms(const Globals& g) {
  auto client = ConnectOrDie(g, "mechanisms");
  const auto r = OrDie("mechanisms", client->ListMechanisms());
  for (const v1::Mechanism& m : r.mechanisms()) {
    std::printf("%s (%s): %s\n", m.name().c_str(), m.kind().c_str(),
                m.description().c_str());
    for (const v1::ParameterInfo& p : m.parameters()) {
      std::printf("    %-14s %-5s default %-10g range %s%g, %g]%s\n",
                  p.name().c_str(), p.unit().c_str(), p.default_value(),
                  p.min_exclusive() ? "(" : "[", p.min(), p.max(),
                  p.live() ? "  live" : "");
    }
    if (m.states_size() > 0)
      std::printf("    states: %s\n", absl::StrJoin(m.states(), ", ").c_str());
  }
  return 0;
}

int Signals(const Globals& g) {
  auto client = ConnectOrDie(g, "signals");
  const auto r = OrDie("signals", client->ListSignals());
  for (const v1::Signal& s : r.signals())
    std::printf("%-24s %s\n", s.name().c_str(), s.unit().c_str());
  return 0;
}

// Holds a cell at a steady current, like an amplifier's holding current.
int Hold(const Globals& g, const std::string& cell, const std::string& text) {
  double pa = 0;
  if (!absl::SimpleAtod(text, &pa)) {
    Die("hold", absl::InvalidArgumentError(
                    absl::StrCat("PA: '", text, "' is not a current in pA")));
  }
  auto client = ConnectOrDie(g, "hold");
  const v1::Rig rig = OrDie("hold", client->SetHolding(cell, pa));
  std::printf(pa == 0 ? "%s: holding current released\n"
                      : "%s: held at %g pA (from the next cycle, while the "
                        "clamp runs; 'hold %s 0' releases it)\n",
              cell.c_str(), pa, cell.c_str());
  (void)rig;
  return 0;
}

}  // namespace

void AddRigVerbs(CLI::App& app, Globals& g) {
  OnVerb(app.add_subcommand("status", "rig, loaded spec and run"), g,
         [&g] { return Status(g); });
  OnVerb(app.add_subcommand("mechanisms",
                            "models and presets with their parameters"),
         g, [&g] { return Mechanisms(g); });
  OnVerb(app.add_subcommand("signals", "signals that can be streamed now"), g,
         [&g] { return Signals(g); });
  auto args = std::make_shared<std::pair<std::string, std::string>>();
  auto* hold = app.add_subcommand(
      "hold", "hold a cell at a steady current (pA), live; 0 releases it");
  hold->add_option("CELL", args->first, "e.g. cell0")->required();
  hold->add_option("PA", args->second, "current in pA (positive depolarizes)")
      ->required();
  OnVerb(hold, g, [&g, args] { return Hold(g, args->first, args->second); });
  OnVerb(
      app.add_subcommand("health", "the daemon's gRPC health status"), g, [&g] {
        auto client = ConnectOrDie(g, "health");
        const auto s = OrDie("health", client->CheckHealth());
        std::printf("%s\n",
                    grpc::health::v1::HealthCheckResponse::ServingStatus_Name(s)
                        .c_str());
        return s == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
      });
}

}  // namespace dynclamp::cli
