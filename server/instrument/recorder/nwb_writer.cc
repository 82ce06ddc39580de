#include "server/instrument/recorder/nwb_writer.h"

#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace dynclamp::server {
namespace {

constexpr char kCore[] = "core";
constexpr char kHdmf[] = "hdmf-common";
constexpr char kNwbVersion[] = "2.6.0";
constexpr hsize_t kSampleChunk = 16384;
constexpr hsize_t kRowChunk = 64;

#define RETURN_IF_ERROR(expr)                 \
  do {                                        \
    if (absl::Status s_ = (expr); !s_.ok()) { \
      return s_;                              \
    }                                         \
  } while (0)

std::string NewUuid() {
  static thread_local std::mt19937_64 gen(std::random_device{}());
  const uint64_t a = gen(), b = gen();
  // Version 4, variant 1.
  return absl::StrFormat("%08x-%04x-4%03x-%04x-%012x", a >> 32,
                         (a >> 16) & 0xffff, a & 0xfff,
                         0x8000 | ((b >> 48) & 0x3fff), b & 0xffffffffffffULL);
}

std::string IsoTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6S+00:00", t, absl::UTCTimeZone());
}

std::string SweepName(uint32_t number) {
  return absl::StrFormat("sweep_%04d", number);
}

}  // namespace

void ApplyQc(const TimingQc& qc, double period_s, SweepTiming& t) {
  std::vector<std::string> why;
  if (qc.max_step_s > 0 && t.worst_period_s > qc.max_step_s) {
    why.push_back(absl::StrFormat("worst step %.1f us > %.1f us",
                                  t.worst_period_s * 1e6, qc.max_step_s * 1e6));
  }
  if (qc.max_p999_step_s > 0 && t.p999_period_s > qc.max_p999_step_s) {
    why.push_back(absl::StrFormat("p99.9 step %.1f us > %.1f us",
                                  t.p999_period_s * 1e6,
                                  qc.max_p999_step_s * 1e6));
  }
  if (qc.max_latency_fraction > 0 &&
      t.worst_latency_s > qc.max_latency_fraction * period_s) {
    why.push_back(
        absl::StrFormat("worst latency %.1f us > %.0f %% of the %.1f us step",
                        t.worst_latency_s * 1e6, qc.max_latency_fraction * 100,
                        period_s * 1e6));
  }
  t.qc_pass = why.empty();
  t.qc_reason = absl::StrJoin(why, "; ");
}

SiUnit ToSi(const std::string& unit) {
  if (unit == "mV") return {"volts", 1e-3};
  if (unit == "pA") return {"amperes", 1e-12};
  if (unit == "nS") return {"siemens", 1e-9};
  if (unit == "ms") return {"seconds", 1e-3};
  if (unit == "pF") return {"farads", 1e-12};
  return {unit, 1.0};
}

absl::StatusOr<std::unique_ptr<NwbWriter>> NwbWriter::Create(
    const std::string& path, const NwbSession& session) {
  if (session.recording_gain_v_per_v.size() != session.cells.size() ||
      session.stimulus_gain_v_per_a.size() != session.cells.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("nwb: ", session.cells.size(),
                     " cells need as many recording and stimulus gains"));
  }
  absl::StatusOr<h5::File> file = h5::File::Create(path);
  if (!file.ok()) return file.status();
  auto writer = std::unique_ptr<NwbWriter>(
      new NwbWriter(path, session, *std::move(file)));
  RETURN_IF_ERROR(writer->WriteSkeleton());
  RETURN_IF_ERROR(writer->CreateTables());
  RETURN_IF_ERROR(writer->Flush());
  return writer;
}

NwbWriter::~NwbWriter() {
  if (!closed_) Close().IgnoreError();
}

absl::Status NwbWriter::Typed(const std::string& path, const char* ns,
                              const char* type) {
  RETURN_IF_ERROR(file_.SetText(path, "namespace", ns));
  RETURN_IF_ERROR(file_.SetText(path, "neurodata_type", type));
  return file_.SetText(path, "object_id", NewUuid());
}

