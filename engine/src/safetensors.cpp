// safetensors reader/writer and atomic file writes (serialize.hpp).
//
// Layout: [u64 little-endian N][N bytes of JSON header][data]. The header maps each tensor
// name to {"dtype", "shape", "data_offsets": [begin, end]} with offsets relative to the start
// of the data section, plus an optional "__metadata__" string->string map. We write names in
// sorted order with contiguous data, pad the header with spaces to a multiple of 8 (so the
// data is 8-byte aligned, as Python's writer does) and read back everything the reference
// implementation accepts, validating the file completely before trusting any offset.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string_view>
#include <vector>

#include "anyrl/engine/autograd.hpp"
#include "anyrl/engine/serialize.hpp"
#include "json.hpp"

namespace anyrl {

// Tensor bytes are written and read as they sit in memory, which is the file's byte order
// only on little-endian hosts.
static_assert(std::endian::native == std::endian::little, "anyrl's safetensors I/O supports little-endian hosts only");

namespace {

using detail::Json;

std::string errno_text(int err) { return std::strerror(err); }

// Header sizes beyond this are refused, like the reference implementation (100 MB).
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

const char* st_dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "F32";
    case DType::Float64: return "F64";
    case DType::Int32: return "I32";
    case DType::Int64: return "I64";
    case DType::Bool: return "BOOL";
  }
  return "?";
}

// safetensors dtype -> engine dtype. U8 is read as Bool (values normalised to 0/1).
bool parse_st_dtype(const std::string& s, DType* out) {
  if (s == "F32") *out = DType::Float32;
  else if (s == "F64") *out = DType::Float64;
  else if (s == "I32") *out = DType::Int32;
  else if (s == "I64") *out = DType::Int64;
  else if (s == "BOOL" || s == "U8") *out = DType::Bool;
  else return false;
  return true;
}

// ---- atomic writes ---------------------------------------------------------------------------

// Writes through `body` into `path + ".tmp.<pid>"`, then fflush + fsync + rename over `path`.
// On any failure the temporary file is removed and the previous `path` is left untouched.
void write_atomic(const std::string& path, const char* op, const std::function<void(std::FILE*, const std::string&)>& body) {
  const std::string tmp = path + ".tmp." + std::to_string(static_cast<long>(::getpid()));
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) {
    const int err = errno;
    throw IOError(std::string(op) + ": cannot write '" + path + "': cannot create temporary file '" + tmp +
                  "': " + errno_text(err));
  }
  auto fail = [&](const std::string& what, int err) {
    if (f) std::fclose(f);
    ::unlink(tmp.c_str());
    throw IOError(std::string(op) + ": cannot write '" + path + "': " + what + ": " + errno_text(err));
  };
  try {
    body(f, tmp);
  } catch (...) {
    std::fclose(f);
    ::unlink(tmp.c_str());
    throw;
  }
  if (std::fflush(f) != 0) fail("flushing '" + tmp + "' failed", errno);
  if (::fsync(::fileno(f)) != 0) fail("fsync of '" + tmp + "' failed", errno);
  const int rc = std::fclose(f);
  f = nullptr;
  if (rc != 0) fail("closing '" + tmp + "' failed", errno);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail("renaming '" + tmp + "' failed", errno);
  // Make the rename itself durable (best effort: some file systems refuse fsync on a folder).
  const auto slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

void fwrite_all(std::FILE* f, const void* data, std::size_t n, const std::string& path, const std::string& tmp,
                const char* op) {
  if (n == 0) return;
  if (std::fwrite(data, 1, n, f) != n) {
    const int err = errno;
    throw IOError(std::string(op) + ": cannot write '" + path + "': writing '" + tmp + "' failed: " + errno_text(err));
  }
}

// ---- reading -------------------------------------------------------------------------------

// An open file descriptor, closed on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Reads exactly n bytes at `offset`; false on EOF (file shorter than expected).
bool pread_all(int fd, void* dst, std::size_t n, std::uint64_t offset, int* err) {
  auto* p = static_cast<char*>(dst);
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (r < 0) {
      if (errno == EINTR) continue;
      *err = errno;
      return false;
    }
    if (r == 0) {
      *err = 0;
      return false;
    }
    p += r;
    n -= static_cast<std::size_t>(r);
    offset += static_cast<std::uint64_t>(r);
  }
  return true;
}

