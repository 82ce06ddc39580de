#include "server/api/mechanisms.h"

#include <string>

#include "rt_engine/model_set.h"
#include "rt_engine/models/channel_presets.h"
#include "rt_engine/models/constant_conductance.h"
#include "rt_engine/models/hh_channel.h"
#include "rt_engine/models/ligand_gated.h"
#include "rt_engine/network/circuit_spec.h"

namespace dynclamp::server {
namespace {

void AddParams(v1::Mechanism& m, std::span<const rt::ParamInfo> info) {
  for (const rt::ParamInfo& p : info) {
    v1::ParameterInfo* out = m.add_parameters();
    out->set_name(std::string(p.name));
    out->set_unit(std::string(p.unit));
    out->set_default_value(p.default_value);
    out->set_min(p.min);
    out->set_max(p.max);
    out->set_min_exclusive(p.min_exclusive);
    out->set_live(p.live);
    out->set_help(std::string(p.help));
  }
}

// The rows of `table`, with `defaults`' values as their defaults.
template <typename T>
void AddParams(v1::Mechanism& m, rt::ParamSpan<T> table, const T* defaults) {
  AddParams(m, table.info());
  for (std::size_t i = 0; i < table.size(); ++i) {
    m.mutable_parameters(m.parameters_size() - table.size() + i)
        ->set_default_value(table.Get(*defaults, static_cast<int>(i)));
  }
}

}  // namespace

v1::ListMechanismsResponse ListMechanisms() {
  v1::ListMechanismsResponse r;
  {
    v1::Mechanism* m = r.add_mechanisms();
    m->set_name("constant");
    m->set_kind("model");
    m->set_description(
        "voltage-independent conductance, I = g (E - V); negative g "
        "subtracts (leak subtraction)");
    AddParams(*m, rt::ConstantConductance::kParams.info());
  }
  {
    v1::Mechanism* m = r.add_mechanisms();
    m->set_name("ligand_gated");
    m->set_kind("model");
    m->set_description(
        "conductance with a time course: triggered double exponential "
        "(normalized peak) or continuous application with rise/decay taus; "
        "live action 'trigger'");
    AddParams(*m, rt::LigandGated::kParams.info());
    m->add_states(std::string(rt::ConductanceBank::kLigandSignal.suffix));
  }
  {
    v1::Mechanism* m = r.add_mechanisms();
    m->set_name("hh");
    m->set_kind("model");
    m->set_description(
        "Hodgkin-Huxley-type channel g = g_max prod x^p with any gates "
        "(alpha/beta, inf/tau or expressions of V); tabulated, integrated by "
        "exp-Euler, RK4 or forward Euler");
    AddParams(*m, rt::HhChannel::kParams.info());
  }
  // A kind whose states are its banks' signal descriptors.
  auto simple =
      [&r](absl::string_view name, const char* kind, const char* description,
           std::span<const rt::ParamInfo> info,
           std::initializer_list<std::span<const rt::SignalDesc>> states) {
        v1::Mechanism* m = r.add_mechanisms();
        m->set_name(std::string(name));
        m->set_kind(kind);
        m->set_description(description);
        AddParams(*m, info);
        for (std::span<const rt::SignalDesc> list : states)
          for (const rt::SignalDesc& s : list)
            m->add_states(std::string(s.suffix));
      };
  using rt::ModelCellBank;
  using rt::NetworkBank;
  for (rt::SynapseKind k : rt::kSynapseKinds) {
    simple(rt::SynapseKindName(k), "synapse",
           "event-driven synapse (NEURON book ch. 10); connection weights in "
           "nS",
           rt::EventSynapseParamTable(k).info(),
           {NetworkBank::kSynapseSignals});
  }
  for (rt::ArtificialKind k : rt::kArtificialKinds) {
    const bool source_only =
        k == rt::ArtificialKind::kVecStim || k == rt::ArtificialKind::kNetStim;
    // A spike generator's m is always 0: its state is its spikes.
    simple(rt::ArtificialKindName(k), "artificial_cell",
           source_only ? "spike generator"
                       : "integrate-and-fire cell computed at events",
           rt::ArtificialParamTable(k).info(),
           {std::span(NetworkBank::kArtificialSignals)
                .subspan(source_only ? 1 : 0)});
  }
  simple(
      "model_cell", "cell",
      "a neuron simulated by the engine: conductance-based (its channels are "
      "conductances on it), izhikevich or adex",
      ModelCellBank::kParams.info(), {ModelCellBank::kSignals});
  simple("izhikevich", "cell", "Izhikevich (2007) dynamics of a model cell",
         rt::kIzhikevichParams.info(),
         {ModelCellBank::kSignals, {&ModelCellBank::kIzhikevichSignal, 1}});
  simple("adex", "cell", "adaptive exponential integrate-and-fire dynamics",
         rt::kAdexParams.info(),
         {ModelCellBank::kSignals, {&ModelCellBank::kAdexSignal, 1}});
  simple("connection", "connection",
         "a NetCon: spikes of a cell (threshold crossing) or artificial cell "
         "reach a synapse or artificial cell after a delay, with a weight",
         NetworkBank::kConnectionParams.info(), {});
  simple(
      "graded_synapse", "synapse", "graded transmission from the presynaptic V",
      rt::GradedSynapseBank::kParams.info(), {rt::GradedSynapseBank::kSignals});
  simple("gap_junction", "synapse", "electrical coupling, both ways",
         rt::GapJunctionBank::kParams.info(), {rt::GapJunctionBank::kSignals});
  simple(
      "background", "input",
      "in-vivo-like excitatory and inhibitory Ornstein-Uhlenbeck conductances",
      rt::BackgroundBank::kParams.info(), {rt::BackgroundBank::kSignals});
  for (const rt::PresetInfo& info : rt::ListPresets()) {
    v1::Mechanism* m = r.add_mechanisms();
    m->set_name(std::string(info.name));
    m->set_kind("preset");
    m->set_description(std::string(info.description));
    const auto preset = *rt::MakePreset(info.name);
    // A preset's defaults are its own values of the model's parameters.
    if (const auto* hh = std::get_if<rt::HhChannel::Params>(&preset)) {
      AddParams(*m, rt::HhChannel::kParams.rows(), hh);
      for (const rt::GateSpec& g : hh->gates) m->add_states(g.name);
    } else {
      AddParams(*m, rt::ConstantConductance::kParams.rows(),
                &std::get<rt::ConstantConductance::Params>(preset));
    }
  }
  return r;
}

}  // namespace dynclamp::server
