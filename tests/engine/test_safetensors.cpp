// safetensors checkpoints: round trips of every dtype and shape, interop with Python's
// safetensors/NumPy in both directions, every malformed-file path (each error must name the
// file and the culprit), load_into checks, atomic writes — and the internal JSON parser.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "../../engine/src/json.hpp"
#include "anyrl/engine/engine.hpp"

using namespace anyrl;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the system temp folder, removed with everything in it at scope exit.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "anyrl_st_XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A safetensors file from a raw header text and a data section.
std::string make_file(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>(n >> (8 * i));
  return out + header + data;
}

bool same_tensor(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         (a.nbytes() == 0 || std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0);
}

template <class T>
Tensor iota(const Shape& shape, double scale, double shift) {
  std::vector<T> v(static_cast<std::size_t>(shape.numel()));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<T>(static_cast<double>(i) * scale + shift);
  return Tensor::from_vector(v, shape);
}

// The tensors that tests/engine/safetensors_interop.py builds in expected().
TensorMap interop_expected() {
  TensorMap m;
  m["f32"] = iota<float>(Shape{2, 3, 4}, 0.5, -3.0);
  std::vector<double> f64(5);
  for (int i = 0; i < 5; ++i) f64[static_cast<std::size_t>(i)] = i / 3.0;
  m["f64"] = Tensor::from_vector(f64);
  m["i32"] = iota<std::int32_t>(Shape{3, 2}, 1, -2);
  m["i64"] = Tensor::from_vector(std::vector<std::int64_t>{-(std::int64_t{1} << 40), 0, 1, std::int64_t{1} << 62});
  m["mask"] = Tensor::from_vector(std::vector<std::uint8_t>{1, 0, 1, 0, 1});
  m["scalar"] = Tensor::from_vector(std::vector<float>{3.25f}, Shape{});
  m["empty"] = Tensor::zeros(Shape{0, 3});
  m["nested.name/with:chars"] = iota<double>(Shape{7, 1, 1}, -1.25, 0.5);
  return m;
}
const std::map<std::string, std::string> kInteropMeta = {{"format", "anyrl"}, {"note", "interop \u00e9 \"quoted\""}};

void check_same_maps(const TensorMap& got, const TensorMap& want) {
  REQUIRE(got.size() == want.size());
  for (const auto& [name, w] : want) {
    CAPTURE(name);
    REQUIRE(got.count(name) == 1);
    CHECK(got.at(name).desc() == w.desc());
    CHECK(same_tensor(got.at(name), w));
  }
}

std::string source_dir() {
  if (const char* s = std::getenv("ANYRL_SOURCE_DIR")) return s;
  return fs::path(__FILE__).parent_path().parent_path().parent_path().string();  // tests/engine/x.cpp -> root
}

int run_shell(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  return rc == -1 ? -1 : (WIFEXITED(rc) ? WEXITSTATUS(rc) : 128);
}