absl::Status NwbWriter::WriteSkeleton() {
  const NwbSession& s = session_;
  RETURN_IF_ERROR(Typed("/", kCore, "NWBFile"));
  RETURN_IF_ERROR(file_.SetText("/", "nwb_version", kNwbVersion));
  RETURN_IF_ERROR(
      file_.WriteTextArray("/file_create_date", {IsoTime(absl::Now())}));
  RETURN_IF_ERROR(file_.WriteText("/identifier", s.identifier));
  RETURN_IF_ERROR(
      file_.WriteText("/session_description", s.session_description));
  RETURN_IF_ERROR(
      file_.WriteText("/session_start_time", IsoTime(s.start_time)));
  RETURN_IF_ERROR(
      file_.WriteText("/timestamps_reference_time", IsoTime(s.start_time)));
  for (const char* g :
       {"/acquisition", "/analysis", "/processing", "/stimulus",
        "/stimulus/presentation", "/stimulus/templates", "/general",
        "/general/devices", "/general/intracellular_ephys",
        "/processing/dynamic_clamp"}) {
    if (auto group = file_.CreateGroup(g); !group.ok()) return group.status();
  }
  RETURN_IF_ERROR(
      Typed("/processing/dynamic_clamp", kCore, "ProcessingModule"));
  RETURN_IF_ERROR(file_.SetText(
      "/processing/dynamic_clamp", "description",
      "Conductances, currents and model states the dynamic clamp computed, "
      "and each sweep's timing"));
  RETURN_IF_ERROR(file_.WriteText("/general/protocol", s.protocol_text));
  if (!s.spec_text.empty())
    RETURN_IF_ERROR(file_.WriteText("/general/stimulus", s.spec_text));
  RETURN_IF_ERROR(file_.WriteText(
      "/general/data_collection",
      absl::StrCat("dynamic clamp, dynclampd ", s.version,
                   "; rig: ", s.rig_text, "; rate ", s.rate_hz, " Hz")));
  RETURN_IF_ERROR(file_.WriteText("/general/source_script",
                                  absl::StrCat("dynclampd ", s.version)));
  RETURN_IF_ERROR(
      file_.SetText("/general/source_script", "file_name", "dynclampd"));

  const std::string device = "/general/devices/" + s.device_name;
  if (auto g = file_.CreateGroup(device); !g.ok()) return g.status();
  RETURN_IF_ERROR(Typed(device, kCore, "Device"));
  RETURN_IF_ERROR(file_.SetText(device, "description", s.rig_text));
  RETURN_IF_ERROR(file_.SetText(device, "manufacturer", "dynclamp"));
  for (std::size_t c = 0; c < s.cells.size(); ++c) {
    const std::string& cell = s.cells[c];
    const v1::CellInfo* info = nullptr;
    for (const v1::CellInfo& ci : s.metadata.cells())
      if (ci.cell() == cell) info = &ci;
    const std::string electrode = "/general/intracellular_ephys/" + cell;
    if (auto g = file_.CreateGroup(electrode); !g.ok()) return g.status();
    RETURN_IF_ERROR(Typed(electrode, kCore, "IntracellularElectrode"));
    std::string description =
        info != nullptr && !info->electrode_description().empty()
            ? info->electrode_description()
            : absl::StrCat("electrode on recorded cell '", cell, "'");
    if (info != nullptr && !info->cell_description().empty())
      absl::StrAppend(&description, "; cell: ", info->cell_description());
    RETURN_IF_ERROR(file_.WriteText(electrode + "/description", description));
    RETURN_IF_ERROR(file_.WriteText(
        electrode + "/cell_id",
        info != nullptr && !info->cell_id().empty() ? info->cell_id() : cell));
    if (info != nullptr && !info->location().empty())
      RETURN_IF_ERROR(
          file_.WriteText(electrode + "/location", info->location()));
    if (!s.metadata.slice().empty())
      RETURN_IF_ERROR(
          file_.WriteText(electrode + "/slice", s.metadata.slice()));
    RETURN_IF_ERROR(file_.SoftLink(device, electrode + "/device"));
    absl::StatusOr<h5::ObjectRef> ref = file_.Reference(electrode);
    if (!ref.ok()) return ref.status();
    electrode_refs_.push_back(*ref);
  }
  return WriteMetadata();
}

