#include "server/instrument/recorder/hdf5.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace dynclamp::server::h5 {
namespace {

// HDF5 closes every file still open when the process exits. A file
// abandoned after a failed write (CutWrites) cannot be closed, and that
// close crashed the daemon at exit (SIGTERM after a failed recording).
// Every file the recorder keeps is closed before exit, so the library's
// exit handler has nothing to do: it is not installed (this must happen
// before the library's first use, hence at static initialization).
const bool kNoExitHandler = [] {
  H5dont_atexit();
  return true;
}();

// The operating system's reason for the failure just reported, from
// HDF5's error stack: its low-level entries quote it ("..., errno = 28,
// error message = 'No space left on device', ..."). Empty if none does.
std::string SystemReason() {
  std::string reason;
  auto visit = [](unsigned, const H5E_error2_t* e, void* out) -> herr_t {
    auto* reason = static_cast<std::string*>(out);
    if (!reason->empty() || e->desc == nullptr) return 0;
    const absl::string_view desc(e->desc);
    constexpr absl::string_view kKey = "error message = '";
    const std::size_t at = desc.find(kKey);
    if (at == absl::string_view::npos) return 0;
    const absl::string_view rest = desc.substr(at + kKey.size());
    *reason = std::string(rest.substr(0, rest.find('\'')));
    return 0;
  };
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, visit, &reason);
  return reason;
}

absl::Status Fail(absl::string_view what, absl::string_view path) {
  const std::string reason = SystemReason();
  const std::string message =
      absl::StrCat("HDF5: ", what, " '", path, "'",
                   reason.empty() ? "" : absl::StrCat(": ", reason));
  // A full disk is a resource the operator can free, not a bug.
  return reason == std::strerror(ENOSPC) || reason == std::strerror(EDQUOT)
             ? absl::ResourceExhaustedError(message)
             : absl::InternalError(message);
}

// A variable-length UTF-8 string type.
Handle TextType() {
  Handle t(H5Tcopy(H5T_C_S1));
  H5Tset_size(t.id(), H5T_VARIABLE);
  H5Tset_cset(t.id(), H5T_CSET_UTF8);
  return t;
}

// Creates attribute `name` on the object at `path` and writes `data`.
absl::Status WriteAttribute(hid_t file, const std::string& path,
                            const std::string& name, hid_t type, hid_t space,
                            const void* data) {
  Handle object(H5Oopen(file, path.c_str(), H5P_DEFAULT));
  if (!object.valid()) return Fail("cannot open", path);
  if (H5Aexists(object.id(), name.c_str()) > 0)
    H5Adelete(object.id(), name.c_str());
  Handle attr(H5Acreate2(object.id(), name.c_str(), type, space, H5P_DEFAULT,
                         H5P_DEFAULT));
  if (!attr.valid() || H5Awrite(attr.id(), type, data) < 0)
    return Fail(absl::StrCat("cannot write attribute ", name, " of"), path);
  return absl::OkStatus();
}

absl::Status WriteDataset(hid_t file, const std::string& path, hid_t type,
                          hid_t space, const void* data) {
  Handle set(H5Dcreate2(file, path.c_str(), type, space, H5P_DEFAULT,
                        H5P_DEFAULT, H5P_DEFAULT));
  if (!set.valid() ||
      H5Dwrite(set.id(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    return Fail("cannot write dataset", path);
  return absl::OkStatus();
}

std::vector<const char*> CStrings(const std::vector<std::string>& values) {
  std::vector<const char*> out;
  for (const std::string& v : values) out.push_back(v.c_str());
  return out;
}

}  // namespace

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    Close();
    id_ = o.id_;
    o.id_ = -1;
  }
  return *this;
}

void Handle::Close() {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE:
      H5Fclose(id_);
      break;
    case H5I_GROUP:
      H5Gclose(id_);
      break;
    case H5I_DATASET:
      H5Dclose(id_);
      break;
    case H5I_DATATYPE:
      H5Tclose(id_);
      break;
    case H5I_DATASPACE:
      H5Sclose(id_);
      break;
    case H5I_ATTR:
      H5Aclose(id_);
      break;
    case H5I_GENPROP_LST:
      H5Pclose(id_);
      break;
    default:
      H5Oclose(id_);
  }
  id_ = -1;
}

void QuietErrorsOnThisThread() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

absl::StatusOr<File> File::Create(const std::string& path) {
  QuietErrorsOnThisThread();
  // Each sweep closes its datasets for good; their metadata (object
  // headers, chunk-index B-tree nodes) would otherwise stay in the metadata
  // cache, which grows to 32 MB: the daemon's memory crept up sweep after
  // sweep (docs/security.md, the soak). NwbWriter flushes right after it
  // creates or closes a sweep, so a crash still leaves a readable file.
  const Handle access(H5Pcreate(H5P_FILE_ACCESS));
  H5Pset_evict_on_close(access.id(), true);
  Handle f(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access.id()));
  if (!f.valid()) return Fail("cannot create file", path);
  return File(std::move(f));
}

