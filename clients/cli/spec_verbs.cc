#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "clients/cli/verbs.h"
#include "spec_files/spec_file.h"

namespace dynclamp::cli {
namespace {

int Validate(const Globals& g, const std::string& file) {
  const v1::Spec spec = OrDie("validate", spec_files::ReadSpecFile(file));
  auto client = ConnectOrDie(g, "validate");
  const auto r = OrDie("validate", client->ValidateSpec(spec));
  std::printf("%s: valid; %d conductance(s), signals: %s\n", file.c_str(),
              spec.conductances_size(),
              absl::StrJoin(r.signals(), ", ").c_str());
  return 0;
}

int Load(const Globals& g, const std::string& file) {
  const std::string text = OrDie("load", spec_files::ReadTextFile(file));
  const v1::Spec spec = OrDie("load", spec_files::ParseSpec(text, file));
  auto client = ConnectOrDie(g, "load");
  const auto r = OrDie("load", client->LoadSpec(spec, text));
  std::printf("loaded %s as generation %u; signals: %s\n", file.c_str(),
              r.generation(), absl::StrJoin(r.signals(), ", ").c_str());
  return 0;
}

// Loads an empty spec: no conductance, model or synapse is left (the cells
// keep only what the protocol or nothing injects), between two cycles.
int Unload(const Globals& g) {
  auto client = ConnectOrDie(g, "unload");
  const auto r = OrDie("unload", client->LoadSpec(v1::Spec(), ""));
  std::printf(
      "spec unloaded (generation %u): nothing is injected but what a "
      "protocol plays\n",
      r.generation());
  return 0;
}

int Spec(const Globals& g) {
  auto client = ConnectOrDie(g, "spec");
  const auto r = OrDie("spec", client->GetLoadedSpec());
  std::printf("# generation %u\n%s\n", r.generation(),
              spec_files::SpecToJson(r.spec()).c_str());
  if (r.live_changes_dropped() > 0)
    std::printf("# live: %llu earlier changes not listed\n",
                static_cast<unsigned long long>(r.live_changes_dropped()));
  for (const auto& lc : r.live_changes())
    std::printf("# live: %s = %g\n", lc.parameter().c_str(), lc.value());
  return 0;
}

int Set(const Globals& g, const std::string& name, const std::string& text) {
  double value = 0;
  if (!absl::SimpleAtod(text, &value)) {
    Die("set", absl::InvalidArgumentError(absl::StrCat(
                   "VALUE: '", text,
                   "' is not a number; live parameters are numbers in their "
                   "unit ('dynclamp mechanisms' lists them); a choice such as "
                   "an integrator is made in the spec, loaded again")));
  }
  auto client = ConnectOrDie(g, "set");
  if (auto s = client->SetParameter(name, value); !s.ok()) Die("set", s);
  std::printf("%s = %g (from the next cycle)\n", name.c_str(), value);
  return 0;
}

}  // namespace

void AddSpecVerbs(CLI::App& app, Globals& g) {
  auto file = std::make_shared<std::string>();
  auto* validate =
      app.add_subcommand("validate", "check a spec file without loading it");
  validate->add_option("FILE", *file, "YAML or JSON spec")->required();
  OnVerb(validate, g, [&g, file] { return Validate(g, *file); });
  auto* load = app.add_subcommand(
      "load", "load a spec file (swapped in between cycles)");
  load->add_option("FILE", *file, "YAML or JSON spec")->required();
  OnVerb(load, g, [&g, file] { return Load(g, *file); });
  OnVerb(app.add_subcommand("spec", "print the loaded spec"), g,
         [&g] { return Spec(g); });
  OnVerb(app.add_subcommand(
             "unload",
             "unload the spec (swapped for an empty one between cycles)"),
         g, [&g] { return Unload(g); });
  auto name_value = std::make_shared<std::pair<std::string, std::string>>();
  auto* set = app.add_subcommand(
      "set", "change a live parameter, e.g. set gaba.g_max_ns 5");
  set->add_option("NAME", name_value->first, "<conductance>.<parameter>")
      ->required();
  set->add_option("VALUE", name_value->second, "new value")->required();
  OnVerb(set, g, [&g, name_value] {
    return Set(g, name_value->first, name_value->second);
  });
}

}  // namespace dynclamp::cli