absl::Status NwbWriter::WriteMetadata() {
  const v1::Session& m = session_.metadata;
  auto text = [&](const char* name, const std::string& value) {
    return value.empty()
               ? absl::OkStatus()
               : file_.WriteText(absl::StrCat("/general/", name), value);
  };
  auto texts = [&](const char* name, const auto& values) {
    return values.empty()
               ? absl::OkStatus()
               : file_.WriteTextArray(
                     absl::StrCat("/general/", name),
                     std::vector<std::string>(values.begin(), values.end()));
  };
  RETURN_IF_ERROR(texts("experimenter", m.experimenter()));
  RETURN_IF_ERROR(texts("keywords", m.keywords()));
  RETURN_IF_ERROR(text("institution", m.institution()));
  RETURN_IF_ERROR(text("lab", m.lab()));
  RETURN_IF_ERROR(text("experiment_description", m.experiment_description()));
  RETURN_IF_ERROR(text("session_id", m.session_id()));
  RETURN_IF_ERROR(text("slice", m.slice()));
  RETURN_IF_ERROR(text("notes", m.notes()));
  if (!m.has_subject()) return absl::OkStatus();
  const v1::Subject& subject = m.subject();
  const std::string path = "/general/subject";
  if (auto g = file_.CreateGroup(path); !g.ok()) return g.status();
  RETURN_IF_ERROR(Typed(path, kCore, "Subject"));
  for (const auto& [name, value] : {std::pair<const char*, const std::string&>{
                                        "subject_id", subject.subject_id()},
                                    {"species", subject.species()},
                                    {"age", subject.age()},
                                    {"sex", subject.sex()},
                                    {"strain", subject.strain()},
                                    {"genotype", subject.genotype()},
                                    {"description", subject.description()}}) {
    if (value.empty()) continue;
    RETURN_IF_ERROR(file_.WriteText(absl::StrCat(path, "/", name), value));
  }
  if (!subject.age().empty())
    RETURN_IF_ERROR(file_.SetText(path + "/age", "reference", "birth"));
  return absl::OkStatus();
}

bool NwbWriter::has_titration() const {
  for (const NwbSession::SweepInfo& info : session_.sweeps)
    if (!info.titrated_parameter.empty()) return true;
  return false;
}

absl::Status NwbWriter::Column(const std::string& table,
                               const std::string& name,
                               h5::Appendable::Kind kind, const char* ns,
                               const char* type, const std::string& description,
                               h5::Appendable& out) {
  const std::string path = table + "/" + name;
  absl::StatusOr<h5::Appendable> a =
      h5::Appendable::Create(file_, path, kind, kRowChunk);
  if (!a.ok()) return a.status();
  out = *std::move(a);
  RETURN_IF_ERROR(Typed(path, ns, type));
  if (name != "id")
    RETURN_IF_ERROR(file_.SetText(path, "description", description));
  return absl::OkStatus();
}

