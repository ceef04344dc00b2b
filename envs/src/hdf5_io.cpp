#include "anyrl/envs/hdf5_io.hpp"

#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <utility>

namespace anyrl::envs {
namespace {

// The serial HDF5 build is not thread-safe: serialise every call made from this library.
std::mutex& h5_mutex() {
  static std::mutex m;
  return m;
}

// Silences HDF5's automatic error stack printing while we translate failures into exceptions.
struct QuietErrors {
  H5E_auto2_t func = nullptr;
  void* data = nullptr;
  QuietErrors() {
    H5Eget_auto2(H5E_DEFAULT, &func, &data);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, func, data); }
};

// Owning hid_t.
class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, -1)), close_(o.close_) {}
  Handle& operator=(Handle&& o) noexcept {
    reset();
    id_ = std::exchange(o.id_, -1);
    close_ = o.close_;
    return *this;
  }
  ~Handle() { reset(); }
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }
  void reset() {
    if (id_ >= 0 && close_) close_(id_);
    id_ = -1;
  }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

[[noreturn]] void fail(const std::string& file, const std::string& msg) {
  throw DatasetError(file + ": " + msg);
}

// ---- reading ----------------------------------------------------------------------------------

bool exists(hid_t loc, const char* name) { return H5Lexists(loc, name, H5P_DEFAULT) > 0; }

struct Array {
  std::vector<hsize_t> dims;
  int64_t rows() const { return dims.empty() ? 1 : static_cast<int64_t>(dims[0]); }
  int64_t cols() const {
    int64_t c = 1;
    for (size_t i = 1; i < dims.size(); ++i) c *= static_cast<int64_t>(dims[i]);
    return c;
  }
};

