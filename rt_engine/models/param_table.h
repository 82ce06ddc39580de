// ParamTable: a model kind's numeric parameters, each declared once with
// the member that holds it: its name (with unit, as on the wire), unit,
// default, range, whether it may change live, and help. Everything else is
// derived from the table: the ParamInfo list (ListMechanisms, ResolveParam),
// range checks in field order, live reads and writes by index (no magic
// numbers), equality of two parameter sets (synapse pools), and defaults
// (tested equal to the struct's own initializers).
//
// A new member cannot be forgotten: kFieldCount<T> counts an aggregate's
// members at compile time, and a kind's table static_asserts that its
// parameters plus the members it names as not parameters account for all.
//
// Threads: the tables are constexpr data; Check() is non-RT (it builds a
// status); Get(), Set() and Same() are RT-safe.
#ifndef DYNCLAMP_RT_ENGINE_MODELS_PARAM_TABLE_H_
#define DYNCLAMP_RT_ENGINE_MODELS_PARAM_TABLE_H_

#include <array>
#include <cstddef>
#include <span>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "rt_engine/models/param_info.h"

namespace dynclamp::rt {

// ---- the number of members of an aggregate, at compile time ---------------

namespace param_table_internal {
struct AnyField {
  template <typename T>
  constexpr operator T() const noexcept;  // NOLINT: converts to any member
};
template <typename T, std::size_t... I>
constexpr bool Constructible(std::index_sequence<I...>) {
  return requires { T{(static_cast<void>(I), AnyField{})...}; };
}
template <typename T, std::size_t N = 0>
constexpr std::size_t CountFields() {
  if constexpr (N > 64) {
    return N;  // not an aggregate of at most 64 members
  } else if constexpr (Constructible<T>(std::make_index_sequence<N + 1>{})) {
    return CountFields<T, N + 1>();
  } else {
    return N;
  }
}
}  // namespace param_table_internal

// How many members the aggregate T has (brace-initializable with that many
// values, not one more).
template <typename T>
inline constexpr std::size_t kFieldCount =
    param_table_internal::CountFields<T>();

// ---- the table -------------------------------------------------------------

template <typename T>
struct Param {
  ParamInfo info;
  double T::*member;
};

template <typename T, std::size_t N>
class ParamTable {
 public:
  constexpr explicit ParamTable(const std::array<Param<T>, N>& params)
      : params_(params) {
    for (std::size_t i = 0; i < N; ++i) infos_[i] = params[i].info;
  }

  static constexpr std::size_t size() { return N; }
  constexpr std::span<const ParamInfo> info() const { return infos_; }
  constexpr const Param<T>& operator[](std::size_t i) const {
    return params_[i];
  }

  // Every parameter in range, in table order; InvalidArgument naming
  // "<path>.<name>" and the reason otherwise.
  absl::Status Check(const T& value, absl::string_view path) const {
    for (const Param<T>& p : params_) {
      if (absl::Status s = CheckParam(p.info, value.*p.member, path); !s.ok())
        return s;
    }
    return absl::OkStatus();
  }
  // RT. Parameter `index` (in info() order) of `value`.
  double Get(const T& value, int index) const noexcept {
    return value.*params_[index].member;
  }
  // RT. Sets parameter `index`; the value was range-checked when resolved.
  void Set(T& value, int index, double x) const noexcept {
    value.*params_[index].member = x;
  }
  // RT. Whether every parameter is the same (bit for bit, NaN aside).
  bool Same(const T& a, const T& b) const noexcept {
    for (const Param<T>& p : params_) {
      if (!(a.*p.member == b.*p.member)) return false;
    }
    return true;
  }
  // A T whose parameters are the table's defaults (its other members as
  // T{} has them).
  T Defaults() const {
    T value{};
    for (const Param<T>& p : params_) value.*p.member = p.info.default_value;
    return value;
  }

 private:
  std::array<Param<T>, N> params_;
  std::array<ParamInfo, N> infos_{};
};

template <typename T, std::size_t N>
ParamTable(const std::array<Param<T>, N>&) -> ParamTable<T, N>;

// Declares that T's members are its table's parameters plus `others`
// members that are not (names, cell indices, variants): a member added to T
// without a row in the table fails to compile.
#define DYNCLAMP_PARAMS_COVER(T, table, others)                              \
  static_assert(::dynclamp::rt::kFieldCount<T> == (table).size() + (others), \
                #T ": a member is neither a parameter in " #table            \
                   " nor counted among its other members")

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_MODELS_PARAM_TABLE_H_