absl::Status NwbWriter::CreateTables() {
  using Kind = h5::Appendable::Kind;
  const std::string ice = "/general/intracellular_ephys";
  auto table = [&](const std::string& path, const char* ns, const char* type,
                   const std::string& description,
                   const std::vector<std::string>& colnames) -> absl::Status {
    if (auto g = file_.CreateGroup(path); !g.ok()) return g.status();
    RETURN_IF_ERROR(Typed(path, ns, type));
    RETURN_IF_ERROR(file_.SetText(path, "description", description));
    return file_.SetTextArray(path, "colnames", colnames);
  };
  // The intracellular recordings: one row per cell and sweep.
  const std::string rec = ice + "/intracellular_recordings";
  RETURN_IF_ERROR(
      table(rec, kCore, "IntracellularRecordingsTable",
            "A table to group together a stimulus and response from a single "
            "electrode and a single simultaneous recording and for storing "
            "metadata about the intracellular recording.",
            {}));
  RETURN_IF_ERROR(file_.SetTextArray(rec, "categories",
                                     {"electrodes", "stimuli", "responses"}));
  RETURN_IF_ERROR(Column(rec, "id", Kind::kInt64, kHdmf, "ElementIdentifiers",
                         "", rec_id_));
  RETURN_IF_ERROR(
      table(rec + "/electrodes", kCore, "IntracellularElectrodesTable",
            "Table for storing intracellular electrode related metadata.",
            {"electrode"}));
  RETURN_IF_ERROR(Column(rec + "/electrodes", "id", Kind::kInt64, kHdmf,
                         "ElementIdentifiers", "", elec_id_));
  RETURN_IF_ERROR(Column(rec + "/electrodes", "electrode", Kind::kRef, kHdmf,
                         "VectorData", "the electrode of the recording",
                         electrode_));
  RETURN_IF_ERROR(
      table(rec + "/stimuli", kCore, "IntracellularStimuliTable",
            "Table for storing intracellular stimulus related metadata.",
            {"stimulus", "amplitude"}));
  RETURN_IF_ERROR(Column(rec + "/stimuli", "id", Kind::kInt64, kHdmf,
                         "ElementIdentifiers", "", stim_id_));
  RETURN_IF_ERROR(Column(rec + "/stimuli", "stimulus", Kind::kTimeSeriesRef,
                         kCore, "TimeSeriesReferenceVectorData",
                         "the injected current of the recording", stimulus_));
  RETURN_IF_ERROR(Column(rec + "/stimuli", "amplitude", Kind::kFloat64, kHdmf,
                         "VectorData",
                         "the protocol's largest current level on this cell "
                         "in this sweep, holding included (amperes)",
                         amplitude_));
  RETURN_IF_ERROR(
      table(rec + "/responses", kCore, "IntracellularResponsesTable",
            "Table for storing intracellular response related metadata.",
            {"response"}));
  RETURN_IF_ERROR(Column(rec + "/responses", "id", Kind::kInt64, kHdmf,
                         "ElementIdentifiers", "", resp_id_));
  RETURN_IF_ERROR(Column(rec + "/responses", "response", Kind::kTimeSeriesRef,
                         kCore, "TimeSeriesReferenceVectorData",
                         "the membrane potential of the recording", response_));

  // Sweeps: the recordings made at the same time.
  const std::string sim = ice + "/simultaneous_recordings";
  std::vector<std::string> sim_columns = {"recordings", "protocol_sweep",
                                          "sweep_name", "stimulus_family"};
  if (has_titration()) {
    sim_columns.push_back("titrated_parameter");
    sim_columns.push_back("titrated_value");
  }
  RETURN_IF_ERROR(table(sim, kCore, "SimultaneousRecordingsTable",
                        "the recordings of each sweep", sim_columns));
  RETURN_IF_ERROR(Column(sim, "id", Kind::kInt64, kHdmf, "ElementIdentifiers",
                         "", sim_id_));
  RETURN_IF_ERROR(Column(sim, "recordings", Kind::kInt64, kHdmf,
                         "DynamicTableRegion",
                         "rows of intracellular_recordings", sim_recordings_));
  absl::StatusOr<h5::ObjectRef> rec_ref = file_.Reference(rec);
  if (!rec_ref.ok()) return rec_ref.status();
  RETURN_IF_ERROR(file_.SetRef(sim + "/recordings", "table", *rec_ref));
  RETURN_IF_ERROR(Column(sim, "recordings_index", Kind::kUint64, kHdmf,
                         "VectorIndex", "index of recordings", sim_index_));
  absl::StatusOr<h5::ObjectRef> target = file_.Reference(sim + "/recordings");
  if (!target.ok()) return target.status();
  RETURN_IF_ERROR(file_.SetRef(sim + "/recordings_index", "target", *target));
  RETURN_IF_ERROR(Column(sim, "protocol_sweep", Kind::kInt64, kHdmf,
                         "VectorData", "index of the sweep in the protocol",
                         sweep_protocol_sweep_));
  RETURN_IF_ERROR(Column(sim, "sweep_name", Kind::kText, kHdmf, "VectorData",
                         "the sweep's name in the protocol", sweep_name_));
  RETURN_IF_ERROR(Column(
      sim, "stimulus_family", Kind::kText, kHdmf, "VectorData",
      "what made the sweep: sweeps (written out), fi_curve, titration or "
      "test_pulse",
      sweep_family_));
  if (has_titration()) {
    RETURN_IF_ERROR(Column(
        sim, "titrated_parameter", Kind::kText, kHdmf, "VectorData",
        "the parameter the titration held for the sweep", titrated_parameter_));
    RETURN_IF_ERROR(
        Column(sim, "titrated_value", Kind::kFloat64, kHdmf, "VectorData",
               "its value, in the parameter's unit (nS, mV, ms ...); NaN for a "
               "sweep outside the titration",
               titrated_value_));
  }

  // Timing QC, one row per sweep.
  const std::string qc = "/processing/dynamic_clamp/sweep_timing";
  RETURN_IF_ERROR(table(
      qc, kHdmf, "DynamicTable",
      "Timing of each sweep as the clamp measured it (Bettencourt et al. "
      "2008: data from long steps should be discarded)",
      {"sweep_number", "protocol_sweep", "cycles", "overruns", "dropped_frames",
       "skipped_cycles", "clipped_outputs", "worst_period_s", "p999_period_s",
       "worst_latency_s", "complete", "qc_pass", "qc_reason"}));
  TimingColumns& t = timing_;
  RETURN_IF_ERROR(
      Column(qc, "id", Kind::kInt64, kHdmf, "ElementIdentifiers", "", t.id));
  struct Col {
    const char* name;
    Kind kind;
    const char* description;
    h5::Appendable* out;
  };
  for (const Col& c : std::vector<Col>{
           {"sweep_number", Kind::kInt64, "recorded sweep", &t.sweep_number},
           {"protocol_sweep", Kind::kInt64, "index in the protocol's sweeps",
            &t.protocol_sweep},
           {"cycles", Kind::kInt64, "clamp cycles", &t.cycles},
           {"overruns", Kind::kInt64, "cycles that followed an overrun",
            &t.overruns},
           {"dropped_frames", Kind::kInt64,
            "samples lost between the loop and the file (stored as NaN)",
            &t.dropped_frames},
           {"skipped_cycles", Kind::kInt64,
            "samples whose deadline the loop skipped after an overrun, "
            "keeping real time (stored as NaN)",
            &t.skipped_cycles},
           {"clipped_outputs", Kind::kInt64, "cycles with a clipped output",
            &t.clipped_outputs},
           {"worst_period_s", Kind::kFloat64, "longest clamp step (s)",
            &t.worst_period},
           {"p999_period_s", Kind::kFloat64, "99.9th percentile step (s)",
            &t.p999_period},
           {"worst_latency_s", Kind::kFloat64,
            "longest input-to-output latency (s)", &t.worst_latency},
           {"complete", Kind::kInt32, "1 if the sweep was played in full",
            &t.complete},
           {"qc_pass", Kind::kInt32,
            "1 if its timing is within the run's QC thresholds", &t.qc_pass},
           {"qc_reason", Kind::kText, "why it failed the timing QC",
            &t.qc_reason}}) {
    RETURN_IF_ERROR(
        Column(qc, c.name, c.kind, kHdmf, "VectorData", c.description, *c.out));
  }
  return absl::OkStatus();
}