Array shape_of(hid_t ds) {
  Handle sp(H5Dget_space(ds), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(sp.get());
  Array a;
  a.dims.resize(std::max(rank, 0));
  if (rank > 0) H5Sget_simple_extent_dims(sp.get(), a.dims.data(), nullptr);
  return a;
}

Handle open_dataset(const std::string& file, hid_t loc, const std::string& name) {
  Handle ds(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.ok()) fail(file, "cannot open dataset '" + name + "'");
  return ds;
}

H5T_class_t type_class(hid_t ds) {
  Handle t(H5Dget_type(ds), H5Tclose);
  return H5Tget_class(t.get());
}

std::vector<float> read_floats(const std::string& file, hid_t loc, const std::string& name, Array& shape) {
  Handle ds = open_dataset(file, loc, name);
  shape = shape_of(ds.get());
  const H5T_class_t cls = type_class(ds.get());
  if (cls != H5T_FLOAT && cls != H5T_INTEGER)
    fail(file, "dataset '" + name + "' is not numeric (float or integer expected)");
  std::vector<float> v(static_cast<size_t>(shape.rows() * shape.cols()));
  if (!v.empty() && H5Dread(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0)
    fail(file, "cannot read dataset '" + name + "'");
  return v;
}

// Booleans: h5py's bool enum, any integer type, or floats (non-zero = true).
std::vector<uint8_t> read_flags(const std::string& file, hid_t loc, const std::string& name, Array& shape) {
  Handle ds = open_dataset(file, loc, name);
  shape = shape_of(ds.get());
  const size_t n = static_cast<size_t>(shape.rows() * shape.cols());
  std::vector<uint8_t> out(n);
  if (n == 0) return out;
  Handle ft(H5Dget_type(ds.get()), H5Tclose);
  const H5T_class_t cls = H5Tget_class(ft.get());
  if (cls == H5T_ENUM) {
    Handle mt(H5Tget_native_type(ft.get(), H5T_DIR_DEFAULT), H5Tclose);
    const size_t sz = H5Tget_size(mt.get());
    std::vector<unsigned char> raw(n * sz);
    if (H5Dread(ds.get(), mt.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()) < 0)
      fail(file, "cannot read dataset '" + name + "'");
    for (size_t i = 0; i < n; ++i) {
      bool nz = false;
      for (size_t b = 0; b < sz; ++b) nz |= raw[i * sz + b] != 0;
      out[i] = nz;
    }
  } else if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
    std::vector<double> v(n);
    if (H5Dread(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0)
      fail(file, "cannot read dataset '" + name + "'");
    for (size_t i = 0; i < n; ++i) out[i] = v[i] != 0.0;
  } else {
    fail(file, "dataset '" + name + "' is not boolean, integer or float");
  }
  return out;
}

void check_rows(const std::string& file, const std::string& name, const Array& a, int64_t n) {
  if (a.rows() != n)
    fail(file, "length mismatch: dataset '" + name + "' has " + std::to_string(a.rows()) +
                   " rows but 'observations' has " + std::to_string(n));
}

// Names of a group's links (portable across HDF5 1.10..1.14, unlike the H5Literate callbacks).
std::vector<std::string> link_names(hid_t g) {
  std::vector<std::string> out;
  H5G_info_t gi;
  if (H5Gget_info(g, &gi) < 0) return out;
  for (hsize_t i = 0; i < gi.nlinks; ++i) {
    const ssize_t len = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (len <= 0) continue;
    std::string name(static_cast<size_t>(len) + 1, '\0');
    H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
    name.resize(static_cast<size_t>(len));
    out.push_back(std::move(name));
  }
  return out;
}

herr_t collect_attr(hid_t loc, const char* name, const H5A_info_t*, void* data) {
  auto* md = static_cast<std::map<std::string, std::string>*>(data);
  Handle at(H5Aopen(loc, name, H5P_DEFAULT), H5Aclose);
  if (!at.ok()) return 0;
  Handle ft(H5Aget_type(at.get()), H5Tclose);
  if (H5Tget_class(ft.get()) != H5T_STRING) return 0;  // only string metadata is kept
  Handle sp(H5Aget_space(at.get()), H5Sclose);
  if (H5Sget_simple_extent_npoints(sp.get()) != 1) return 0;
  if (H5Tis_variable_str(ft.get()) > 0) {
    Handle mt(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mt.get(), H5T_VARIABLE);
    H5Tset_cset(mt.get(), H5Tget_cset(ft.get()));
    char* s = nullptr;
    if (H5Aread(at.get(), mt.get(), &s) >= 0 && s) {
      (*md)[name] = s;
      H5free_memory(s);
    }
  } else {
    const size_t sz = H5Tget_size(ft.get());
    std::string s(sz, '\0');
    Handle mt(H5Tcopy(ft.get()), H5Tclose);
    if (H5Aread(at.get(), mt.get(), s.data()) >= 0) (*md)[name] = s.c_str();
  }
  return 0;
}

void check_finite(const std::string& file, const std::string& name, const std::vector<float>& v, int64_t cols) {
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i]))
      fail(file, "dataset '" + name + "' has a non-finite value (" + std::to_string(v[i]) +
                     ") at index " + std::to_string(i / cols) +
                     (cols > 1 ? ", column " + std::to_string(i % cols) : std::string()));
}

void check_actions(const std::string& file, std::vector<float>& a, int64_t cols, const ReadOptions& opt) {
  if (opt.action_range == ActionRangePolicy::Ignore) return;
  int64_t count = 0, first = -1;
  float worst = 0.f;
  for (size_t i = 0; i < a.size(); ++i) {
    const float x = a[i];
    if (x >= -1.f && x <= 1.f) continue;
    if (std::abs(x) > 1.f + opt.action_tolerance) {
      if (opt.action_range == ActionRangePolicy::Refuse)
        fail(file, "dataset 'actions' has a value outside [-1, 1] (" + std::to_string(x) +
                       ") at index " + std::to_string(i / cols) + ", column " + std::to_string(i % cols));
      if (first < 0) first = static_cast<int64_t>(i / cols);
      ++count;
      worst = std::max(worst, std::abs(x));
    }
    a[i] = std::clamp(x, -1.f, 1.f);
  }
  if (count > 0) {
    const std::string msg = file + ": clipped " + std::to_string(count) +
                            " action values outside [-1, 1] to the range (first at index " +
                            std::to_string(first) + ", largest |a| = " + std::to_string(worst) + ")";
    if (opt.warn) opt.warn(msg);
    else std::fprintf(stderr, "warning: %s\n", msg.c_str());
  }
}

// ---- writing ----------------------------------------------------------------------------------

