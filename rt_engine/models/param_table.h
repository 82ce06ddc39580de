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
#include <initializer_list>
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

// A view of a table's rows: what every operation works on, so that a kind
// whose parameters depend on a sub-kind (event synapses, artificial cells)
// hands out one view per sub-kind.
template <typename T>
class ParamSpan {
 public:
  constexpr ParamSpan() = default;
  constexpr ParamSpan(std::span<const ParamInfo> info,
                      std::span<double T::*const> members)
      : info_(info), members_(members) {}

  constexpr std::size_t size() const { return info_.size(); }
  constexpr std::span<const ParamInfo> info() const { return info_; }
  constexpr double T::*member(std::size_t i) const { return members_[i]; }
  // Row of `member`, or -1.
  constexpr int IndexOf(double T::*member) const {
    for (std::size_t i = 0; i < members_.size(); ++i)
      if (members_[i] == member) return static_cast<int>(i);
    return -1;
  }
  // Row named `name` (as on the wire), or -1.
  int Find(absl::string_view name) const { return FindParam(info_, name); }
  // Whether exactly the rows of `members` are live.
  constexpr bool LiveAre(std::initializer_list<double T::*> members) const {
    std::size_t live = 0;
    for (const ParamInfo& p : info_) live += p.live ? 1 : 0;
    if (live != members.size()) return false;
    for (double T::*m : members) {
      const int i = IndexOf(m);
      if (i < 0 || !info_[i].live) return false;
    }
    return true;
  }

  // Every parameter in range, in row order; InvalidArgument naming
  // "<path>.<name>" and the reason otherwise.
  absl::Status Check(const T& value, absl::string_view path) const {
    for (std::size_t i = 0; i < size(); ++i) {
      if (absl::Status s = CheckParam(info_[i], value.*members_[i], path);
          !s.ok())
        return s;
    }
    return absl::OkStatus();
  }
  // RT. Parameter `index` (in info() order) of `value`.
  double Get(const T& value, int index) const noexcept {
    return value.*members_[index];
  }
  // RT. Sets parameter `index`; the value was range-checked when resolved.
  void Set(T& value, int index, double x) const noexcept {
    value.*members_[index] = x;
  }
  // RT. Whether every parameter is the same (bit for bit, NaN aside).
  bool Same(const T& a, const T& b) const noexcept {
    for (double T::*m : members_) {
      if (!(a.*m == b.*m)) return false;
    }
    return true;
  }
  // `value` with every parameter set to its default.
  T WithDefaults(T value) const {
    for (std::size_t i = 0; i < size(); ++i)
      value.*members_[i] = info_[i].default_value;
    return value;
  }

 private:
  std::span<const ParamInfo> info_;
  std::span<double T::*const> members_;
};

template <typename T, std::size_t N>
class ParamTable {
 public:
  constexpr explicit ParamTable(const std::array<Param<T>, N>& params) {
    for (std::size_t i = 0; i < N; ++i) {
      infos_[i] = params[i].info;
      members_[i] = params[i].member;
    }
  }

  static constexpr std::size_t size() { return N; }
  constexpr ParamSpan<T> rows() const { return {infos_, members_}; }
  constexpr operator ParamSpan<T>() const { return rows(); }  // NOLINT
  constexpr std::span<const ParamInfo> info() const { return infos_; }
  constexpr double T::*member(std::size_t i) const { return members_[i]; }
  constexpr int IndexOf(double T::*member) const {
    return rows().IndexOf(member);
  }
  constexpr bool LiveAre(std::initializer_list<double T::*> members) const {
    return rows().LiveAre(members);
  }
  absl::Status Check(const T& value, absl::string_view path) const {
    return rows().Check(value, path);
  }
  double Get(const T& value, int index) const noexcept {
    return value.*members_[index];
  }
  void Set(T& value, int index, double x) const noexcept {
    value.*members_[index] = x;
  }
  bool Same(const T& a, const T& b) const noexcept { return rows().Same(a, b); }
  // A T whose parameters are the table's defaults (its other members as
  // T{} has them).
  T Defaults() const { return rows().WithDefaults(T{}); }

 private:
  std::array<ParamInfo, N> infos_{};
  std::array<double T::*, N> members_{};
};

template <typename T, std::size_t N>
ParamTable(const std::array<Param<T>, N>&) -> ParamTable<T, N>;

// How many distinct members the tables name together (for a kind whose
// sub-kinds share one record, each reading some of its members).
template <typename T>
constexpr std::size_t DistinctMembers(std::span<const ParamSpan<T>> tables) {
  std::size_t n = 0;
  for (auto t = tables.begin(); t != tables.end(); ++t) {
    for (std::size_t i = 0; i < t->size(); ++i) {
      bool seen = false;
      for (auto u = tables.begin(); u != t && !seen; ++u)
        seen = u->IndexOf(t->member(i)) >= 0;
      for (std::size_t j = 0; j < i && !seen; ++j)
        seen = t->member(j) == t->member(i);
      n += seen ? 0 : 1;
    }
  }
  return n;
}

// Declares that T's members are its table's parameters plus `others`
// members that are not (names, cell indices, variants): a member added to T
// without a row in the table fails to compile.
#define DYNCLAMP_PARAMS_COVER(T, table, others)                              \
  static_assert(::dynclamp::rt::kFieldCount<T> == (table).size() + (others), \
                #T ": a member is neither a parameter in " #table            \
                   " nor counted among its other members")
// The same for a record shared by sub-kinds: the members of all `tables`
// (an array of ParamSpan<T>) together.
#define DYNCLAMP_PARAMS_COVER_KINDS(T, tables, others)                     \
  static_assert(::dynclamp::rt::kFieldCount<T> ==                          \
                    ::dynclamp::rt::DistinctMembers<T>(tables) + (others), \
                #T                                                         \
                ": a member is neither a parameter of a sub-kind's table " \
                "nor counted among its other members")

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_MODELS_PARAM_TABLE_H_
