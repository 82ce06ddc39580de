// Bank: what every kind's bank in a ModelSet shares. A bank holds all the
// objects of one kind (gap junctions, backgrounds, ...) and has one shape:
//
//   static Validate(specs, SpecContext&)  every field of every object
//   Build(specs, dt)                      coefficients and state, allocated
//   AddSignals(SignalSink&)               its signals, from its descriptor
//   Step(CellSums) noexcept               adds its g and g E to the cells
//   Apply / Read(index, param) noexcept   live parameters, by table row
//   Resolve(name, param, value)           a live change, checked
//
// ModelSet owns the banks and fixes only the order of their steps.
//
// Threads: SpecContext, SignalSink and FindLive are non-RT; CellSums is
// plain data the RT step writes through.
#ifndef DYNCLAMP_RT_ENGINE_BANKS_BANK_H_
#define DYNCLAMP_RT_ENGINE_BANKS_BANK_H_

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "rt_engine/models/param_info.h"

namespace dynclamp::rt {

// What one step did with events, for the loop's counters.
struct StepReport {
  uint32_t events_delivered = 0;
  uint32_t events_dropped = 0;  // the event queue was full
  uint32_t spikes = 0;
};

// One signal every object of a kind publishes: "<object>.<suffix>".
struct SignalDesc {
  absl::string_view suffix;
  absl::string_view unit;
};

// What one conductance-like object delivered this step (its signals).
struct Output {
  uint32_t cell = 0;
  double g_ns = 0;
  double i_pa = 0;
};

// The cells' arrays during a step: V of every cell (real, then model) and
// the sums of conductance (nS) and conductance times reversal (nS mV) that
// the cells' currents are formed from.
struct CellSums {
  std::span<const double> v;
  std::span<double> g;
  std::span<double> ge;
  // RT. Adds conductance g with reversal e to `cell`.
  void Add(uint32_t cell, double g_ns, double e_mv) const noexcept {
    g[cell] += g_ns;
    ge[cell] += g_ns * e_mv;
  }
  // RT. The same for an object with its output: I = g (E - V).
  void Deliver(Output& out, double g_ns, double e_mv) const noexcept {
    out.g_ns = g_ns;
    out.i_pa = g_ns * (e_mv - v[out.cell]);
    Add(out.cell, g_ns, e_mv);
  }
};

// What validating one bank needs to know of the rest of the spec: the
// step, how many cells there are, and the names already taken.
class SpecContext {
 public:
  SpecContext(double dt_ms, int num_cells, std::set<std::string> names)
      : dt_ms_(dt_ms), num_cells_(num_cells), names_(std::move(names)) {}

  double dt_ms() const { return dt_ms_; }
  int num_cells() const { return num_cells_; }
  // Claims `name` for object k of `list`; returns its path as errors name
  // it ("gap_junctions[2] (gj)"), or InvalidArgument if the name is bad or
  // taken.
  absl::StatusOr<std::string> Claim(absl::string_view list, std::size_t k,
                                    const std::string& name);
  // InvalidArgument naming path.field unless `cell` is a cell index.
  absl::Status CheckCell(int cell, absl::string_view path,
                         absl::string_view field) const;

 private:
  double dt_ms_;
  int num_cells_;
  std::set<std::string> names_;
};

// Collects the signals of every bank, in order: every name (so that a
// published_signals pattern matching none can be reported) and, for the
// published ones, the value each frame copies.
class SignalSink {
 public:
  explicit SignalSink(std::function<bool(const std::string&)> publishes)
      : publishes_(std::move(publishes)) {}
  // Adds signal `name` reading *source; true if published.
  bool Add(std::string name, absl::string_view unit, const double* source);
  // Adds "<object>.<signal.suffix>".
  bool Add(absl::string_view object, const SignalDesc& signal,
           const double* source) {
    return Add(absl::StrCat(object, ".", signal.suffix), signal.unit, source);
  }

  struct Published {
    std::string name;
    std::string unit;
    const double* source;
  };
  const std::vector<std::string>& all() const { return all_; }
  const std::vector<Published>& published() const { return published_; }