// The message of the IOError thrown by load_safetensors(path) ("" if it did not throw).
std::string load_error(const std::string& path) {
  try {
    (void)load_safetensors(path);
  } catch (const IOError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("safetensors round trip: every dtype, rank 0..6, empty tensors, metadata") {
  TempDir dir;
  TensorMap m = interop_expected();
  m["rank6"] = iota<float>(Shape{1, 2, 1, 3, 1, 2}, 1.5, 0.25);
  m["empty_i64"] = Tensor::empty(Shape{4, 0}, DType::Int64);
  m["empty1d"] = Tensor::empty(Shape{0}, DType::Bool);
  m["neg_zero_nan"] = Tensor::from_vector(std::vector<double>{-0.0, std::nan(""), 1e308, -1e-310});
  Tensor param = iota<float>(Shape{3, 3}, 1, 0);
  param.set_requires_grad(true);
  m["param"] = param;                                   // requires_grad: raw data is saved
  m["view"] = iota<double>(Shape{4, 2}, 1, 0).slice0(1, 3);  // a view at a non-zero offset
  const std::map<std::string, std::string> meta{{"step", "1200"}, {"empty", ""}, {"ctrl", "a\tb\n\x01"}};
  const std::string path = dir.file("model.safetensors");
  save_safetensors(path, m, meta);

  std::map<std::string, std::string> meta_back;
  TensorMap back = load_safetensors(path, &meta_back);
  CHECK(meta_back == meta);
  REQUIRE(back.size() == m.size());
  for (const auto& [name, t] : m) {
    CAPTURE(name);
    const Tensor& b = back.at(name);
    CHECK(b.dtype() == t.dtype());
    CHECK(b.shape() == t.shape());
    CHECK(!b.requires_grad());
    CHECK(same_tensor(b, t));
  }
  CHECK(back.at("view").to_vector<double>() == std::vector<double>{2, 3, 4, 5});

  // Layout: data 8-byte aligned (header padded with spaces), names in sorted order.
  const std::string bytes = read_bytes(path);
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)])) << (8 * i);
  CHECK((8 + n) % 8 == 0);
  const std::string header = bytes.substr(8, n);
  CHECK(header.front() == '{');
  CHECK(header.find_last_not_of(' ') < header.size());
  std::size_t last = 0;
  for (const auto& [name, t] : m) {  // std::map iterates in sorted order
    const std::size_t at = header.find("\"" + name + "\":{");
    REQUIRE(at != std::string::npos);
    CHECK(at > last);
    last = at;
  }
  CHECK(header.find("__metadata__") < header.find("\"empty\":{"));

  // Without metadata no __metadata__ entry is written; an empty map round-trips.
  save_safetensors(path, TensorMap{});
  CHECK(load_safetensors(path, &meta_back).empty());
  CHECK(meta_back.empty());
  CHECK(read_bytes(path).find("__metadata__") == std::string::npos);

  // No temporary files left behind.
  int files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path)) ++files;
  CHECK(files == 1);
}

TEST_CASE("safetensors interop with Python safetensors + NumPy, both ways") {
  const std::string script = source_dir() + "/tests/engine/safetensors_interop.py";
  if (run_shell("python3 -c 'import numpy, safetensors.numpy' > /dev/null 2>&1") != 0 || !fs::exists(script)) {
    MESSAGE("skipped: python safetensors not installed (python3 -m pip install numpy safetensors)");
    return;
  }
  TempDir dir;
  const std::string ours = dir.file("from_anyrl.safetensors");
  save_safetensors(ours, interop_expected(), kInteropMeta);
  CHECK(run_shell("python3 '" + script + "' check '" + ours + "'") == 0);

  const std::string theirs = dir.file("from_python.safetensors");
  REQUIRE(run_shell("python3 '" + script + "' write '" + theirs + "'") == 0);
  std::map<std::string, std::string> meta;
  TensorMap got = load_safetensors(theirs, &meta);
  CHECK(meta == kInteropMeta);
  TensorMap want = interop_expected();
  want["u8"] = Tensor::from_vector(std::vector<std::uint8_t>{0, 1, 1, 1});  // U8 read as bool, normalised
  check_same_maps(got, want);
}

