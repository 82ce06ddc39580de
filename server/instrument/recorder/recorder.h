// Recorder: turns the frames of a protocol run into an NWB file.
//
// It is a FrameSink: on the drain thread OnFrame() only copies the recorded
// values of frames that belong to a sweep into blocks (float32) and measures
// each sweep's timing from the frame headers; a writer thread of its own
// writes the blocks through NwbWriter and flushes the file at least every
// `flush_interval`, so a crash loses at most about that much and the file
// stays readable; it forces the file to disk every `fsync_interval`. Samples
// the ring dropped, and those the loop skipped after an overrun (on a rig that
// keeps real time), are stored as NaN: a sweep keeps its exact sample count and
// time base. Both are counted in its timing.
//
// Threads: Start()/Finish()/accessors non-RT, any thread; OnFrame() on the
// drain thread only.
#ifndef DYNCLAMP_SERVER_INSTRUMENT_RECORDER_RECORDER_H_
#define DYNCLAMP_SERVER_INSTRUMENT_RECORDER_RECORDER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/instrument/recorder/nwb_writer.h"
#include "server/instrument/signal_fanout.h"

namespace dynclamp::server {

struct RecorderConfig {
  std::string path;
  NwbSession session;  // cells, signals, rate: what is recorded
  // Where each recorded value sits in a frame: V and I of each cell, then
  // session.signals, in that order.
  std::vector<int> frame_index;
  // At most this long between a sample's arrival and its hand-over to the
  // operating system (blocks of half of it, flushed at least every half):
  // what kill -9 can lose.
  absl::Duration flush_interval = absl::Milliseconds(200);
  // How often the file is forced to the disk (fsync): what a power cut can
  // lose besides the disk's own cache. Zero: left to the system (Linux
  // writes dirty pages back within about 30 s).
  absl::Duration fsync_interval = absl::Seconds(1);
  TimingQc qc;  // each sweep is marked against these
  std::size_t max_buffered_bytes = std::size_t{256} << 20;
  // Disk reserved for the file when it is created (0: none), at least what
  // the whole recording takes: a disk someone else fills cannot fail its
  // writes. What is left unused is given back when it is finished.
  uint64_t reserve_bytes = 0;
};

// A recorded sweep as the run reports it.
struct RecordedSweep {
  uint32_t number = 0;
  int32_t protocol_sweep = -1;
  int64_t samples = 0;
  SweepTiming timing;
};

class Recorder final : public FrameSink {
 public:
  static absl::StatusOr<std::unique_ptr<Recorder>> Start(RecorderConfig config);
  ~Recorder() override;

  void OnFrame(const rt::FrameHeader& header,
               std::span<const double> values) override;

  // Writes what is buffered, ends an open sweep as cut short, closes the
  // file. Returns the first error the writer met (the file then holds what
  // was written before it). Idempotent.
  absl::Status Finish() ABSL_LOCKS_EXCLUDED(mu_);

  const std::string& path() const { return config_.path; }
  // True once the writer has stopped early: a write failed (a failing
  // disk; the file is kept as its last flush left it) or the recording
  // reached its reserved space (the file is closed as usual). error() says
  // which. Cheap; any thread.
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  absl::Status error() const ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<RecordedSweep> sweeps() const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t samples_dropped() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Block {
    enum class Kind { kBegin, kSamples, kEnd } kind = Kind::kSamples;
    uint32_t sweep = 0;
    int32_t protocol_sweep = -1;
    double start_s = 0;
    std::vector<float> samples;  // sample-major
    SweepTiming timing;          // kEnd
  };
  // The sweep being received (drain thread).
  struct Open {
    bool active = false;
    uint32_t sweep = 0;
    int32_t protocol_sweep = -1;
    int64_t next_sample = 0;
    SweepTiming timing;
  };

  explicit Recorder(RecorderConfig config) : config_(std::move(config)) {}
  void WriterLoop();
  void Push(Block block) ABSL_LOCKS_EXCLUDED(mu_);
  void BeginSweep(const rt::FrameHeader& h);
  void EndSweep(bool complete);
  // `samples` missing samples (NaN) in the open sweep.
  void FillMissing(int64_t samples);
  void FlushBuilding();
  // A cleared sample buffer: one the writer has finished with, else a new
  // one reserved for a block. Reuse keeps a long recording from churning
  // the heap (a fresh block every 0.1 s, freed by another thread).
  std::vector<float> SampleBuffer() ABSL_LOCKS_EXCLUDED(mu_);
  void Recycle(std::vector<float> samples) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RecorderConfig config_;
  std::unique_ptr<NwbWriter> writer_;  // writer thread only, after Start
  std::thread thread_;
  std::atomic<bool> failed_{false};

  // Drain thread.
  Open open_;
  std::vector<uint32_t> periods_ns_;  // of the open sweep; capacity kept
  Block building_;
  std::size_t block_samples_ = 0;  // floats in a block of ~0.1 s
  uint64_t first_cycle_ = 0;
  bool have_first_cycle_ = false;
  uint32_t last_slots_skipped_ = 0;    // the engine's count, last frame
  uint64_t skipped_since_sample_ = 0;  // slots skipped since the last sample
  std::size_t width_ = 0;

  mutable absl::Mutex mu_;
  std::deque<Block> queue_ ABSL_GUARDED_BY(mu_);
  std::size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  bool abandon_ ABSL_GUARDED_BY(mu_) = false;  // a write failed
  std::vector<RecordedSweep> sweeps_ ABSL_GUARDED_BY(mu_);
  std::vector<std::vector<float>> spare_samples_ ABSL_GUARDED_BY(mu_);
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_INSTRUMENT_RECORDER_RECORDER_H_
