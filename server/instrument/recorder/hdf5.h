// Hdf5: a thin RAII layer over the HDF5 C library for what the NWB writer
// needs: groups, scalar and array text/number attributes and datasets,
// extendible chunked datasets, object references and soft links. Every
// failure is an absl::Status naming the object.
//
// Threads: non-RT. An Hdf5File and everything opened from it belong to one
// thread at a time (the recorder's writer thread).
#ifndef DYNCLAMP_SERVER_INSTRUMENT_RECORDER_HDF5_H_
#define DYNCLAMP_SERVER_INSTRUMENT_RECORDER_HDF5_H_

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dynclamp::server::h5 {

// HDF5 prints its error stack to stderr unless told not to, and the
// setting is per thread: every thread that calls HDF5 calls this first
// (a full disk otherwise wrote thousands of lines to the daemon's log; we
// report each failure once, as a Status).
void QuietErrorsOnThisThread();

// Gives back what ReserveSpace() reserved beyond the end of the closed file
// at `path`.
void ReleaseUnusedSpace(const std::string& path);

// Owns one hid_t and closes it with the matching H5*close.
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  Handle(Handle&& o) noexcept : id_(o.id_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { Close(); }
  hid_t id() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void Close();

 private:
  hid_t id_ = -1;
};

// An object reference to be stored in a dataset or attribute.
using ObjectRef = hobj_ref_t;

class File {
 public:
  // Creates (truncates) `path`.
  static absl::StatusOr<File> Create(const std::string& path);
  hid_t id() const { return file_.id(); }
  absl::Status Flush();
  // fsync: what was flushed reaches the disk.
  absl::Status Sync();
  // Reserves `bytes` of disk for the file beyond its end (fallocate,
  // keeping its size), so that a disk filled by someone else cannot fail
  // its writes. ResourceExhausted if the disk has not that much;
  // Unimplemented where the file system cannot reserve.
  absl::Status ReserveSpace(uint64_t bytes);
  void Close() { file_.Close(); }
  // After a failed write: nothing more reaches the file (its descriptor is
  // swapped for a read-only one), so it stays as its last flush left it,
  // and its lock is released for readers. Close() may follow; it will
  // report errors, which are to be ignored. Returns the size the file's
  // superblock may claim (HDF5's end of allocation), 0 if unknown.
  uint64_t CutWrites();

  absl::StatusOr<Handle> CreateGroup(const std::string& path);
  absl::StatusOr<ObjectRef> Reference(const std::string& path);
  absl::Status SoftLink(const std::string& target, const std::string& link);

  // Attributes on the object at `path`.
  absl::Status SetText(const std::string& path, const std::string& name,
                       absl::string_view value);
  absl::Status SetTextArray(const std::string& path, const std::string& name,
                            const std::vector<std::string>& values);
  absl::Status SetDouble(const std::string& path, const std::string& name,
                         double value);
  absl::Status SetFloat(const std::string& path, const std::string& name,
                        float value);
  absl::Status SetUint32(const std::string& path, const std::string& name,
                         uint32_t value);
  absl::Status SetRef(const std::string& path, const std::string& name,
                      ObjectRef ref);

  // Datasets written whole.
  absl::Status WriteText(const std::string& path, absl::string_view value);
  absl::Status WriteTextArray(const std::string& path,
                              const std::vector<std::string>& values);
  absl::Status WriteDouble(const std::string& path, double value);
  absl::Status WriteFloat(const std::string& path, float value);

 private:
  explicit File(Handle file) : file_(std::move(file)) {}
  // The file's descriptor (HDF5's default sec2 driver), or -1.
  int Descriptor() const;
  Handle file_;
};

// A one-dimensional dataset that grows at the end, in chunks.
class Appendable {
 public:
  // kText: variable-length UTF-8; Append() takes const char* values.
  enum class Kind {
    kFloat32,
    kFloat64,
    kInt32,
    kInt64,
    kUint64,
    kRef,
    kTimeSeriesRef,
    kText
  };
  // A row of a TimeSeriesReferenceVectorData column.
  struct TimeSeriesRef {
    int32_t idx_start;
    int32_t count;
    ObjectRef timeseries;
  };

  Appendable() = default;  // empty until assigned from Create()
  static absl::StatusOr<Appendable> Create(File& file, const std::string& path,
                                           Kind kind, hsize_t chunk);
  absl::Status Append(const void* values, hsize_t n);
  // Overwrites row `index` (< size()) with one value, as Append takes it.
  absl::Status WriteAt(hsize_t index, const void* value);
  hsize_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  absl::Status WriteRows(hsize_t first, hsize_t n, const void* values);
  Handle dataset_;
  Handle mem_type_;  // owned only for compound types
  hid_t type_ = -1;
  hsize_t size_ = 0;
  std::string path_;
};

}  // namespace dynclamp::server::h5

#endif  // DYNCLAMP_SERVER_INSTRUMENT_RECORDER_HDF5_H_