struct Entry {
  std::string name;
  DType dtype = DType::Float32;
  bool normalise_bool = false;
  Shape shape;
  std::uint64_t begin = 0, end = 0;
};

}  // namespace

void write_file_atomic(const std::string& path, const std::string& bytes) {
  write_atomic(path, "write_file_atomic", [&](std::FILE* f, const std::string& tmp) {
    fwrite_all(f, bytes.data(), bytes.size(), path, tmp, "write_file_atomic");
  });
}

void save_safetensors(const std::string& path, const TensorMap& tensors, const std::map<std::string, std::string>& metadata) {
  const char* op = "save_safetensors";
  // Host copies (a no-op for CPU tensors) and the header, in name order (std::map is sorted).
  std::vector<Tensor> host;
  host.reserve(tensors.size());
  Json header = Json::object();
  if (!metadata.empty()) {
    Json meta = Json::object();
    for (const auto& [k, v] : metadata) meta.as_object().emplace_back(k, Json(v));
    header.as_object().emplace_back("__metadata__", std::move(meta));
  }
  std::uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__")
      throw IOError(std::string(op) + ": cannot write '" + path + "': \"__metadata__\" is reserved and cannot name a tensor");
    if (!t.defined()) throw IOError(std::string(op) + ": cannot write '" + path + "': tensor '" + name + "' is undefined");
    Tensor h = t.device().is_cpu() ? t : t.detach().to(Device::cpu());
    Json shape = Json::array();
    for (std::int64_t d : h.shape()) shape.push_back(Json(d));
    Json entry = Json::object();
    entry.as_object().emplace_back("dtype", Json(st_dtype_name(h.dtype())));
    entry.as_object().emplace_back("shape", std::move(shape));
    const std::uint64_t nb = h.nbytes();
    entry.as_object().emplace_back("data_offsets", Json(Json::Array{Json(static_cast<std::int64_t>(offset)),
                                                                     Json(static_cast<std::int64_t>(offset + nb))}));
    offset += nb;
    header.as_object().emplace_back(name, std::move(entry));
    host.push_back(std::move(h));
  }
  std::string text = header.dump();
  // Pad with spaces so the data section starts 8-byte aligned (8 + N is a multiple of 8).
  text.append((8 - text.size() % 8) % 8, ' ');
  unsigned char len[8];
  const std::uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));

  write_atomic(path, op, [&](std::FILE* f, const std::string& tmp) {
    fwrite_all(f, len, 8, path, tmp, op);
    fwrite_all(f, text.data(), text.size(), path, tmp, op);
    for (const Tensor& h : host)
      if (h.nbytes() > 0) fwrite_all(f, h.raw_data(), h.nbytes(), path, tmp, op);
  });
}

