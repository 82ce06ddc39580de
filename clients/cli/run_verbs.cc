#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/cli/verbs.h"

namespace dynclamp::cli {
namespace {

int Start(const Globals& g, double duration_s, bool wait) {
  auto client = ConnectOrDie(g, "start");
  const v1::Run run = OrDie("start", client->StartRun(duration_s));
  std::printf("run %lu started%s\n", static_cast<unsigned long>(run.run_id()),
              duration_s > 0 ? absl::StrFormat(" for %g s", duration_s).c_str()
                             : " (until 'dynclamp stop')");
  std::fflush(stdout);
  if (!wait) return 0;
  v1::Run last = run;
  const absl::Status s = client->WatchRun([&](const v1::Run& r) {
    last = r;
    std::fprintf(stderr, "\r  %s %.1f / %.1f s   ",
                 StateName(r.state()).c_str(), r.elapsed_s(), r.duration_s());
    return !(r.run_id() == run.run_id() && Terminal(r.state()));
  });
  std::fprintf(stderr, "\n");
  if (!s.ok()) Die("start", s);
  PrintRun(OrDie("start", client->GetRun()));
  return 0;
}

std::string OrNone(const std::string& s) {
  return s.empty() ? "(not given)" : s;
}

// What the recording will say about the session, and what the DANDI
// archive would miss.
template <typename Missing>
void PrintSession(const v1::Session& m, const Missing& missing) {
  const v1::Subject& s = m.subject();
  std::printf("session: experimenter %s; institution %s; lab %s\n",
              OrNone(absl::StrJoin(m.experimenter(), "; ")).c_str(),
              OrNone(m.institution()).c_str(), OrNone(m.lab()).c_str());
  std::printf("  subject %s: species %s, age %s, sex %s\n",
              OrNone(s.subject_id()).c_str(), OrNone(s.species()).c_str(),
              OrNone(s.age()).c_str(), OrNone(s.sex()).c_str());
  if (!s.description().empty())
    std::printf("  subject: %s\n", s.description().c_str());
  if (!m.keywords().empty())
    std::printf("  keywords: %s\n", absl::StrJoin(m.keywords(), ", ").c_str());
  if (!m.slice().empty()) std::printf("  slice: %s\n", m.slice().c_str());
  for (const v1::CellInfo& c : m.cells()) {
    std::printf("  %s: %s%s%s\n", c.cell().c_str(),
                c.cell_description().c_str(), c.location().empty() ? "" : ", ",
                c.location().c_str());
  }
  if (!missing.empty()) {
    std::printf(
        "  WARNING: the DANDI archive will refuse this file: no %s (give "
        "them in --session FILE, the protocol's session, or dynclampd "
        "--session_file)\n",
        absl::StrJoin(missing, ", ").c_str());
  }
}

// `dynclamp check`: what RunProtocol would do, without running anything.
int CheckProtocolFile(const Globals& g, const std::string& protocol_path,
                      const std::string& spec_path,
                      const std::string& session_path) {
  const v1::RunProtocolRequest request =
      ReadRunRequest("check", protocol_path, spec_path, session_path);
  auto client = ConnectOrDie(g, "check");
  const v1::ProtocolCheck check =
      OrDie("check", client->ValidateProtocol(request));
  std::printf("%s: valid; protocol %s, %u sweeps, %.3f s, against %s\n",
              protocol_path.c_str(), check.name().c_str(), check.sweeps(),
              check.duration_s(),
              spec_path.empty() ? "the loaded spec" : spec_path.c_str());
  std::printf("records: V and I of every cell%s%s\n",
              check.recorded_signals().empty() ? "" : ", ",
              absl::StrJoin(check.recorded_signals(), ", ").c_str());
  PrintSession(check.session(), check.session_missing());
  return 0;
}

int RunProtocolFile(const Globals& g, const std::string& protocol_path,
                    const std::string& spec_path,
                    const std::string& session_path, bool wait) {
  const v1::RunProtocolRequest request =
      ReadRunRequest("run", protocol_path, spec_path, session_path);
  auto client = ConnectOrDie(g, "run");
  const v1::Run run = OrDie("run", client->RunProtocol(request));
  std::printf("run %lu: protocol %s, %u sweeps, recording to %s\n",
              static_cast<unsigned long>(run.run_id()),
              run.protocol_name().c_str(), run.sweeps_total(),
              run.nwb_path().c_str());
  PrintSession(run.session(), run.session_missing());
  std::fflush(stdout);
  if (!wait) return 0;
  const absl::Status s = client->WatchRun([&](const v1::Run& r) {
    std::fprintf(stderr, "\r  %s sweep %u of %u, %.1f s   ",
                 StateName(r.state()).c_str(), r.sweeps_completed(),
                 r.sweeps_total(), r.elapsed_s());
    return !(r.run_id() == run.run_id() && Terminal(r.state()));
  });
  std::fprintf(stderr, "\n");
  if (!s.ok()) Die("run", s);
  const v1::Run last =
      WithFidelity(*client, OrDie("run", client->GetRun()), "run");
  PrintRun(last);
  PrintSweeps(last);
  PrintFidelity(last);
  return last.state() == v1::COMPLETED ? 0 : 1;
}

int Stop(const Globals& g) {
  auto client = ConnectOrDie(g, "stop");
  PrintRun(OrDie("stop", client->StopRun()));
  return 0;
}

int ClearFault(const Globals& g) {
  auto client = ConnectOrDie(g, "clear-fault");
  PrintRun(OrDie("clear-fault", client->ClearFault()));
  return 0;
}

int Watch(const Globals& g) {
  auto client = ConnectOrDie(g, "watch");
  const absl::Status s = client->WatchRun([](const v1::Run& r) {
    std::printf("%s run %lu %s %.2f s cycles %lu overruns %lu\n",
                absl::FormatTime("%H:%M:%S", absl::Now(), absl::LocalTimeZone())
                    .c_str(),
                static_cast<unsigned long>(r.run_id()),
                StateName(r.state()).c_str(), r.elapsed_s(),
                static_cast<unsigned long>(r.timing().cycles()),
                static_cast<unsigned long>(r.timing().overruns()));
    std::fflush(stdout);
    return true;
  });
  if (!s.ok()) Die("watch", s);
  return 0;
}

}  // namespace

void AddRunVerbs(CLI::App& app, Globals& g) {
  struct Args {
    double duration = 0;
    bool wait = false;
    std::string protocol, spec, session;
    bool now = false;
  };
  auto a = std::make_shared<Args>();
  auto* start = app.add_subcommand("start", "start the clamp");
  start->add_option("--duration", a->duration, "seconds; 0 = until stopped");
  start->add_flag("--wait", a->wait,
                  "wait for the run to end, showing progress");
  OnVerb(start, g, [&g, a] { return Start(g, a->duration, a->wait); });
  OnVerb(app.add_subcommand("stop", "stop the clamp (outputs to 0)"), g,
         [&g] { return Stop(g); });
  OnVerb(app.add_subcommand("clear-fault",
                            "leave FAULT after dealing with its cause"),
         g, [&g] { return ClearFault(g); });
  OnVerb(app.add_subcommand("watch", "print run state changes"), g,
         [&g] { return Watch(g); });
  auto* run = app.add_subcommand(
      "run", "play a protocol file and record it (NWB under the data dir)");
  run->add_option("PROTOCOL", a->protocol, "YAML or JSON protocol")->required();
  run->add_option("--spec", a->spec, "load this spec first");
  run->add_option("--session", a->session,
                  "session metadata (YAML/JSON: subject, experimenter, ...; "
                  "see examples/session.yaml)");
  run->add_flag("--wait", a->wait,
                "wait for the end; print the file and each sweep's timing");
  OnVerb(run, g, [&g, a] {
    return RunProtocolFile(g, a->protocol, a->spec, a->session, a->wait);
  });
  auto* check = app.add_subcommand(
      "check",
      "validate a protocol file as 'run' would (against --spec, or the loaded "
      "spec) without running it; also while a run is active");
  check->add_option("PROTOCOL", a->protocol, "YAML or JSON protocol")
      ->required();
  check->add_option("--spec", a->spec, "check against this spec");
  check->add_option("--session", a->session, "session metadata (YAML/JSON)");
  OnVerb(check, g, [&g, a] {
    return CheckProtocolFile(g, a->protocol, a->spec, a->session);
  });
  auto* pause =
      app.add_subcommand("pause", "pause the protocol after the current sweep");
  pause->add_flag("--now", a->now,
                  "pause at once (the sweep is played again on resume)");
  OnVerb(pause, g, [&g, a] {
    auto client = ConnectOrDie(g, "pause");
    PrintRun(OrDie("pause", client->PauseRun(a->now)));
    return 0;
  });
  OnVerb(app.add_subcommand("resume", "resume a paused protocol"), g, [&g] {
    auto client = ConnectOrDie(g, "resume");
    PrintRun(OrDie("resume", client->ResumeRun()));
    return 0;
  });
}

}  // namespace dynclamp::cli