absl::Status NwbWriter::CreateSeries(
    const std::string& path, const char* type, const std::string& unit_in,
    uint32_t number, const std::string& description, double start_s,
    const std::string& electrode, double gain) {
  if (auto g = file_.CreateGroup(path); !g.ok()) return g.status();
  RETURN_IF_ERROR(Typed(path, kCore, type));
  RETURN_IF_ERROR(file_.SetText(path, "description", description));
  RETURN_IF_ERROR(file_.SetText(path, "comments", "no comments"));
  if (!electrode.empty()) {
    RETURN_IF_ERROR(
        file_.SetText(path, "stimulus_description", session_.protocol_name));
    RETURN_IF_ERROR(file_.SetUint32(path, "sweep_number", number));
    RETURN_IF_ERROR(file_.SoftLink(electrode, path + "/electrode"));
    RETURN_IF_ERROR(file_.WriteFloat(path + "/gain", static_cast<float>(gain)));
  }
  absl::StatusOr<h5::Appendable> data = h5::Appendable::Create(
      file_, path + "/data", h5::Appendable::Kind::kFloat32, kSampleChunk);
  if (!data.ok()) return data.status();
  const SiUnit si = ToSi(unit_in);
  RETURN_IF_ERROR(file_.SetText(path + "/data", "unit", si.unit));
  RETURN_IF_ERROR(file_.SetFloat(path + "/data", "conversion",
                                 static_cast<float>(si.conversion)));
  RETURN_IF_ERROR(file_.SetFloat(path + "/data", "offset", 0.0f));
  RETURN_IF_ERROR(file_.SetFloat(path + "/data", "resolution", -1.0f));
  RETURN_IF_ERROR(file_.WriteDouble(path + "/starting_time", start_s));
  RETURN_IF_ERROR(file_.SetFloat(path + "/starting_time", "rate",
                                 static_cast<float>(session_.rate_hz)));
  RETURN_IF_ERROR(file_.SetText(path + "/starting_time", "unit", "seconds"));
  series_.push_back(*std::move(data));
  series_paths_.push_back(path);
  return absl::OkStatus();
}