int File::Descriptor() const {
  void* handle = nullptr;
  if (H5Fget_vfd_handle(file_.id(), H5P_DEFAULT, &handle) < 0 ||
      handle == nullptr) {
    return -1;
  }
  return *static_cast<int*>(handle);  // the sec2 driver's
}

absl::Status File::ReserveSpace(uint64_t bytes) {
  const int fd = Descriptor();
  if (fd < 0) {
    return absl::UnimplementedError("HDF5: no file descriptor to reserve on");
  }
  if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(bytes)) == 0) {
    return absl::OkStatus();
  }
  const int error = errno;
  if (error == EOPNOTSUPP) return absl::UnimplementedError(strerror(error));
  return absl::ErrnoToStatus(error, "cannot reserve space for the recording");
}

absl::Status File::Sync() {
  const int fd = Descriptor();
  if (fd < 0) return Fail("cannot find the descriptor of", "file");
  if (fsync(fd) != 0) {
    return absl::ErrnoToStatus(errno, "fsync");
  }
  return absl::OkStatus();
}

uint64_t File::CutWrites() {
  haddr_t eoa = 0;
  if (H5Fget_eoa(file_.id(), &eoa) < 0) eoa = 0;
  const int fd = Descriptor();
  if (fd < 0) return eoa;
  char proc[64];
  std::snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
  const int read_only = open(proc, O_RDONLY | O_CLOEXEC);
  if (read_only < 0) return eoa;
  dup2(read_only, fd);  // closes the writable description, and its lock
  close(read_only);
  return eoa;
}

void ReleaseUnusedSpace(const std::string& path) {
  const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  // Truncating to its own size frees blocks reserved past the end (ext4
  // and tmpfs; punching a hole there does not on ext4).
  struct stat st;
  if (fstat(fd, &st) == 0) (void)ftruncate(fd, st.st_size);
  close(fd);
}

absl::Status File::Flush() {
  if (H5Fflush(file_.id(), H5F_SCOPE_GLOBAL) < 0)
    return Fail("cannot flush", "file");
  return absl::OkStatus();
}

absl::StatusOr<Handle> File::CreateGroup(const std::string& path) {
  Handle g(H5Gcreate2(file_.id(), path.c_str(), H5P_DEFAULT, H5P_DEFAULT,
                      H5P_DEFAULT));
  if (!g.valid()) return Fail("cannot create group", path);
  return g;
}

absl::StatusOr<ObjectRef> File::Reference(const std::string& path) {
  ObjectRef ref;
  if (H5Rcreate(&ref, file_.id(), path.c_str(), H5R_OBJECT, -1) < 0)
    return Fail("cannot reference", path);
  return ref;
}

absl::Status File::SoftLink(const std::string& target,
                            const std::string& link) {
  if (H5Lcreate_soft(target.c_str(), file_.id(), link.c_str(), H5P_DEFAULT,
                     H5P_DEFAULT) < 0)
    return Fail("cannot link", link);
  return absl::OkStatus();
}

absl::Status File::SetText(const std::string& path, const std::string& name,
                           absl::string_view value) {
  const Handle type = TextType();
  const Handle space(H5Screate(H5S_SCALAR));
  const std::string copy(value);
  const char* data = copy.c_str();
  return WriteAttribute(file_.id(), path, name, type.id(), space.id(), &data);
}

absl::Status File::SetTextArray(const std::string& path,
                                const std::string& name,
                                const std::vector<std::string>& values) {
  const Handle type = TextType();
  const hsize_t n = values.size();
  const Handle space(H5Screate_simple(1, &n, nullptr));
  const std::vector<const char*> data = CStrings(values);
  const char* none = nullptr;  // HDF5 wants a buffer even for no elements
  return WriteAttribute(file_.id(), path, name, type.id(), space.id(),
                        data.empty() ? &none : data.data());
}

absl::Status File::SetDouble(const std::string& path, const std::string& name,
                             double value) {
  const Handle space(H5Screate(H5S_SCALAR));
  return WriteAttribute(file_.id(), path, name, H5T_NATIVE_DOUBLE, space.id(),
                        &value);
}

absl::Status File::SetFloat(const std::string& path, const std::string& name,
                            float value) {
  const Handle space(H5Screate(H5S_SCALAR));
  return WriteAttribute(file_.id(), path, name, H5T_NATIVE_FLOAT, space.id(),
                        &value);
}

absl::Status File::SetUint32(const std::string& path, const std::string& name,
                             uint32_t value) {
  const Handle space(H5Screate(H5S_SCALAR));
  return WriteAttribute(file_.id(), path, name, H5T_NATIVE_UINT32, space.id(),
                        &value);
}

absl::Status File::SetRef(const std::string& path, const std::string& name,
                          ObjectRef ref) {
  const Handle space(H5Screate(H5S_SCALAR));
  return WriteAttribute(file_.id(), path, name, H5T_STD_REF_OBJ, space.id(),
                        &ref);
}

