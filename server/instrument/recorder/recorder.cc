#include "server/instrument/recorder/recorder.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rt_engine/handoff/frame.h"

namespace dynclamp::server {
namespace {

constexpr float kMissing = std::numeric_limits<float>::quiet_NaN();
// Room kept at the end of a reservation for closing the file.
constexpr uint64_t kReserveGuardBytes = 1 << 20;

}  // namespace

absl::StatusOr<std::unique_ptr<Recorder>> Recorder::Start(
    RecorderConfig config) {
  const std::size_t width =
      2 * config.session.cells.size() + config.session.signals.size();
  if (config.frame_index.size() != width) {
    return absl::InternalError(
        absl::StrCat("recorder: ", config.frame_index.size(),
                     " frame indices for ", width, " recorded values"));
  }
  auto recorder = std::unique_ptr<Recorder>(new Recorder(std::move(config)));
  absl::StatusOr<std::unique_ptr<NwbWriter>> writer =
      NwbWriter::Create(recorder->config_.path, recorder->config_.session);
  if (!writer.ok()) return writer.status();
  if (const uint64_t bytes = recorder->config_.reserve_bytes; bytes > 0) {
    absl::Status reserved = (*writer)->ReserveSpace(bytes);
    if (!reserved.ok() && !absl::IsUnimplemented(reserved)) {
      (*writer)->Close().IgnoreError();
      std::remove(recorder->config_.path.c_str());
      return absl::ResourceExhaustedError(absl::StrFormat(
          "data_dir: cannot reserve %.1f MB for the recording %s (%s)",
          static_cast<double>(bytes) / 1e6, recorder->config_.path,
          reserved.message()));
    }
  }
  recorder->writer_ = *std::move(writer);
  recorder->width_ = width;
  recorder->block_samples_ =
      std::max<std::size_t>(
          1, static_cast<std::size_t>(
                 recorder->config_.session.rate_hz *
                 absl::ToDoubleSeconds(recorder->config_.flush_interval) / 2)) *
      width;
  recorder->building_.samples = recorder->SampleBuffer();
  recorder->thread_ = std::thread([r = recorder.get()] { r->WriterLoop(); });
  return recorder;
}

Recorder::~Recorder() { Finish().IgnoreError(); }

void Recorder::Push(Block block) {
  const std::size_t bytes = block.samples.size() * sizeof(float);
  absl::MutexLock lock(&mu_);
  if (block.kind == Block::Kind::kSamples &&
      queued_bytes_ + bytes > config_.max_buffered_bytes) {
    // The disk does not keep up: lose these samples, never the loop's time.
    dropped_ += block.samples.size() / std::max<std::size_t>(width_, 1);
    Recycle(std::move(block.samples));
    return;
  }
  queued_bytes_ += bytes;
  queue_.push_back(std::move(block));
}

void Recorder::FlushBuilding() {
  if (building_.samples.empty()) return;
  building_.kind = Block::Kind::kSamples;
  building_.sweep = open_.sweep;
  Push(std::move(building_));
  building_ = Block();
  building_.samples = SampleBuffer();
}

std::vector<float> Recorder::SampleBuffer() {
  {
    absl::MutexLock lock(&mu_);
    if (!spare_samples_.empty()) {
      std::vector<float> samples = std::move(spare_samples_.back());
      spare_samples_.pop_back();
      return samples;
    }
  }
  std::vector<float> samples;
  samples.reserve(block_samples_ + width_);
  return samples;
}

void Recorder::Recycle(std::vector<float> samples) {
  // More than the blocks that arrive between two writer passes (a pass
  // every flush_interval / 4); beyond that a buffer is simply freed.
  constexpr std::size_t kMaxSpare = 8;
  if (samples.capacity() == 0 || spare_samples_.size() >= kMaxSpare) return;
  samples.clear();
  spare_samples_.push_back(std::move(samples));
}

void Recorder::BeginSweep(const rt::FrameHeader& h) {
  open_ = Open();
  periods_ns_.clear();
  open_.active = true;
  open_.sweep = h.sweep;
  open_.protocol_sweep = h.protocol_sweep;
  Block begin;
  begin.kind = Block::Kind::kBegin;
  begin.sweep = h.sweep;
  begin.protocol_sweep = h.protocol_sweep;
  const int64_t first = static_cast<int64_t>(h.cycle) - h.sweep_sample -
                        static_cast<int64_t>(first_cycle_);
  begin.start_s = static_cast<double>(first) / config_.session.rate_hz;
  Push(std::move(begin));
}

void Recorder::FillMissing(int64_t samples) {
  building_.samples.insert(building_.samples.end(),
                           static_cast<std::size_t>(samples) * width_,
                           kMissing);
  // What the loop skipped is not lost; the rest was dropped on the way.
  const uint64_t skipped =
      std::min<uint64_t>(static_cast<uint64_t>(samples), skipped_since_sample_);
  open_.timing.skipped_cycles += skipped;
  open_.timing.dropped_frames += static_cast<uint64_t>(samples) - skipped;
  skipped_since_sample_ -= skipped;
  open_.next_sample += samples;
}

void Recorder::EndSweep(bool complete) {
  if (!open_.active) return;
  open_.active = false;
  // A sweep played to its end keeps its length even if its last samples
  // never reached us.
  const auto& sweeps = config_.session.sweeps;
  if (complete && open_.protocol_sweep >= 0 &&
      static_cast<std::size_t>(open_.protocol_sweep) < sweeps.size()) {
    const int64_t left =
        sweeps[open_.protocol_sweep].samples - open_.next_sample;
    if (left > 0) FillMissing(left);
  }
  FlushBuilding();
  SweepTiming& t = open_.timing;
  t.complete = complete;
  if (!periods_ns_.empty()) {
    std::vector<uint32_t>& p = periods_ns_;
    const std::size_t k = static_cast<std::size_t>(std::ceil(
                              0.999 * static_cast<double>(p.size()))) -
                          1;
    std::nth_element(p.begin(), p.begin() + k, p.end());
    t.p999_period_s = p[k] * 1e-9;
  }
  ApplyQc(config_.qc, 1.0 / config_.session.rate_hz, t);
  Block end;
  end.kind = Block::Kind::kEnd;
  end.sweep = open_.sweep;
  end.timing = t;
  Push(std::move(end));
  absl::MutexLock lock(&mu_);
  sweeps_.push_back({open_.sweep, open_.protocol_sweep, open_.next_sample, t});
}

void Recorder::OnFrame(const rt::FrameHeader& h,
                       std::span<const double> values) {
  if (!have_first_cycle_) {
    first_cycle_ = h.cycle;
    have_first_cycle_ = true;
    last_slots_skipped_ = h.slots_skipped;
  }
  // Slots the loop skipped since the frame before (wrapping difference).
  skipped_since_sample_ += h.slots_skipped - last_slots_skipped_;
  last_slots_skipped_ = h.slots_skipped;
  if (h.flags & rt::kFrameSweepCut) {
    if (open_.active && h.sweep == open_.sweep) EndSweep(false);
    return;
  }
  if (h.sweep == 0) {
    // Its end frame was lost: the sweep is over all the same.
    if (open_.active) EndSweep(true);
    skipped_since_sample_ = 0;  // outside sweeps skipped slots are no gap
    return;
  }
  if (!open_.active || h.sweep != open_.sweep) {
    if (open_.active) EndSweep(true);
    BeginSweep(h);
  }
  const int64_t gap = h.sweep_sample - open_.next_sample;
  if (gap < 0) return;  // not expected; never write a sample twice
  if (gap > 0) FillMissing(gap);
  skipped_since_sample_ = 0;
  for (int index : config_.frame_index) {
    building_.samples.push_back(index >= 0 && static_cast<std::size_t>(index) <
                                                  values.size()
                                    ? static_cast<float>(values[index])
                                    : kMissing);
  }
  open_.next_sample = h.sweep_sample + 1;
  SweepTiming& t = open_.timing;
  ++t.cycles;
  if (h.flags & rt::kFrameAfterOverrun) ++t.overruns;
  if (h.flags & rt::kFrameClipped) ++t.clipped_outputs;
  if (h.period_ns > 0) {
    periods_ns_.push_back(h.period_ns);
    t.worst_period_s = std::max(t.worst_period_s, h.period_ns * 1e-9);
  }
  t.worst_latency_s = std::max(t.worst_latency_s, h.latency_ns * 1e-9);
  if (h.flags & rt::kFrameSweepEnd) {
    EndSweep(true);
    return;
  }
  // Blocks of half a flush interval reach the writer promptly.
  if (building_.samples.size() >= block_samples_) FlushBuilding();
}

void Recorder::WriterLoop() {
  h5::QuietErrorsOnThisThread();
  absl::Time last_flush = absl::Now();
  absl::Time last_sync = last_flush;
  bool failed = false;
  // `write_failed`: the file may hold a half-done write; it is abandoned
  // as its last flush left it rather than closed (closing writes more).
  auto record_error = [&](absl::Status s, bool write_failed = true) {
    if (s.ok() || failed) return;
    failed = true;
    absl::MutexLock lock(&mu_);
    if (status_.ok()) status_ = std::move(s);
    abandon_ = write_failed;
    failed_.store(true, std::memory_order_release);
  };
  for (;;) {
    std::deque<Block> batch;
    bool stopping = false;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !queue_.empty() || stop_;
      };
      mu_.AwaitWithTimeout(absl::Condition(&ready), config_.flush_interval / 4);
      batch.swap(queue_);
      queued_bytes_ = 0;
      stopping = stop_;
    }
    for (Block& b : batch) {
      if (failed) break;
      switch (b.kind) {
        case Block::Kind::kBegin:
          record_error(writer_->BeginSweep(
              b.sweep, b.protocol_sweep,
              absl::StrCat("protocol sweep ", b.protocol_sweep), b.start_s));
          break;
        case Block::Kind::kSamples:
          record_error(
              writer_->Append(b.samples.data(), b.samples.size() / width_));
          break;
        case Block::Kind::kEnd:
          record_error(writer_->EndSweep(b.timing));
          break;
      }
    }
    const absl::Time now = absl::Now();
    if (!failed &&
        (now - last_flush >= config_.flush_interval / 2 || stopping)) {
      record_error(writer_->Flush());
      last_flush = now;
      if (!failed && config_.fsync_interval > absl::ZeroDuration() &&
          (now - last_sync >= config_.fsync_interval || stopping)) {
        record_error(writer_->Sync());
        last_sync = now;
      }
      // Within the space reserved for it, a full disk cannot fail a
      // write; stop cleanly before going beyond (the estimate is an upper
      // bound, so this means the estimate was wrong).
      struct stat st;
      if (!failed && config_.reserve_bytes > 0 &&
          stat(config_.path.c_str(), &st) == 0 &&
          static_cast<uint64_t>(st.st_size) + kReserveGuardBytes >
              config_.reserve_bytes) {
        record_error(absl::ResourceExhaustedError(absl::StrFormat(
                         "the recording reached the %.1f MB reserved for it",
                         static_cast<double>(config_.reserve_bytes) / 1e6)),
                     /*write_failed=*/false);
      }
    }
    {
      absl::MutexLock lock(&mu_);
      for (Block& b : batch) Recycle(std::move(b.samples));
    }
    if (stopping && batch.empty()) break;
  }
}