Handle make_dcpl(int rank, const hsize_t* dims, size_t elem_bytes, int compression) {
  Handle p(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (dims[0] == 0) return p;  // empty: contiguous (a chunk must be >= 1 row)
  hsize_t chunk[2] = {1, rank > 1 ? dims[1] : 1};
  const size_t row_bytes = elem_bytes * (rank > 1 ? dims[1] : 1);
  chunk[0] = std::clamp<hsize_t>((1u << 20) / std::max<size_t>(row_bytes, 1), 1, dims[0]);
  H5Pset_chunk(p.get(), rank, chunk);
  if (compression > 0 && H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) {
    H5Pset_shuffle(p.get());
    H5Pset_deflate(p.get(), std::min(compression, 9));
  }
  return p;
}

void write_array(const std::string& file, hid_t loc, const std::string& name, const void* data,
                 int64_t rows, int64_t cols, bool matrix, hid_t file_type, hid_t mem_type,
                 int compression) {
  const hsize_t dims[2] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(cols)};
  const int rank = matrix ? 2 : 1;
  Handle sp(H5Screate_simple(rank, dims, nullptr), H5Sclose);
  Handle dcpl = make_dcpl(rank, dims, H5Tget_size(file_type), compression);
  Handle ds(H5Dcreate2(loc, name.c_str(), file_type, sp.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
            H5Dclose);
  if (!ds.ok()) fail(file, "cannot create dataset '" + name + "'");
  if (rows > 0 && H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    fail(file, "cannot write dataset '" + name + "'");
}

// h5py's representation of numpy bool: an int8 enum {FALSE = 0, TRUE = 1}.
Handle bool_type() {
  Handle t(H5Tenum_create(H5T_NATIVE_INT8), H5Tclose);
  int8_t f = 0, tr = 1;
  H5Tenum_insert(t.get(), "FALSE", &f);
  H5Tenum_insert(t.get(), "TRUE", &tr);
  return t;
}

}  // namespace

void validate_dataset(const Dataset& d, const std::string& src) {
  const int64_t n = d.size;
  auto size_check = [&](const char* name, size_t got, int64_t per_row) {
    if (static_cast<int64_t>(got) != n * per_row)
      fail(src, std::string("length mismatch: '") + name + "' holds " + std::to_string(got) +
                    " values, expected " + std::to_string(n) + " x " + std::to_string(per_row));
  };
  if (d.obs_dim <= 0 || d.action_dim <= 0) fail(src, "obs_dim and action_dim must be positive");
  size_check("observations", d.observations.size(), d.obs_dim);
  size_check("actions", d.actions.size(), d.action_dim);
  size_check("rewards", d.rewards.size(), 1);
  if (!d.terminals.empty()) size_check("terminals", d.terminals.size(), 1);
  if (!d.timeouts.empty()) size_check("timeouts", d.timeouts.size(), 1);
  if (!d.next_observations.empty()) size_check("next_observations", d.next_observations.size(), d.obs_dim);
  for (const auto& [k, v] : d.infos) size_check(("infos/" + k).c_str(), v.data.size(), v.dim);
  check_finite(src, "observations", d.observations, d.obs_dim);
  check_finite(src, "actions", d.actions, d.action_dim);
  check_finite(src, "rewards", d.rewards, 1);
  check_finite(src, "next_observations", d.next_observations, d.obs_dim);
}

Dataset read_d4rl(const std::string& path, const ReadOptions& opt) {
  std::lock_guard lk(h5_mutex());
  QuietErrors quiet;
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) fail(path, "cannot open file");
    std::fclose(f);
    fail(path, "not an HDF5 file");
  }
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) fail(path, "cannot open as HDF5");
  const hid_t f = file.get();
  for (const char* req : {"observations", "actions", "rewards"})
    if (!exists(f, req))
      fail(path, std::string("missing required dataset '") + req +
                     "' (a D4RL file has observations, actions, rewards, terminals, timeouts)");

  Dataset d;
  Array s;
  d.observations = read_floats(path, f, "observations", s);
  if (s.dims.empty()) fail(path, "dataset 'observations' is a scalar");
  d.size = s.rows();
  d.obs_dim = static_cast<int>(s.cols());
  d.actions = read_floats(path, f, "actions", s);
  check_rows(path, "actions", s, d.size);
  d.action_dim = static_cast<int>(s.cols());
  d.rewards = read_floats(path, f, "rewards", s);
  check_rows(path, "rewards", s, d.size);
  if (s.cols() != 1) fail(path, "dataset 'rewards' must have one value per row");
  if (exists(f, "terminals")) {
    d.terminals = read_flags(path, f, "terminals", s);
    check_rows(path, "terminals", s, d.size);
  }
  if (exists(f, "timeouts")) {
    d.timeouts = read_flags(path, f, "timeouts", s);
    check_rows(path, "timeouts", s, d.size);
  } else {
    const std::string msg = path + ": no 'timeouts' dataset; episodes are split at terminals" +
                            std::string(d.terminals.empty() ? " and observation discontinuities" : "");
    if (opt.warn) opt.warn(msg);
    else std::fprintf(stderr, "warning: %s\n", msg.c_str());
  }
  if (exists(f, "next_observations")) {
    d.next_observations = read_floats(path, f, "next_observations", s);
    check_rows(path, "next_observations", s, d.size);
    if (s.cols() != d.obs_dim) fail(path, "dataset 'next_observations' width differs from 'observations'");
  }
  if (opt.read_infos && exists(f, "infos")) {
    Handle g(H5Gopen2(f, "infos", H5P_DEFAULT), H5Gclose);
    for (const auto& name : g.ok() ? link_names(g.get()) : std::vector<std::string>{}) {
      {
        // Datasets only (nested groups are not read); non-numeric infos are skipped.
        Handle ds(H5Dopen2(g.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
        const H5T_class_t c = ds.ok() ? type_class(ds.get()) : H5T_NO_CLASS;
        if (c != H5T_FLOAT && c != H5T_INTEGER) continue;
      }
      InfoArray ia;
      ia.data = read_floats(path, g.get(), name, s);
      check_rows(path, "infos/" + name, s, d.size);
      ia.dim = static_cast<int>(s.cols());
      d.infos[name] = std::move(ia);
    }
  }
  H5Aiterate2(f, H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_attr, &d.metadata);

  validate_dataset(d, path);
  check_actions(path, d.actions, d.action_dim, opt);
  return d;
}

void write_d4rl(const std::string& path, const Dataset& d, const WriteOptions& opt) {
  validate_dataset(d, "write_d4rl(" + path + ")");
  std::lock_guard lk(h5_mutex());
  QuietErrors quiet;
  Handle file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) fail(path, "cannot create file");
  const hid_t f = file.get();
  const hid_t ft = opt.float64 ? H5T_IEEE_F64LE : H5T_IEEE_F32LE;
  const int z = opt.compression;
  write_array(path, f, "observations", d.observations.data(), d.size, d.obs_dim, true, ft, H5T_NATIVE_FLOAT, z);
  write_array(path, f, "actions", d.actions.data(), d.size, d.action_dim, true, ft, H5T_NATIVE_FLOAT, z);
  write_array(path, f, "rewards", d.rewards.data(), d.size, 1, false, ft, H5T_NATIVE_FLOAT, z);
  Handle bt = bool_type();
  if (!d.terminals.empty())
    write_array(path, f, "terminals", d.terminals.data(), d.size, 1, false, bt.get(), bt.get(), z);
  if (!d.timeouts.empty())
    write_array(path, f, "timeouts", d.timeouts.data(), d.size, 1, false, bt.get(), bt.get(), z);
  if (opt.next_observations && d.has_next_observations())
    write_array(path, f, "next_observations", d.next_observations.data(), d.size, d.obs_dim, true,
                ft, H5T_NATIVE_FLOAT, z);
  if (!d.infos.empty()) {
    Handle g(H5Gcreate2(f, "infos", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    if (!g.ok()) fail(path, "cannot create group 'infos'");
    for (const auto& [name, ia] : d.infos)
      write_array(path, g.get(), name, ia.data.data(), d.size, ia.dim, ia.dim > 1, ft,
                  H5T_NATIVE_FLOAT, z);
  }
  for (const auto& [k, v] : d.metadata) {
    Handle st(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(st.get(), H5T_VARIABLE);
    H5Tset_cset(st.get(), H5T_CSET_UTF8);
    Handle sp(H5Screate(H5S_SCALAR), H5Sclose);
    Handle at(H5Acreate2(f, k.c_str(), st.get(), sp.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    const char* s = v.c_str();
    if (!at.ok() || H5Awrite(at.get(), st.get(), &s) < 0) fail(path, "cannot write attribute '" + k + "'");
  }
  if (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0) fail(path, "cannot flush file");
}

}  // namespace anyrl::envs
