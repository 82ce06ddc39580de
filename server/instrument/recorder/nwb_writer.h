// NwbWriter: writes one protocol run as an NWB 2.6 file (HDF5), sweep by
// sweep, so that the file is valid NWB after every Flush().
//
// Layout:
//   /general/devices/<rig>                           Device
//   /general/intracellular_ephys/<cell>              IntracellularElectrode
//   /acquisition/<cell>_sweep_<N>                    CurrentClampSeries (V)
//   /stimulus/presentation/<cell>_stimulus_sweep_<N> CurrentClampStimulusSeries
//   /processing/dynamic_clamp/<signal>_sweep_<N>     TimeSeries (model signals)
//   /processing/dynamic_clamp/sweep_timing           DynamicTable (timing QC)
//   /general/intracellular_ephys/intracellular_recordings  one row per cell
//     and sweep (electrode, stimulus, response), simultaneous_recordings one
//     row per sweep, sequential_recordings one row for the protocol (at
//     Close()). A sweep's rows are written when it begins, and its sample
//     counts brought up to date at every Flush(): a file cut short by a
//     crash still lists every sweep, with the samples it holds, and its
//     sweep_timing row says the sweep did not complete.
//   /general/protocol (the protocol as the user wrote it), /general/stimulus
//   (the spec as written), /general/data_collection (rig, daemon version),
//   source_script; the session metadata (experimenter, institution, lab,
//   keywords, slice, /general/subject) that the NWB Inspector and DANDI ask
//   for. Each sweep's stimulus parameters are columns: sweep name, family,
//   titrated parameter and value in simultaneous_recordings, each cell's
//   stimulus amplitude in intracellular_recordings/stimuli.
// Samples are stored as float32 in the engine's units with the NWB
// conversion to SI (mV -> volts 1e-3, pA -> amperes 1e-12, nS -> siemens
// 1e-9, ms -> seconds 1e-3).
//
// Threads: non-RT; one thread at a time (the recorder's writer thread).
#ifndef DYNCLAMP_SERVER_INSTRUMENT_RECORDER_NWB_WRITER_H_
#define DYNCLAMP_SERVER_INSTRUMENT_RECORDER_NWB_WRITER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dynclamp/v1/protocol.pb.h"
#include "server/instrument/recorder/hdf5.h"

namespace dynclamp::server {

struct NwbSession {
  std::string identifier;  // unique per file
  std::string session_description;
  absl::Time start_time;
  std::string protocol_name;
  std::string protocol_text;  // verbatim
  std::string spec_text;      // verbatim (empty: no spec loaded)
  std::string rig_text;       // the rig description
  std::string version;        // the daemon's
  std::string device_name = "dynclamp_rig";
  std::vector<std::string> cells;  // recorded cells: one electrode each
  // Per cell: the amplifier's gains as NWB states them (recording V/V,
  // command V/A).
  std::vector<double> recording_gain_v_per_v;
  std::vector<double> stimulus_gain_v_per_a;
  v1::Session metadata;  // subject, experimenter, ... (merged)
  // Per protocol sweep: what it plays, for the icephys tables.
  struct SweepInfo {
    std::string name;
    std::string family;  // "sweeps", "fi_curve", "titration", "test_pulse"
    std::string titrated_parameter;  // empty: not a titration sweep
    double titrated_value = 0;
    std::vector<double> amplitude_pa;  // per cell: largest |current level|
    int64_t samples = 0;               // the sweep's length in samples
  };
  std::vector<SweepInfo> sweeps;
  struct Signal {
    std::string name;
    std::string unit;  // engine unit: mV, pA, nS, ms, 1, ...
  };
  std::vector<Signal> signals;  // model signals recorded besides V and I
  double rate_hz = 20'000;
};

// One sweep's timing, as the recorder measured it from the frames.
struct SweepTiming {
  uint64_t cycles = 0;
  uint64_t overruns = 0;         // cycles after an overrun
  uint64_t dropped_frames = 0;   // samples lost on the way (stored as NaN)
  uint64_t skipped_cycles = 0;   // samples the loop skipped (stored as NaN)
  uint64_t clipped_outputs = 0;  // cycles with a clipped output
  double worst_period_s = 0;
  double p999_period_s = 0;
  double worst_latency_s = 0;
  bool complete = true;  // false: cut short (pause, abort, fault)
  bool qc_pass = true;   // within the timing QC thresholds
  std::string qc_reason;
};

// Timing QC thresholds; 0: not checked.
struct TimingQc {
  double max_step_s = 0;
  double max_p999_step_s = 0;
  double max_latency_fraction = 0;  // of the period
};
// Marks `t` (qc_pass, qc_reason) against `qc` for a clamp period of
// `period_s`.
void ApplyQc(const TimingQc& qc, double period_s, SweepTiming& t);

class NwbWriter {
 public:
  static absl::StatusOr<std::unique_ptr<NwbWriter>> Create(
      const std::string& path, const NwbSession& session);
  ~NwbWriter();