absl::Status Recorder::Finish() {
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return status_;
    finished_ = true;
  }
  // The caller has detached the sink: the drain side is ours now.
  if (open_.active) EndSweep(false);
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
  if (writer_ == nullptr) return absl::OkStatus();  // Start() failed
  h5::QuietErrorsOnThisThread();
  absl::Status closed = absl::OkStatus();
  bool abandon = false;
  {
    absl::MutexLock lock(&mu_);
    abandon = abandon_;
  }
  if (abandon) {
    // Keep the file as the failed write left it, and say how to read it:
    // its superblock may claim more than reached the disk.
    const uint64_t claimed = writer_->Abandon();
    struct stat st;
    if (claimed > 0 && stat(config_.path.c_str(), &st) == 0 &&
        static_cast<uint64_t>(st.st_size) < claimed) {
      absl::MutexLock lock(&mu_);
      status_ = absl::Status(
          status_.code(),
          absl::StrCat(status_.message(),
                       ". The file holds the samples "
                       "written before; HDF5 readers call it truncated "
                       "until it is extended: truncate -s ",
                       claimed, " ", config_.path));
    }
  } else {
    closed = writer_->Close();
  }
  if (config_.reserve_bytes > 0) h5::ReleaseUnusedSpace(config_.path);
  absl::MutexLock lock(&mu_);
  if (status_.ok()) status_ = closed;
  return status_;
}

absl::Status Recorder::error() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

std::vector<RecordedSweep> Recorder::sweeps() const {
  absl::MutexLock lock(&mu_);
  return sweeps_;
}

uint64_t Recorder::samples_dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

}  // namespace dynclamp::server
