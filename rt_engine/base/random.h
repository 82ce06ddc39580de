// Seeded random numbers that are cheap and allocation-free, for the RT path
// (noise currents, simulated-rig noise and jitter) and for reproducible tests.
//
// Threads: an instance belongs to one thread; all methods are RT-safe.
#ifndef DYNCLAMP_RT_ENGINE_BASE_RANDOM_H_
#define DYNCLAMP_RT_ENGINE_BASE_RANDOM_H_

#include <cmath>
#include <cstdint>

namespace dynclamp::rt {

// xoshiro256** seeded through splitmix64, so any 64-bit seed gives a
// well-mixed state and the same seed always gives the same stream.
class Rng {
 public:
  explicit Rng(uint64_t seed = 1) noexcept { Seed(seed); }

  void Seed(uint64_t seed) noexcept {
    for (auto& word : s_) {
      seed += 0x9E3779B97F4A7C15ull;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      word = z ^ (z >> 31);
    }
    has_spare_ = false;
  }

  uint64_t Next() noexcept {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1).
  double Uniform() noexcept { return double(Next() >> 11) * 0x1.0p-53; }

  // Standard normal (Marsaglia polar method; keeps the second deviate).
  double Normal() noexcept {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u, v, s;
    do {
      u = 2.0 * Uniform() - 1.0;
      v = 2.0 * Uniform() - 1.0;
      s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    const double f = std::sqrt(-2.0 * std::log(s) / s);
    spare_ = v * f;
    has_spare_ = true;
    return u * f;
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) noexcept {
    return (x << k) | (x >> (64 - k));
  }
  uint64_t s_[4];
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_BASE_RANDOM_H_