  // Starts sweep `number` at `starting_time_s` (since the session start).
  absl::Status BeginSweep(uint32_t number, int32_t protocol_sweep,
                          const std::string& description,
                          double starting_time_s);
  // Appends `n` samples; each is [V per cell][I per cell][signals], in the
  // session's order.
  absl::Status Append(const float* samples, std::size_t n);
  absl::Status EndSweep(const SweepTiming& timing);
  absl::Status Flush();
  // Forces what was flushed to the disk (fsync).
  absl::Status Sync() { return file_.Sync(); }
  // Ends any open sweep (as cut short), writes the sequential table, closes.
  // If that fails, abandons the file (below).
  absl::Status Close();
  // After a failed write: writes nothing more and lets the file go as its
  // last successful flush left it (readable, without the sequential
  // table and the open sweep's last samples). Returns File::CutWrites'.
  uint64_t Abandon();
  // See h5::File::ReserveSpace.
  absl::Status ReserveSpace(uint64_t bytes) {
    return file_.ReserveSpace(bytes);
  }

  const std::string& path() const { return path_; }
  uint32_t sweeps_written() const { return sweeps_written_; }

 private:
  NwbWriter(std::string path, NwbSession session, h5::File file)
      : path_(std::move(path)),
        session_(std::move(session)),
        file_(std::move(file)) {}
  absl::Status WriteSkeleton();
  absl::Status CloseFile();
  // Every table column kept open between sweeps.
  std::vector<h5::Appendable*> Tables();
  absl::Status CreateTables();
  absl::Status Typed(const std::string& path, const char* ns, const char* type);
  absl::Status CreateSeries(const std::string& path, const char* type,
                            const std::string& unit_in, uint32_t number,
                            const std::string& description, double start_s,
                            const std::string& electrode, double gain);
  absl::Status Column(const std::string& table, const std::string& name,
                      h5::Appendable::Kind kind, const char* ns,
                      const char* type, const std::string& description,
                      h5::Appendable& out);

  const std::string path_;
  const NwbSession session_;
  h5::File file_;
  bool closed_ = false;

  // The open sweep.
  bool in_sweep_ = false;
  uint32_t sweep_number_ = 0;
  int32_t protocol_sweep_ = -1;
  std::vector<h5::Appendable> series_;  // V, I per cell, then signals
  std::vector<std::string> series_paths_;
  std::vector<float> column_;  // demultiplexing scratch
  uint32_t sweeps_written_ = 0;

  absl::Status WriteMetadata();
  bool has_titration() const;
  // The open sweep's table rows: added when it begins (as not complete),
  // its sample counts rewritten at each flush, its timing at its end.
  absl::Status AddSweepRows();
  absl::Status UpdateSweepCounts();
  absl::Status WriteSweepTiming(const SweepTiming& timing);
  int64_t sweep_first_row_ = 0;   // in intracellular_recordings
  int64_t sweep_timing_row_ = 0;  // in sweep_timing
  std::vector<h5::ObjectRef> sweep_v_refs_, sweep_i_refs_;  // per cell

  // Tables.
  h5::Appendable rec_id_, elec_id_, stim_id_, resp_id_;
  h5::Appendable electrode_, stimulus_, response_, amplitude_;
  h5::Appendable sim_id_, sim_recordings_, sim_index_;
  h5::Appendable sweep_protocol_sweep_, sweep_name_, sweep_family_,
      titrated_parameter_, titrated_value_;
  int64_t recordings_ = 0, simultaneous_ = 0;
  std::vector<h5::ObjectRef> electrode_refs_;
  struct TimingColumns {
    h5::Appendable id, sweep_number, protocol_sweep, cycles, overruns,
        dropped_frames, skipped_cycles, clipped_outputs, worst_period,
        p999_period, worst_latency, complete, qc_pass, qc_reason;
  } timing_;
};

// "volts"/1e-3 for "mV", and so on; unknown units pass through with 1.
struct SiUnit {
  std::string unit;
  double conversion;
};
SiUnit ToSi(const std::string& engine_unit);

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_INSTRUMENT_RECORDER_NWB_WRITER_H_