TensorMap load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata) {
  const std::string where = "load_safetensors: '" + path + "'";
  auto bad = [&](const std::string& msg) -> IOError { return IOError(where + ": " + msg); };
  auto bad_tensor = [&](const std::string& name, const std::string& msg) -> IOError {
    return IOError(where + ": tensor '" + name + "': " + msg);
  };

  Fd file;
  file.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file.fd < 0) {
    const int err = errno;
    throw bad("cannot open: " + errno_text(err));
  }
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) {
    const int err = errno;
    throw bad("cannot stat: " + errno_text(err));
  }
  if (!S_ISREG(st.st_mode)) throw bad("not a regular file");
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  if (file_size < 8)
    throw bad("file is " + std::to_string(file_size) + " bytes, too short for the 8-byte header length (truncated?)");

  int err = 0;
  unsigned char len[8];
  if (!pread_all(file.fd, len, 8, 0, &err)) throw bad("cannot read the header length: " + (err ? errno_text(err) : "unexpected end of file"));
  std::uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= static_cast<std::uint64_t>(len[i]) << (8 * i);
  if (header_len > file_size - 8)
    throw bad("header length " + std::to_string(header_len) + " exceeds the " + std::to_string(file_size - 8) +
              " bytes after the length field (truncated or not a safetensors file)");
  if (header_len > kMaxHeaderBytes) throw bad("header length " + std::to_string(header_len) + " exceeds the 100 MB limit");
  if (header_len < 2) throw bad("header of " + std::to_string(header_len) + " bytes cannot hold a JSON object");

  std::string text(static_cast<std::size_t>(header_len), '\0');
  if (!pread_all(file.fd, text.data(), text.size(), 8, &err))
    throw bad("cannot read the header: " + (err ? errno_text(err) : "unexpected end of file"));

  Json header;
  try {
    header = detail::json_parse(text);
  } catch (const detail::JsonError& e) {
    throw bad(std::string("corrupt header: ") + e.what());
  }
  if (!header.is_object()) throw bad(std::string("header is a JSON ") + Json::type_name(header.type()) + ", not an object");

  const std::uint64_t data_start = 8 + header_len;
  const std::uint64_t data_size = file_size - data_start;
  std::map<std::string, std::string> meta;
  std::vector<Entry> entries;
  for (const auto& [name, v] : header.as_object()) {
    if (name == "__metadata__") {
      if (!v.is_object()) throw bad("__metadata__ must be an object of strings");
      for (const auto& [k, mv] : v.as_object()) {
        if (!mv.is_string()) throw bad("__metadata__ entry '" + k + "' is not a string");
        meta[k] = mv.as_string();
      }
      continue;
    }
    if (!v.is_object()) throw bad_tensor(name, std::string("entry is a JSON ") + Json::type_name(v.type()) + ", not an object");
    Entry e;
    e.name = name;
    const Json* dt = v.find("dtype");
    const Json* sh = v.find("shape");
    const Json* off = v.find("data_offsets");
    if (!dt) throw bad_tensor(name, "missing key \"dtype\"");
    if (!sh) throw bad_tensor(name, "missing key \"shape\"");
    if (!off) throw bad_tensor(name, "missing key \"data_offsets\"");
    if (!dt->is_string()) throw bad_tensor(name, "\"dtype\" is not a string");
    if (!parse_st_dtype(dt->as_string(), &e.dtype))
      throw bad_tensor(name, "unsupported dtype '" + dt->as_string() + "' (anyrl reads F32, F64, I32, I64, BOOL, U8)");
    e.normalise_bool = e.dtype == DType::Bool;
    if (!sh->is_array()) throw bad_tensor(name, "\"shape\" is not an array");
    const auto& dims = sh->as_array();
    if (dims.size() > static_cast<std::size_t>(kMaxRank))
      throw bad_tensor(name, "rank " + std::to_string(dims.size()) + " exceeds anyrl's maximum rank " + std::to_string(kMaxRank));
    std::uint64_t numel = 1;
    bool overflow = false;
    for (const Json& d : dims) {
      if (!d.is_int() || d.as_int() < 0) throw bad_tensor(name, "\"shape\" must hold non-negative integers, got " + sh->dump());
      e.shape.push_back(d.as_int());
      overflow = overflow || __builtin_mul_overflow(numel, static_cast<std::uint64_t>(d.as_int()), &numel);
    }
    if (!off->is_array() || off->as_array().size() != 2 || !off->as_array()[0].is_int() || !off->as_array()[1].is_int() ||
        off->as_array()[0].as_int() < 0 || off->as_array()[1].as_int() < 0)
      throw bad_tensor(name, "\"data_offsets\" must be two non-negative integers, got " + off->dump());
    e.begin = static_cast<std::uint64_t>(off->as_array()[0].as_int());
    e.end = static_cast<std::uint64_t>(off->as_array()[1].as_int());
    if (e.end < e.begin) throw bad_tensor(name, "data_offsets " + off->dump() + " end before they begin");
    if (e.end > data_size)
      throw bad_tensor(name, "data_offsets " + off->dump() + " reach beyond the " + std::to_string(data_size) +
                                 "-byte data section (truncated file?)");
    std::uint64_t nbytes = 0;
    overflow = overflow || __builtin_mul_overflow(numel, static_cast<std::uint64_t>(dtype_size(e.dtype)), &nbytes);
    if (overflow || nbytes != e.end - e.begin)
      throw bad_tensor(name, "shape " + e.shape.str() + " of " + dt->as_string() + " needs " +
                                 (overflow ? std::string("more than 2^64") : std::to_string(nbytes)) + " bytes but data_offsets " +
                                 off->dump() + " span " + std::to_string(e.end - e.begin));
    entries.push_back(std::move(e));
  }

  // The data section must be tiled exactly: no overlap, no gap, nothing after the last tensor.
  std::vector<const Entry*> order;
  order.reserve(entries.size());
  for (const Entry& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  std::uint64_t pos = 0;
  const Entry* prev = nullptr;
  for (const Entry* e : order) {
    if (e->begin < pos)
      throw bad_tensor(e->name, "data [" + std::to_string(e->begin) + ", " + std::to_string(e->end) + ") overlaps tensor '" +
                                    prev->name + "' [" + std::to_string(prev->begin) + ", " + std::to_string(prev->end) + ")");
    if (e->begin > pos)
      throw bad_tensor(e->name, "data starts at " + std::to_string(e->begin) + " but the previous tensor ends at " +
                                    std::to_string(pos) + " (gap in the data section)");
    pos = e->end;
    prev = e;
  }
  if (pos != data_size)
    throw bad(std::to_string(data_size - pos) + " bytes of trailing garbage after the last tensor (data section is " +
              std::to_string(data_size) + " bytes, tensors cover " + std::to_string(pos) + ")");

  TensorMap out;
  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    const std::uint64_t nb = e.end - e.begin;
    if (nb > 0 && !pread_all(file.fd, t.raw_data(), static_cast<std::size_t>(nb), data_start + e.begin, &err))
      throw bad_tensor(e.name, "cannot read data: " + (err ? errno_text(err) : "unexpected end of file"));
    if (e.normalise_bool) {
      auto* p = static_cast<std::uint8_t*>(t.raw_data());
      for (std::uint64_t i = 0; i < nb; ++i) p[i] = p[i] != 0;
    }
    out.emplace(e.name, std::move(t));
  }
  if (metadata) *metadata = std::move(meta);
  return out;
}

