// circuit_trace: runs a circuit spec (YAML/JSON, as dynclamp loads it)
// through the engine offline and prints, per step, "t_ms,<signal>..." (the
// state each step used, at t = k dt), then the spikes with their exact
// times as lines "# spike <source> <t_ms>". Real cells (cell0, ...) are held
// at --real_v_mv.
//
//   circuit_trace --spec FILE --duration_ms=100 --dt_us=25
//                 [--signals=a,b] [--real_cells=1] [--real_v_mv=-65]
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "rt_engine/model_set.h"
#include "server/lowering/spec_lowering.h"
#include "spec_files/spec_file.h"

ABSL_FLAG(std::string, spec, "", "circuit spec file");
ABSL_FLAG(double, duration_ms, 100.0, "simulated time");
ABSL_FLAG(double, dt_us, 25.0, "step");
ABSL_FLAG(std::vector<std::string>, signals, {},
          "signals to print (default all)");
ABSL_FLAG(int, real_cells, 1, "rig cells cell0..");
ABSL_FLAG(double, real_v_mv, -65.0, "V of the rig cells");
ABSL_FLAG(
    bool, timing, false,
    "print no trace, only the spikes and '# wall_s <seconds of stepping>'");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  auto spec = dynclamp::spec_files::ReadSpecFile(absl::GetFlag(FLAGS_spec));
  if (!spec.ok())
    return std::fprintf(stderr, "%s\n", spec.status().ToString().c_str()), 1;
  std::vector<std::string> cells;
  for (int i = 0; i < absl::GetFlag(FLAGS_real_cells); ++i)
    cells.push_back("cell" + std::to_string(i));
  auto lowered = dynclamp::server::LowerSpec(*spec, cells);
  if (!lowered.ok())
    return std::fprintf(stderr, "%s\n", lowered.status().ToString().c_str()), 1;
  dynclamp::rt::ModelSet::Config cfg;
  cfg.dt_ms = absl::GetFlag(FLAGS_dt_us) * 1e-3;
  cfg.cell_names = cells;
  cfg.max_signals = 1 << 20;
  cfg.spike_log_capacity = 1 << 20;
  auto set = dynclamp::rt::ModelSet::Prepare(*lowered, cfg);
  if (!set.ok())
    return std::fprintf(stderr, "%s\n", set.status().ToString().c_str()), 1;
  const auto& all = (*set)->signals();
  std::vector<std::size_t> pick;
  const auto wanted = absl::GetFlag(FLAGS_signals);
  if (wanted.empty()) {
    for (std::size_t k = 0; k < all.size(); ++k) pick.push_back(k);
  } else {
    for (const auto& w : wanted) {
      std::size_t k = 0;
      while (k < all.size() && all[k].name != w) ++k;
      if (k == all.size())
        return std::fprintf(stderr, "no signal %s\n", w.c_str()), 1;
      pick.push_back(k);
    }
  }
  const bool timing = absl::GetFlag(FLAGS_timing);
  if (!timing) {
    std::printf("t_ms");
    for (std::size_t k : pick) std::printf(",%s", all[k].name.c_str());
    std::printf("\n");
  }
  std::vector<double> v(cells.size(), absl::GetFlag(FLAGS_real_v_mv)),
      i(cells.size());
  std::vector<double> values(all.size());
  const long steps = std::lround(absl::GetFlag(FLAGS_duration_ms) / cfg.dt_ms);
  const auto start = std::chrono::steady_clock::now();
  for (long k = 0; k < steps; ++k) {
    (*set)->Step(v, i);
    if (timing) continue;
    (*set)->WriteSignals(values);
    std::printf("%.6f", k * cfg.dt_ms);
    for (std::size_t j : pick) std::printf(",%.10g", values[j]);
    std::printf("\n");
  }
  if (timing) {
    std::printf("# wall_s %.6f\n", std::chrono::duration<double>(
                                       std::chrono::steady_clock::now() - start)
                                       .count());
  }
  for (const auto& s : (*set)->spike_log())
    std::printf("# spike %s %.9f\n", (*set)->source_name(s.source).c_str(),
                s.t_ms);
  return 0;
}