 private:
  std::function<bool(const std::string&)> publishes_;
  std::vector<std::string> all_;
  std::vector<Published> published_;
};

// A live change resolved within one bank.
struct LiveRef {
  uint32_t index = 0;  // the object, in the bank's spec order
  int param = 0;       // the row of its parameter table
};

// Non-RT. The row of `param` in `info` for a live change of object
// `object` to `value`: NotFound if it has no such parameter,
// FailedPrecondition if it is not live, InvalidArgument if `value` is out
// of its range; `path` is what the user asked for.
absl::StatusOr<int> LiveRow(std::span<const ParamInfo> info,
                            absl::string_view object, absl::string_view param,
                            double value, absl::string_view path);

// Non-RT. Finds object `name` among `specs` (each with a .name) and its
// parameter by LiveRow; nullopt if no object has that name.
template <typename Spec>
std::optional<absl::StatusOr<LiveRef>> FindLive(const std::vector<Spec>& specs,
                                                absl::string_view name,
                                                absl::string_view param,
                                                double value,
                                                std::span<const ParamInfo> info,
                                                absl::string_view path) {
  for (std::size_t k = 0; k < specs.size(); ++k) {
    if (specs[k].name != name) continue;
    absl::StatusOr<int> row = LiveRow(info, name, param, value, path);
    if (!row.ok()) return row.status();
    return LiveRef{static_cast<uint32_t>(k), *row};
  }
  return std::nullopt;
}

// Non-RT. Claims the name of each of `specs` in `list`, in order, and runs
// `check(spec, path)` on it; the first error.
template <typename Spec, typename Check>
absl::Status ValidateEach(const std::vector<Spec>& specs,
                          absl::string_view list, SpecContext& context,
                          Check check) {
  for (std::size_t k = 0; k < specs.size(); ++k) {
    absl::StatusOr<std::string> path = context.Claim(list, k, specs[k].name);
    if (!path.ok()) return path.status();
    if (absl::Status s = check(specs[k], *path); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// Non-RT. ValidateEach for a SpecBank: each of the Bank's kCells is a
// cell, then `check(spec, path)` (what else the kind requires), then its
// rows of kParams.
template <typename Bank, typename Check>
absl::Status ValidateSpecs(const std::vector<typename Bank::Spec>& specs,
                           SpecContext& context, Check check) {
  return ValidateEach(
      specs, Bank::kList, context,
      [&](const typename Bank::Spec& spec,
          const std::string& path) -> absl::Status {
        for (const auto& [member, field] : Bank::kCells) {
          if (auto s = context.CheckCell(spec.*member, path, field); !s.ok())
            return s;
        }
        if (absl::Status s = check(spec, path); !s.ok()) return s;
        return Bank::kParams.Check(spec, path);
      });
}
template <typename Bank>
absl::Status ValidateSpecs(const std::vector<typename Bank::Spec>& specs,
                           SpecContext& context) {
  return ValidateSpecs<Bank>(
      specs, context,
      [](const auto&, const std::string&) { return absl::OkStatus(); });
}

// A field of a Spec that is a cell's index, and its name as users write it.
template <typename Spec>
struct CellField {
  int Spec::*member;
  const char* name;
};

// What a bank whose objects keep their spec at run time shares: each
// Runtime has the object's Spec in `p`, where its live rows of `kTable`
// change (then Runtime::Refresh(), if it has one, recomputes what follows
// from them).
template <typename Runtime, const auto& kTable>
class SpecBank {
 public:
  using Spec = std::remove_cvref_t<decltype(Runtime::p)>;
  static constexpr const auto& kParams = kTable;

  // RT. Sets row `param` of object `index`; false if there is none.
  bool Apply(uint32_t index, int param, double value) noexcept {
    if (index >= objects_.size()) return false;
    Runtime& r = objects_[index];
    kTable.Set(r.p, param, value);
    if constexpr (requires { r.Refresh(); }) r.Refresh();
    return true;
  }
  // RT. Row `param` of object `index`; NaN if there is none.
  double Read(uint32_t index, int param) const noexcept {
    return index < objects_.size() ? kTable.Get(objects_[index].p, param)
                                   : std::numeric_limits<double>::quiet_NaN();
  }

 protected:
  std::vector<Runtime> objects_;
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_BANKS_BANK_H_