absl::Status File::WriteText(const std::string& path, absl::string_view value) {
  const Handle type = TextType();
  const Handle space(H5Screate(H5S_SCALAR));
  const std::string copy(value);
  const char* data = copy.c_str();
  return WriteDataset(file_.id(), path, type.id(), space.id(), &data);
}

absl::Status File::WriteTextArray(const std::string& path,
                                  const std::vector<std::string>& values) {
  const Handle type = TextType();
  const hsize_t n = values.size();
  const Handle space(H5Screate_simple(1, &n, nullptr));
  const std::vector<const char*> data = CStrings(values);
  return WriteDataset(file_.id(), path, type.id(), space.id(), data.data());
}

absl::Status File::WriteDouble(const std::string& path, double value) {
  const Handle space(H5Screate(H5S_SCALAR));
  return WriteDataset(file_.id(), path, H5T_NATIVE_DOUBLE, space.id(), &value);
}

absl::Status File::WriteFloat(const std::string& path, float value) {
  const Handle space(H5Screate(H5S_SCALAR));
  return WriteDataset(file_.id(), path, H5T_NATIVE_FLOAT, space.id(), &value);
}

absl::StatusOr<Appendable> Appendable::Create(File& file,
                                              const std::string& path,
                                              Kind kind, hsize_t chunk) {
  Appendable a;
  a.path_ = path;
  hid_t file_type = -1;
  switch (kind) {
    case Kind::kFloat32:
      a.type_ = H5T_NATIVE_FLOAT;
      file_type = H5T_IEEE_F32LE;
      break;
    case Kind::kFloat64:
      a.type_ = H5T_NATIVE_DOUBLE;
      file_type = H5T_IEEE_F64LE;
      break;
    case Kind::kInt32:
      a.type_ = H5T_NATIVE_INT32;
      file_type = H5T_STD_I32LE;
      break;
    case Kind::kInt64:
      a.type_ = H5T_NATIVE_INT64;
      file_type = H5T_STD_I64LE;
      break;
    case Kind::kUint64:
      a.type_ = H5T_NATIVE_UINT64;
      file_type = H5T_STD_U64LE;
      break;
    case Kind::kRef:
      a.type_ = file_type = H5T_STD_REF_OBJ;
      break;
    case Kind::kText:
      a.mem_type_ = TextType();
      a.type_ = file_type = a.mem_type_.id();
      break;
    case Kind::kTimeSeriesRef: {
      a.mem_type_ = Handle(H5Tcreate(H5T_COMPOUND, sizeof(TimeSeriesRef)));
      H5Tinsert(a.mem_type_.id(), "idx_start",
                HOFFSET(TimeSeriesRef, idx_start), H5T_NATIVE_INT32);
      H5Tinsert(a.mem_type_.id(), "count", HOFFSET(TimeSeriesRef, count),
                H5T_NATIVE_INT32);
      H5Tinsert(a.mem_type_.id(), "timeseries",
                HOFFSET(TimeSeriesRef, timeseries), H5T_STD_REF_OBJ);
      a.type_ = file_type = a.mem_type_.id();
      break;
    }
  }
  const hsize_t zero = 0, unlimited = H5S_UNLIMITED;
  const Handle space(H5Screate_simple(1, &zero, &unlimited));
  const Handle props(H5Pcreate(H5P_DATASET_CREATE));
  H5Pset_chunk(props.id(), 1, &chunk);
  a.dataset_ = Handle(H5Dcreate2(file.id(), path.c_str(), file_type, space.id(),
                                 H5P_DEFAULT, props.id(), H5P_DEFAULT));
  if (!a.dataset_.valid()) return Fail("cannot create dataset", path);
  return a;
}

absl::Status Appendable::WriteRows(hsize_t first, hsize_t n,
                                   const void* values) {
  const Handle file_space(H5Dget_space(dataset_.id()));
  H5Sselect_hyperslab(file_space.id(), H5S_SELECT_SET, &first, nullptr, &n,
                      nullptr);
  const Handle mem_space(H5Screate_simple(1, &n, nullptr));
  if (H5Dwrite(dataset_.id(), type_, mem_space.id(), file_space.id(),
               H5P_DEFAULT, values) < 0)
    return Fail("cannot write", path_);
  return absl::OkStatus();
}

absl::Status Appendable::WriteAt(hsize_t index, const void* value) {
  if (index >= size_) return Fail("no such row in", path_);
  return WriteRows(index, 1, value);
}

absl::Status Appendable::Append(const void* values, hsize_t n) {
  if (n == 0) return absl::OkStatus();
  const hsize_t new_size = size_ + n;
  if (H5Dset_extent(dataset_.id(), &new_size) < 0)
    return Fail("cannot extend", path_);
  if (absl::Status s = WriteRows(size_, n, values); !s.ok()) return s;
  size_ = new_size;
  return absl::OkStatus();
}

}  // namespace dynclamp::server::h5