TEST_CASE("safetensors: truncated files name the file and the culprit") {
  TempDir dir;
  const std::string good = dir.file("good.safetensors");
  TensorMap m;
  m["a"] = iota<float>(Shape{4}, 1, 0);
  m["b"] = iota<double>(Shape{3}, 1, 0);
  save_safetensors(good, m);
  const std::string bytes = read_bytes(good);
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)])) << (8 * i);
  const std::string cut = dir.file("cut.safetensors");

  write_bytes(cut, "");
  CHECK_THROWS_WITH_AS(load_safetensors(cut), doctest::Contains("0 bytes, too short"), IOError);
  write_bytes(cut, bytes.substr(0, 5));  // inside the length field
  CHECK(load_error(cut).find("5 bytes, too short") != std::string::npos);
  CHECK(load_error(cut).find(cut) != std::string::npos);
  write_bytes(cut, bytes.substr(0, 8 + n / 2));  // inside the header
  CHECK(load_error(cut).find("header length " + std::to_string(n) + " exceeds") != std::string::npos);
  write_bytes(cut, bytes.substr(0, 8 + n + 5));  // inside a's data
  CHECK(load_error(cut).find("tensor 'a'") != std::string::npos);
  CHECK(load_error(cut).find("truncated") != std::string::npos);
  write_bytes(cut, bytes.substr(0, bytes.size() - 1));  // inside b's data
  CHECK(load_error(cut).find("tensor 'b'") != std::string::npos);

  // Every possible cut is an IOError, never a crash.
  for (std::size_t len = 0; len < bytes.size(); ++len) {
    write_bytes(cut, bytes.substr(0, len));
    CAPTURE(len);
    CHECK_THROWS_AS(load_safetensors(cut), IOError);
  }
  CHECK_THROWS_WITH_AS(load_safetensors(dir.file("nope.safetensors")), doctest::Contains("nope.safetensors"), IOError);
  CHECK_THROWS_WITH_AS(load_safetensors(dir.file("nope.safetensors")), doctest::Contains("No such file"), IOError);
  CHECK_THROWS_WITH_AS(load_safetensors(dir.path.string()), doctest::Contains("not a regular file"), IOError);
}