void load_into(const TensorMap& src, const TensorMap& dst, const std::string& what, bool strict) {
  const std::string op = "load_into(" + what + ")";
  // Check everything before copying anything, so a failed load leaves `dst` untouched.
  for (const auto& [name, d] : dst) {
    const auto it = src.find(name);
    if (it == src.end()) throw ValueError(op + ": missing tensor '" + name + "' (expected " + d.desc() + ")");
    const Tensor& s = it->second;
    if (!s.defined()) throw ValueError(op + ": tensor '" + name + "' is undefined in the source");
    if (!(s.shape() == d.shape()))
      throw ValueError(op + ": tensor '" + name + "' has shape " + s.shape().str() + " in the source but " +
                       d.shape().str() + " in the destination");
    if (s.dtype() != d.dtype())
      throw ValueError(op + ": tensor '" + name + "' has dtype " + dtype_name(s.dtype()) + " in the source but " +
                       dtype_name(d.dtype()) + " in the destination");
  }
  if (strict) {
    std::string extra;
    int count = 0;
    for (const auto& [name, s] : src)
      if (!dst.count(name)) {
        if (count < 8) extra += (count ? ", '" : "'") + name + "'";
        ++count;
      }
    if (count > 0)
      throw ValueError(op + ": " + std::to_string(count) + " unexpected tensor" + (count > 1 ? "s" : "") + " in the source: " +
                       extra + (count > 8 ? ", ..." : ""));
  }
  NoGrad no_grad;  // parameters require grad; copying into them is not a recorded op
  for (const auto& [name, d] : dst) {
    Tensor target = d;
    target.copy_(src.at(name));
  }
}

}  // namespace anyrl
