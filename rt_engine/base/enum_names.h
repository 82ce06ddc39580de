// EnumNames: an enum's names, written once in the order of its values, for
// both directions: the name of a value (logs, metrics, messages) and the
// value of a name (flags, files). The enumerators must be `first`,
// `first` + 1, ... in the order of the names; the first and last are named
// in the table's type, so that the compiler checks the count.
//
// Threads: Name() is RT-safe (a bounds-checked table lookup); Find() is
// non-RT.
#ifndef DYNCLAMP_RT_ENGINE_BASE_ENUM_NAMES_H_
#define DYNCLAMP_RT_ENGINE_BASE_ENUM_NAMES_H_

#include <array>
#include <cstddef>
#include <optional>

#include "absl/strings/string_view.h"

namespace dynclamp::rt {

template <typename Enum, Enum kFirst, Enum kLast>
class EnumNames {
 public:
  using Value = Enum;
  static constexpr Enum kFirstValue = kFirst;
  static constexpr std::size_t kCount =
      static_cast<std::size_t>(kLast) - static_cast<std::size_t>(kFirst) + 1;

  template <typename... Names>
  constexpr explicit EnumNames(Names... names) : names_{names...} {
    static_assert(sizeof...(Names) == kCount, "one name per enumerator");
  }

  // "?" for a value outside the enum (a corrupt one).
  constexpr const char* Name(Enum value) const {
    const auto i =
        static_cast<std::size_t>(value) - static_cast<std::size_t>(kFirst);
    return i < kCount ? names_[i] : "?";
  }
  // The value whose name is `text` exactly, if any.
  constexpr std::optional<Enum> Find(absl::string_view text) const {
    for (std::size_t i = 0; i < kCount; ++i) {
      if (text == names_[i]) {
        return static_cast<Enum>(static_cast<std::size_t>(kFirst) + i);
      }
    }
    return std::nullopt;
  }

 private:
  std::array<const char*, kCount> names_;
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_BASE_ENUM_NAMES_H_