TEST_CASE("safetensors: malformed headers are IOErrors naming the culprit") {
  TempDir dir;
  const std::string p = dir.file("bad.safetensors");
  const std::string data16(16, '\0');
  auto err = [&](const std::string& header, const std::string& data) {
    write_bytes(p, make_file(header, data));
    return load_error(p);
  };
  // Sanity: the hand-made format is accepted.
  write_bytes(p, make_file(R"({"x":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})", data16));
  CHECK(load_safetensors(p).at("x").shape() == Shape{2, 2});

  std::string e = err(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]})", data16);
  CHECK(e.find("corrupt header") != std::string::npos);
  CHECK(e.find("byte 54") != std::string::npos);  // end of input, where the closing brace is missing
  CHECK(e.find(p) != std::string::npos);
  e = err(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},})", data16);
  CHECK(e.find("corrupt header") != std::string::npos);
  e = err(R"({"x":{"dtype":"F16","shape":[8],"data_offsets":[0,16]}})", data16);
  CHECK(e.find("tensor 'x'") != std::string::npos);
  CHECK(e.find("unsupported dtype 'F16'") != std::string::npos);
  e = err(R"({"weird":{"dtype":"Q7","shape":[8],"data_offsets":[0,16]}})", data16);
  CHECK(e.find("tensor 'weird'") != std::string::npos);
  CHECK(e.find("'Q7'") != std::string::npos);
  e = err(R"({"x":{"dtype":"F32","shape":[100],"data_offsets":[0,400]}})", data16);
  CHECK(e.find("tensor 'x'") != std::string::npos);
  CHECK(e.find("beyond the 16-byte data section") != std::string::npos);
  e = err(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", data16);
  CHECK(e.find("tensor 'x'") != std::string::npos);
  CHECK(e.find("needs 12 bytes") != std::string::npos);
  e = err(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
          std::string(12, '\0'));
  CHECK(e.find("tensor 'y'") != std::string::npos);
  CHECK(e.find("overlaps tensor 'x'") != std::string::npos);
  e = err(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", data16);
  CHECK(e.find("tensor 'x'") != std::string::npos);
  CHECK(e.find("gap") != std::string::npos);
  e = err(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data16);
  CHECK(e.find("8 bytes of trailing garbage") != std::string::npos);
  e = err(R"({"x":{"dtype":"F32","data_offsets":[0,16]}})", data16);
  CHECK(e.find("tensor 'x': missing key \"shape\"") != std::string::npos);
  e = err(R"({"x":{"shape":[4],"data_offsets":[0,16]}})", data16);
  CHECK(e.find("tensor 'x': missing key \"dtype\"") != std::string::npos);
  e = err(R"({"x":{"dtype":"F32","shape":[4]}})", data16);
  CHECK(e.find("tensor 'x': missing key \"data_offsets\"") != std::string::npos);
  e = err(R"({"x":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})", data16);
  CHECK(e.find("tensor 'x'") != std::string::npos);
  e = err(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[16,0]}})", data16);
  CHECK(e.find("tensor 'x'") != std::string::npos);
  e = err(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0]}})", data16);
  CHECK(e.find("tensor 'x'") != std::string::npos);
  e = err(R"({"x":{"dtype":"F32","shape":[1,1,1,1,1,1,4],"data_offsets":[0,16]}})", data16);
  CHECK(e.find("rank 7") != std::string::npos);
  e = err(R"({"x":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,16]}})", data16);
  CHECK(e.find("tensor 'x'") != std::string::npos);
  e = err(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data16);
  CHECK(e.find("duplicate key \"x\"") != std::string::npos);
  e = err(R"(["x"])", data16);
  CHECK(e.find("not an object") != std::string::npos);
  e = err(R"({"x":[1]})", data16);
  CHECK(e.find("tensor 'x'") != std::string::npos);
  e = err(R"({"__metadata__":{"k":1},"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data16);
  CHECK(e.find("__metadata__ entry 'k'") != std::string::npos);
  e = err(std::string(300, '['), data16);
  CHECK(e.find("nesting") != std::string::npos);
  // A header length that does not fit the file (e.g. 2^63).
  write_bytes(p, std::string("\x00\x00\x00\x00\x00\x00\x00\x80", 8) + "{}");
  CHECK(load_error(p).find("exceeds") != std::string::npos);

  // Random corruption of a valid file never crashes: it loads or throws IOError.
  TensorMap m;
  m["alpha"] = iota<float>(Shape{3, 5}, 1, 0);
  m["beta"] = iota<std::int64_t>(Shape{2}, 1, 0);
  save_safetensors(p, m, {{"k", "v"}});
  const std::string good = read_bytes(p);
  std::mt19937 rng(1234);
  int loaded = 0, rejected = 0;
  for (int it = 0; it < 600; ++it) {
    std::string b = good;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) {
      // Mostly corrupt the length field and the header, where parsing happens.
      const std::size_t at = rng() % 4 == 0 ? rng() % b.size() : rng() % std::min<std::size_t>(b.size(), 8 + 140);
      b[at] = static_cast<char>(rng() % 256);
    }
    write_bytes(p, b);
    try {
      (void)load_safetensors(p);
      ++loaded;
    } catch (const IOError&) {
      ++rejected;
    }
  }
  CHECK(loaded + rejected == 600);
  CHECK(rejected > 0);
}