absl::Status NwbWriter::BeginSweep(uint32_t number, int32_t protocol_sweep,
                                   const std::string& description,
                                   double starting_time_s) {
  if (in_sweep_) {
    SweepTiming cut;
    cut.complete = false;
    RETURN_IF_ERROR(EndSweep(cut));
  }
  series_.clear();
  series_paths_.clear();
  const std::string sweep = SweepName(number);
  const std::string ice = "/general/intracellular_ephys/";
  const std::vector<std::string>& cells = session_.cells;
  for (std::size_t c = 0; c < cells.size(); ++c) {
    RETURN_IF_ERROR(CreateSeries(
        absl::StrCat("/acquisition/", cells[c], "_", sweep),
        "CurrentClampSeries", "mV", number,
        absl::StrCat("membrane potential of ", cells[c], ", ", description),
        starting_time_s, ice + cells[c], session_.recording_gain_v_per_v[c]));
  }
  for (std::size_t c = 0; c < cells.size(); ++c) {
    RETURN_IF_ERROR(CreateSeries(
        absl::StrCat("/stimulus/presentation/", cells[c], "_stimulus_", sweep),
        "CurrentClampStimulusSeries", "pA", number,
        absl::StrCat("current delivered to ", cells[c],
                     " (protocol and dynamic clamp, after clipping), ",
                     description),
        starting_time_s, ice + cells[c], session_.stimulus_gain_v_per_a[c]));
  }
  for (const NwbSession::Signal& sig : session_.signals) {
    RETURN_IF_ERROR(CreateSeries(
        absl::StrCat("/processing/dynamic_clamp/", sig.name, "_", sweep),
        "TimeSeries", sig.unit, number,
        absl::StrCat(sig.name, " as the clamp computed it, ", description),
        starting_time_s, "", 0));
  }
  in_sweep_ = true;
  sweep_number_ = number;
  protocol_sweep_ = protocol_sweep;
  for (const std::string& p : series_paths_) {
    RETURN_IF_ERROR(file_.SetText(
        p, "comments", "sweep in progress when the file was last written"));
  }
  RETURN_IF_ERROR(AddSweepRows());
  // Closing the new objects wrote their metadata (evict-on-close); bring
  // the rest of the file in line at once, so a crash leaves it readable.
  return file_.Flush();
}

absl::Status NwbWriter::Append(const float* samples, std::size_t n) {
  if (!in_sweep_) return absl::FailedPreconditionError("no sweep is open");
  const std::size_t width = series_.size();
  column_.resize(n);
  for (std::size_t k = 0; k < width; ++k) {
    for (std::size_t i = 0; i < n; ++i) column_[i] = samples[i * width + k];
    RETURN_IF_ERROR(series_[k].Append(column_.data(), n));
  }
  return absl::OkStatus();
}

absl::Status NwbWriter::AddSweepRows() {
  const std::size_t cells = session_.cells.size();
  const NwbSession::SweepInfo* info =
      protocol_sweep_ >= 0 &&
              static_cast<std::size_t>(protocol_sweep_) < session_.sweeps.size()
          ? &session_.sweeps[protocol_sweep_]
          : nullptr;
  sweep_first_row_ = recordings_;
  sweep_v_refs_.clear();
  sweep_i_refs_.clear();
  for (std::size_t c = 0; c < cells; ++c) {
    const int64_t row = recordings_++;
    for (h5::Appendable* id : {&rec_id_, &elec_id_, &stim_id_, &resp_id_})
      RETURN_IF_ERROR(id->Append(&row, 1));
    RETURN_IF_ERROR(electrode_.Append(&electrode_refs_[c], 1));
    absl::StatusOr<h5::ObjectRef> v = file_.Reference(series_paths_[c]);
    absl::StatusOr<h5::ObjectRef> i = file_.Reference(series_paths_[cells + c]);
    if (!v.ok()) return v.status();
    if (!i.ok()) return i.status();
    sweep_v_refs_.push_back(*v);
    sweep_i_refs_.push_back(*i);
    const h5::Appendable::TimeSeriesRef stim{0, 0, *i}, resp{0, 0, *v};
    RETURN_IF_ERROR(stimulus_.Append(&stim, 1));
    RETURN_IF_ERROR(response_.Append(&resp, 1));
    const double amplitude_a = info != nullptr && c < info->amplitude_pa.size()
                                   ? info->amplitude_pa[c] * 1e-12
                                   : 0.0;
    RETURN_IF_ERROR(amplitude_.Append(&amplitude_a, 1));
  }
  const int64_t sim_row = simultaneous_++;
  RETURN_IF_ERROR(sim_id_.Append(&sim_row, 1));
  for (int64_t r = sweep_first_row_; r < recordings_; ++r)
    RETURN_IF_ERROR(sim_recordings_.Append(&r, 1));
  const uint64_t end_row = static_cast<uint64_t>(recordings_);
  RETURN_IF_ERROR(sim_index_.Append(&end_row, 1));
  const int64_t psweep_row = protocol_sweep_;
  RETURN_IF_ERROR(sweep_protocol_sweep_.Append(&psweep_row, 1));
  const char* sweep_name = info != nullptr ? info->name.c_str() : "";
  const char* family = info != nullptr ? info->family.c_str() : "";
  RETURN_IF_ERROR(sweep_name_.Append(&sweep_name, 1));
  RETURN_IF_ERROR(sweep_family_.Append(&family, 1));
  if (has_titration()) {
    const bool titrated = info != nullptr && !info->titrated_parameter.empty();
    const char* parameter = titrated ? info->titrated_parameter.c_str() : "";
    const double value = titrated ? info->titrated_value : std::nan("");
    RETURN_IF_ERROR(titrated_parameter_.Append(&parameter, 1));
    RETURN_IF_ERROR(titrated_value_.Append(&value, 1));
  }
  // Its timing row: not complete until EndSweep says otherwise.
  TimingColumns& t = timing_;
  sweep_timing_row_ = static_cast<int64_t>(t.id.size());
  const int64_t number = sweep_number_, psweep = protocol_sweep_, zero = 0;
  const double none = 0;
  const int32_t no = 0;
  const char* reason = "the recording ended before this sweep did";
  RETURN_IF_ERROR(t.id.Append(&sweep_timing_row_, 1));
  RETURN_IF_ERROR(t.sweep_number.Append(&number, 1));
  RETURN_IF_ERROR(t.protocol_sweep.Append(&psweep, 1));
  for (h5::Appendable* count : {&t.cycles, &t.overruns, &t.dropped_frames,
                                &t.skipped_cycles, &t.clipped_outputs})
    RETURN_IF_ERROR(count->Append(&zero, 1));
  for (h5::Appendable* time :
       {&t.worst_period, &t.p999_period, &t.worst_latency})
    RETURN_IF_ERROR(time->Append(&none, 1));
  RETURN_IF_ERROR(t.complete.Append(&no, 1));
  RETURN_IF_ERROR(t.qc_pass.Append(&no, 1));
  return t.qc_reason.Append(&reason, 1);
}

