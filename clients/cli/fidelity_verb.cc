#include "clients/cli/fidelity_verb.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "clients/cli/verbs.h"
#include "spec_files/spec_file.h"

namespace dynclamp::cli {
namespace {

namespace v1 = dynclamp::v1;

// "exp_euler", "rk4", "forward_euler"; "spec" when the spec's own is used.
std::string IntegratorLabel(v1::Integrator i) {
  if (i == v1::INTEGRATOR_UNSPECIFIED) return "spec";
  return absl::AsciiStrToLower(v1::Integrator_Name(i));
}

std::string Csv(const std::string& s) {
  return absl::StrCat("\"", absl::StrReplaceAll(s, {{"\"", "\"\""}}), "\"");
}

v1::RunLabRequest BuildRequest(const FidelityArgs& a,
                               const std::string& family) {
  v1::RunLabRequest r;
  r.set_family(family);
  for (const std::string& b : a.block) r.add_block(b);
  auto add = [&](std::string series, std::string label, double step,
                 double worst, double latency, bool fi) {
    v1::LabCondition* c = r.add_conditions();
    c->set_series(std::move(series));
    c->set_label(std::move(label));
    c->set_step_us(step);
    c->set_worst_step_us(worst);
    c->set_latency_us(latency);
    c->set_fi_curve(fi);
  };
  for (double s : a.steps_us)
    add("step", absl::StrFormat("step %g us", s), s, 0, 0, true);
  for (double w : a.jitter_worst_us)
    add("jitter", absl::StrFormat("jitter %g-%g us", a.jitter_floor_us, w),
        a.jitter_floor_us, w, 0, true);
  for (double l : a.latencies_us)
    add("latency",
        absl::StrFormat("latency %g us at %g us", l, a.latency_step_us),
        a.latency_step_us, 0, l, true);
  for (double i : a.fi_currents_pa) r.add_fi_currents_pa(i);
  r.set_fi_duration_s(a.fi_duration_s);
  r.set_trials(a.trials);
  r.set_seed(a.seed);
  return r;
}

void PrintTable(const v1::LabReport& rep) {
  std::printf("\n%s: %d trials per condition, lab took %.1f s\n",
              rep.cell().c_str(), rep.trials(), rep.seconds());
  std::printf("control spike: peak %.1f mV, trough %.1f mV\n",
              rep.control().peak_mv(), rep.control().trough_mv());
  std::printf("%-28s %10s %10s %8s %-9s %7s %8s\n", "condition", "error V^2",
              "max V^2", "shape %", "", "F-I %", "peak mV");
  for (const v1::LabResult& r : rep.results()) {
    std::printf("%-28s %10.3e %10.3e %8.1f %-9s %7s %8.1f\n",
                r.condition().label().c_str(), r.mean_error_v2(),
                r.max_error_v2(), 100 * r.shape_change(),
                r.distorted() ? "DISTORTED" : "",
                r.fi_rates_hz_size() > 0
                    ? absl::StrFormat("%.1f", 100 * r.fi_change()).c_str()
                    : "-",
                r.spike().peak_mv());
  }
}

absl::Status WriteCsv(const v1::LabReport& rep, const std::string& prefix) {
  {
    std::ofstream f(prefix + "_errors.csv");
    f << "series,label,step_us,worst_step_us,latency_us,integrator,"
         "mean_error_v2,max_error_v2,shape_change,distorted,fi_change,"
         "peak_mv,trough_mv\n";
    for (const v1::LabResult& r : rep.results()) {
      const v1::LabCondition& c = r.condition();
      f << Csv(c.series()) << "," << Csv(c.label()) << ","
        << absl::StrFormat("%g,%g,%g,%s,%.6e,%.6e,%.6f,%d,%s,%.3f,%.3f\n",
                           c.step_us(), c.worst_step_us(), c.latency_us(),
                           IntegratorLabel(c.integrator()), r.mean_error_v2(),
                           r.max_error_v2(), r.shape_change(), r.distorted(),
                           r.fi_rates_hz_size() > 0
                               ? absl::StrFormat("%.6f", r.fi_change())
                               : "",
                           r.spike().peak_mv(), r.spike().trough_mv());
    }
    if (!f)
      return absl::UnavailableError("cannot write " + prefix + "_errors.csv");
  }
  {
    std::ofstream f(prefix + "_spikes.csv");
    f << "t_ms,control";
    for (const v1::LabResult& r : rep.results())
      f << "," << Csv(r.condition().label());
    f << "\n";
    for (int k = 0; k < rep.control().v_mv_size(); ++k) {
      f << absl::StrFormat("%.4f,%.4f",
                           k * rep.grid_us() * 1e-3 - rep.window_before_ms(),
                           rep.control().v_mv(k));
      for (const v1::LabResult& r : rep.results())
        f << absl::StrFormat(
            ",%.4f", k < r.spike().v_mv_size() ? r.spike().v_mv(k) : 0.0);
      f << "\n";
    }
    if (!f)
      return absl::UnavailableError("cannot write " + prefix + "_spikes.csv");
  }
  if (rep.fi_currents_pa_size() > 0) {
    std::ofstream f(prefix + "_fi.csv");
    f << "current_pa,control";
    for (const v1::LabResult& r : rep.results())
      if (r.fi_rates_hz_size() > 0) f << "," << Csv(r.condition().label());
    f << "\n";
    for (int k = 0; k < rep.fi_currents_pa_size(); ++k) {
      f << absl::StrFormat("%g,%g", rep.fi_currents_pa(k),
                           rep.control_fi_hz(k));
      for (const v1::LabResult& r : rep.results())
        if (r.fi_rates_hz_size() > 0)
          f << absl::StrFormat(",%g", r.fi_rates_hz(k));
      f << "\n";
    }
    if (!f) return absl::UnavailableError("cannot write " + prefix + "_fi.csv");
  }
  return absl::OkStatus();
}

std::string PlotScript() {
  if (const char* env = std::getenv("DYNCLAMP_PLOT_SCRIPT")) return env;
  return DYNCLAMP_PLOT_FIDELITY_SCRIPT;
}

std::string ShellQuote(const std::string& s) {
  return absl::StrCat("'", absl::StrReplaceAll(s, {{"'", "'\\''"}}), "'");
}

}  // namespace

int RunFidelity(client::Client& client, const FidelityArgs& a) {
  std::optional<v1::Spec> spec;
  if (!a.spec_file.empty()) {
    absl::StatusOr<v1::Spec> parsed = spec_files::ReadSpecFile(a.spec_file);
    if (!parsed.ok()) {
      std::fprintf(stderr, "dynclamp: fidelity: %s\n",
                   std::string(parsed.status().message()).c_str());
      return 1;
    }
    spec = *std::move(parsed);
  }
  std::error_code ec;
  std::filesystem::create_directories(a.out_dir, ec);
  if (ec) {
    std::fprintf(stderr, "dynclamp: fidelity: cannot create %s: %s\n",
                 a.out_dir.c_str(), ec.message().c_str());
    return 1;
  }
  for (const std::string& family : a.families) {
    v1::RunLabRequest request = BuildRequest(a, family);
    if (spec.has_value()) *request.mutable_spec() = *spec;
    std::fprintf(stderr, "running the fidelity lab for %s ...\n",
                 family.c_str());
    absl::StatusOr<v1::LabReport> report =
        client.RunLab(request, a.lab_timeout_s);
    if (!report.ok()) {
      std::fprintf(stderr, "dynclamp: fidelity: %s: %s\n",
                   absl::StatusCodeToString(report.status().code()).c_str(),
                   std::string(report.status().message()).c_str());
      return 1;
    }
    PrintTable(*report);
    const std::string prefix =
        (std::filesystem::path(a.out_dir) / family).string();
    if (absl::Status s = WriteCsv(*report, prefix); !s.ok()) {
      std::fprintf(stderr, "dynclamp: fidelity: %s\n",
                   std::string(s.message()).c_str());
      return 1;
    }
  }
  std::printf("\nCSV files in %s\n", a.out_dir.c_str());
  if (!a.plot) return 0;
  const std::string script = PlotScript();
  if (!std::filesystem::exists(script)) {
    std::fprintf(stderr,
                 "dynclamp: fidelity: no plotting script at %s (set "
                 "DYNCLAMP_PLOT_SCRIPT); CSV files are written\n",
                 script.c_str());
    return 1;
  }
  std::fflush(stdout);
  const std::string command = absl::StrCat(
      "/usr/bin/python3 ", ShellQuote(script), " ", ShellQuote(a.out_dir));
  if (std::system(command.c_str()) != 0) {
    std::fprintf(stderr, "dynclamp: fidelity: plotting failed: %s\n",
                 command.c_str());
    return 1;
  }
  return 0;
}

void AddFidelityVerb(CLI::App& app, Globals& g) {
  auto fa = std::make_shared<FidelityArgs>();
  auto* fidelity = app.add_subcommand(
      "fidelity",
      "Bettencourt 2008's fidelity experiments on the simulated CA1 cell (or "
      "your spec): tables, CSV and figures (docs/fidelity.md)");
  fidelity
      ->add_option("--family", fa->families,
                   "channel families clamped back: na, k (= kdr), ka")
      ->delimiter(',')
      ->capture_default_str();
  fidelity->add_option("--spec", fa->spec_file,
                       "your conductances (on cell 0) instead of the presets");
  fidelity
      ->add_option("--block", fa->block,
                   "channels of the CA1 cell your spec replaces (default: "
                   "--family)")
      ->delimiter(',');
  fidelity
      ->add_option("--steps", fa->steps_us,
                   "fixed steps, us (any of --steps/--jitter/--latency "
                   "replaces the paper's conditions)")
      ->delimiter(',');
  fidelity->add_option("--jitter", fa->jitter_worst_us, "worst-case steps, us")
      ->delimiter(',');
  fidelity
      ->add_option("--jitter-floor", fa->jitter_floor_us,
                   "shortest jittered step, us")
      ->capture_default_str();
  fidelity->add_option("--latency", fa->latencies_us, "latencies, us")
      ->delimiter(',');
  fidelity
      ->add_option("--latency-step", fa->latency_step_us,
                   "the step of the latency runs, us")
      ->capture_default_str();
  fidelity
      ->add_option("--fi-currents", fa->fi_currents_pa,
                   "F-I currents, pA (default 0 to 2000 by 200)")
      ->delimiter(',');
  fidelity->add_option("--fi-duration", fa->fi_duration_s,
                       "seconds per F-I current (default 1)");
  fidelity->add_option("--trials", fa->trials,
                       "runs per condition (default 10)");
  fidelity->add_option("--seed", fa->seed, "seed of the phases and jitter");
  fidelity->add_option("-o,--out", fa->out_dir, "directory for CSV and PNG")
      ->capture_default_str();
  auto no_plot = std::make_shared<bool>(false);
  fidelity->add_flag("--no-plot", *no_plot, "write CSV only");
  fidelity
      ->add_option("--lab-timeout", fa->lab_timeout_s,
                   "seconds to wait for each family's lab")
      ->capture_default_str();
  OnVerb(fidelity, g, [&g, fa, no_plot] {
    fa->plot = !*no_plot;
    auto client = ConnectOrDie(g, "fidelity");
    return RunFidelity(*client, *fa);
  });
}

}  // namespace dynclamp::cli