TEST_CASE("load_into checks names, shapes and dtypes, then copies") {
  TensorMap src;
  src["w"] = iota<float>(Shape{2, 3}, 1, 1);
  src["b"] = iota<float>(Shape{3}, -1, 0);
  Tensor w = Tensor::zeros(Shape{2, 3});
  Tensor b = Tensor::zeros(Shape{3});
  w.set_requires_grad(true);  // parameters: the copy must not be refused or recorded
  b.set_requires_grad(true);
  TensorMap dst{{"w", w}, {"b", b}};
  load_into(src, dst, "critic");
  CHECK(w.to_vector<float>() == src["w"].to_vector<float>());
  CHECK(b.to_vector<float>() == src["b"].to_vector<float>());
  CHECK(w.requires_grad());

  TensorMap missing{{"w", src["w"]}};
  CHECK_THROWS_WITH_AS(load_into(missing, dst, "critic"), doctest::Contains("load_into(critic): missing tensor 'b'"), ValueError);
  TensorMap wrong_shape{{"w", iota<float>(Shape{3, 2}, 1, 0)}, {"b", src["b"]}};
  CHECK_THROWS_WITH_AS(load_into(wrong_shape, dst, "critic"), doctest::Contains("'w' has shape [3,2] in the source but [2,3]"),
                       ValueError);
  TensorMap wrong_dtype{{"w", src["w"]}, {"b", iota<double>(Shape{3}, 1, 0)}};
  CHECK_THROWS_WITH_AS(load_into(wrong_dtype, dst, "critic"), doctest::Contains("'b' has dtype float64 in the source but float32"),
                       ValueError);
  TensorMap extra = src;
  extra["c"] = Tensor::zeros(Shape{1});
  CHECK_THROWS_WITH_AS(load_into(extra, dst, "critic"), doctest::Contains("unexpected tensor in the source: 'c'"), ValueError);
  Tensor before = w.detach().clone();
  extra["w"] = iota<float>(Shape{2, 3}, 0, 7);
  load_into(extra, dst, "critic", /*strict=*/false);  // extras allowed when not strict
  CHECK(w.to_vector<float>() == std::vector<float>(6, 7.0f));
  // A failed load leaves the destination untouched.
  CHECK_THROWS_AS(load_into(wrong_dtype, dst, "critic"), ValueError);
  CHECK(w.to_vector<float>() == std::vector<float>(6, 7.0f));
  (void)before;
}

TEST_CASE("atomic writes: errors name the path; a failed save keeps the old file") {
  TempDir dir;
  const std::string missing_dir = dir.file("no/such/dir/model.safetensors");
  CHECK_THROWS_WITH_AS(save_safetensors(missing_dir, interop_expected()), doctest::Contains(missing_dir.c_str()), IOError);
  CHECK_THROWS_WITH_AS(save_safetensors(missing_dir, interop_expected()), doctest::Contains("No such file or directory"), IOError);
  CHECK_THROWS_WITH_AS(write_file_atomic(missing_dir, "x"), doctest::Contains(missing_dir.c_str()), IOError);

  const std::string path = dir.file("ckpt.safetensors");
  TensorMap v1{{"x", iota<float>(Shape{4}, 1, 0)}};
  TensorMap v2{{"x", iota<float>(Shape{4}, 1, 100)}, {"y", Tensor::zeros(Shape{2})}};
  save_safetensors(path, v1);
  // Occupy the temporary name with a directory so that creating the temp file fails.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  REQUIRE(fs::create_directory(tmp));
  CHECK_THROWS_WITH_AS(save_safetensors(path, v2), doctest::Contains(path.c_str()), IOError);
  check_same_maps(load_safetensors(path), v1);  // the old file is intact
  CHECK(fs::is_directory(tmp));                 // and what we did not create is not removed
  fs::remove(tmp);
  save_safetensors(path, v2);
  check_same_maps(load_safetensors(path), v2);

  // Renaming onto a non-empty directory fails after the data was written: temp file removed.
  const std::string blocked = dir.file("blocked");
  fs::create_directories(blocked + "/inside");
  CHECK_THROWS_WITH_AS(write_file_atomic(blocked, "payload"), doctest::Contains("renaming"), IOError);
  CHECK(!fs::exists(blocked + ".tmp." + std::to_string(::getpid())));

  write_file_atomic(dir.file("plain.txt"), std::string("a\0b", 3));
  CHECK(read_bytes(dir.file("plain.txt")) == std::string("a\0b", 3));
  write_file_atomic(dir.file("plain.txt"), "replaced");
  CHECK(read_bytes(dir.file("plain.txt")) == "replaced");

  CHECK_THROWS_WITH_AS(save_safetensors(path, TensorMap{{"__metadata__", Tensor::zeros(Shape{1})}}),
                       doctest::Contains("__metadata__"), IOError);
}