absl::Status NwbWriter::UpdateSweepCounts() {
  const int32_t count =
      series_.empty() ? 0 : static_cast<int32_t>(series_[0].size());
  for (std::size_t c = 0; c < sweep_v_refs_.size(); ++c) {
    const auto row = static_cast<hsize_t>(sweep_first_row_) + c;
    const h5::Appendable::TimeSeriesRef stim{0, count, sweep_i_refs_[c]},
        resp{0, count, sweep_v_refs_[c]};
    RETURN_IF_ERROR(stimulus_.WriteAt(row, &stim));
    RETURN_IF_ERROR(response_.WriteAt(row, &resp));
  }
  return absl::OkStatus();
}

absl::Status NwbWriter::WriteSweepTiming(const SweepTiming& timing) {
  TimingColumns& t = timing_;
  const auto row = static_cast<hsize_t>(sweep_timing_row_);
  const int64_t cycles = timing.cycles, overruns = timing.overruns,
                dropped = timing.dropped_frames,
                skipped = timing.skipped_cycles,
                clipped = timing.clipped_outputs;
  const int32_t complete = timing.complete ? 1 : 0;
  const int32_t qc_pass = timing.qc_pass ? 1 : 0;
  const char* reason = timing.qc_reason.c_str();
  RETURN_IF_ERROR(t.cycles.WriteAt(row, &cycles));
  RETURN_IF_ERROR(t.overruns.WriteAt(row, &overruns));
  RETURN_IF_ERROR(t.dropped_frames.WriteAt(row, &dropped));
  RETURN_IF_ERROR(t.skipped_cycles.WriteAt(row, &skipped));
  RETURN_IF_ERROR(t.clipped_outputs.WriteAt(row, &clipped));
  RETURN_IF_ERROR(t.worst_period.WriteAt(row, &timing.worst_period_s));
  RETURN_IF_ERROR(t.p999_period.WriteAt(row, &timing.p999_period_s));
  RETURN_IF_ERROR(t.worst_latency.WriteAt(row, &timing.worst_latency_s));
  RETURN_IF_ERROR(t.complete.WriteAt(row, &complete));
  RETURN_IF_ERROR(t.qc_pass.WriteAt(row, &qc_pass));
  return t.qc_reason.WriteAt(row, &reason);
}

absl::Status NwbWriter::EndSweep(const SweepTiming& timing) {
  if (!in_sweep_) return absl::OkStatus();
  in_sweep_ = false;
  RETURN_IF_ERROR(UpdateSweepCounts());
  RETURN_IF_ERROR(WriteSweepTiming(timing));
  const char* comment = timing.complete
                            ? "no comments"
                            : "sweep cut short (pause, abort or fault)";
  for (const std::string& p : series_paths_)
    RETURN_IF_ERROR(file_.SetText(p, "comments", comment));
  series_.clear();  // closes the sweep's datasets (their metadata leaves the
                    // cache: evict-on-close)
  ++sweeps_written_;
  return file_.Flush();  // as in BeginSweep
}