TEST_CASE("internal JSON: values, escapes, numbers, errors with byte offsets") {
  using detail::Json;
  using detail::json_parse;
  const Json v = json_parse(R"( {"a": [1, -2, 3.5, 1e3, true, false, null], "s": "q\"\\\/\b\f\n\r\tx\u00e9\ud83d\ude00", "o": {}} )");
  REQUIRE(v.is_object());
  const auto& a = v.find("a")->as_array();
  CHECK(a[0].is_int());
  CHECK(a[0].as_int() == 1);
  CHECK(a[1].as_int() == -2);
  CHECK(a[2].is_double());
  CHECK(a[2].as_double() == 3.5);
  CHECK(a[3].is_double());
  CHECK(a[3].as_double() == 1000.0);
  CHECK(a[4].as_bool());
  CHECK(!a[5].as_bool());
  CHECK(a[6].is_null());
  CHECK(v.find("s")->as_string() == "q\"\\/\b\f\n\r\tx\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(v.find("o")->as_object().empty());
  CHECK(v.find("missing") == nullptr);
  CHECK_THROWS_AS(v.find("a")->as_string(), ValueError);

  // Round trip through dump(), including control characters and int64 limits.
  Json o = Json::object();
  o.set("ctl", Json(std::string("\x01\x1f\"\\", 4)));
  o.set("big", Json(std::int64_t{9223372036854775807LL}));
  o.set("small", Json(std::int64_t{-9223372036854775807LL - 1}));
  o.set("d", Json(0.1));
  o.set("whole", Json(2.0));
  const std::string text = o.dump();
  CHECK(text.find("\\u0001") != std::string::npos);
  const Json back = json_parse(text);
  CHECK(back.find("ctl")->as_string() == std::string("\x01\x1f\"\\", 4));
  CHECK(back.find("big")->as_int() == 9223372036854775807LL);
  CHECK(back.find("small")->as_int() == -9223372036854775807LL - 1);
  CHECK(back.find("d")->as_double() == 0.1);
  CHECK(back.find("whole")->is_double());
  CHECK(json_parse("18446744073709551616").is_double());  // beyond int64: a double
  CHECK_THROWS_AS(Json(std::nan("")).dump(), ValueError);

  auto offset_of = [](const std::string& s) -> long {
    try {
      (void)json_parse(s);
    } catch (const detail::JsonError& e) {
      CHECK(std::string(e.what()).find("byte " + std::to_string(e.offset())) != std::string::npos);
      return static_cast<long>(e.offset());
    }
    return -1;
  };
  CHECK(offset_of("") == 0);
  CHECK(offset_of("[1,2") == 4);
  CHECK(offset_of("[1 2]") == 3);
  CHECK(offset_of("{\"a\" 1}") == 5);
  CHECK(offset_of("{\"a\":1,\"a\":2}") == 7);  // duplicate key
  CHECK(offset_of("\"abc") == 0);              // unterminated string: where it starts
  CHECK(offset_of("\"a\\qb\"") == 2);          // bad escape
  CHECK(offset_of("\"\\ud800x\"") == 1);       // unpaired surrogate
  CHECK(offset_of("\"\\u12g4\"") == 5);
  CHECK(offset_of("\"a\nb\"") == 2);           // raw control character
  CHECK(offset_of("01") == 1);                 // leading zero
  CHECK(offset_of("-") == 1);
  CHECK(offset_of("1.") == 2);
  CHECK(offset_of("1e+") == 3);
  CHECK(offset_of("1e999") == 0);
  CHECK(offset_of("tru") == 0);
  CHECK(offset_of("{} x") == 3);
  CHECK(offset_of(std::string(1000, '[')) >= 0);  // depth limit, not a stack overflow
  CHECK(json_parse(std::string(100, '[') + std::string(100, ']')).is_array());
}