absl::Status NwbWriter::Flush() {
  if (in_sweep_) RETURN_IF_ERROR(UpdateSweepCounts());
  return file_.Flush();
}

absl::Status NwbWriter::Close() {
  if (closed_) return absl::OkStatus();
  absl::Status s = CloseFile();
  if (!s.ok()) Abandon();
  return s;
}

uint64_t NwbWriter::Abandon() {
  const uint64_t claimed = file_.CutWrites();  // first: closing may write
  series_.clear();
  for (h5::Appendable* a : Tables()) *a = h5::Appendable();
  file_.Close();
  closed_ = true;
  return claimed;
}

absl::Status NwbWriter::CloseFile() {
  closed_ = true;
  if (in_sweep_) {
    SweepTiming cut;
    cut.complete = false;
    RETURN_IF_ERROR(EndSweep(cut));
  }
  // The protocol as one sequence of its sweeps.
  using Kind = h5::Appendable::Kind;
  const std::string seq = "/general/intracellular_ephys/sequential_recordings";
  if (auto g = file_.CreateGroup(seq); !g.ok()) return g.status();
  RETURN_IF_ERROR(Typed(seq, kCore, "SequentialRecordingsTable"));
  RETURN_IF_ERROR(file_.SetText(seq, "description", "the protocol's sweeps"));
  RETURN_IF_ERROR(file_.SetTextArray(
      seq, "colnames", {"simultaneous_recordings", "stimulus_type"}));
  h5::Appendable id, region, index, stimulus_type;
  RETURN_IF_ERROR(
      Column(seq, "id", Kind::kInt64, kHdmf, "ElementIdentifiers", "", id));
  RETURN_IF_ERROR(Column(seq, "simultaneous_recordings", Kind::kInt64, kHdmf,
                         "DynamicTableRegion", "the sweeps", region));
  RETURN_IF_ERROR(Column(seq, "simultaneous_recordings_index", Kind::kUint64,
                         kHdmf, "VectorIndex", "index of the sweeps", index));
  const int64_t zero = 0;
  RETURN_IF_ERROR(id.Append(&zero, 1));
  for (int64_t r = 0; r < simultaneous_; ++r)
    RETURN_IF_ERROR(region.Append(&r, 1));
  const uint64_t sweeps = static_cast<uint64_t>(simultaneous_);
  RETURN_IF_ERROR(index.Append(&sweeps, 1));
  auto sim_ref =
      file_.Reference("/general/intracellular_ephys/simultaneous_recordings");
  if (!sim_ref.ok()) return sim_ref.status();
  RETURN_IF_ERROR(
      file_.SetRef(seq + "/simultaneous_recordings", "table", *sim_ref));
  auto region_ref = file_.Reference(seq + "/simultaneous_recordings");
  if (!region_ref.ok()) return region_ref.status();
  RETURN_IF_ERROR(file_.SetRef(seq + "/simultaneous_recordings_index", "target",
                               *region_ref));
  RETURN_IF_ERROR(
      file_.WriteTextArray(seq + "/stimulus_type", {session_.protocol_name}));
  RETURN_IF_ERROR(Typed(seq + "/stimulus_type", kHdmf, "VectorData"));
  RETURN_IF_ERROR(
      file_.SetText(seq + "/stimulus_type", "description", "the protocol"));
  RETURN_IF_ERROR(file_.Flush());
  // Every dataset closed first: the file is released only then.
  series_.clear();
  for (h5::Appendable* a : Tables()) *a = h5::Appendable();
  file_.Close();
  return absl::OkStatus();
}

std::vector<h5::Appendable*> NwbWriter::Tables() {
  return {&rec_id_,
          &elec_id_,
          &stim_id_,
          &resp_id_,
          &electrode_,
          &stimulus_,
          &response_,
          &amplitude_,
          &sim_id_,
          &sim_recordings_,
          &sim_index_,
          &sweep_protocol_sweep_,
          &sweep_name_,
          &sweep_family_,
          &titrated_parameter_,
          &titrated_value_,
          &timing_.id,
          &timing_.sweep_number,
          &timing_.protocol_sweep,
          &timing_.cycles,
          &timing_.overruns,
          &timing_.dropped_frames,
          &timing_.skipped_cycles,
          &timing_.clipped_outputs,
          &timing_.worst_period,
          &timing_.p999_period,
          &timing_.worst_latency,
          &timing_.complete,
          &timing_.qc_pass,
          &timing_.qc_reason};
}

}  // namespace dynclamp::server
