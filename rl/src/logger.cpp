#include "anyrl/rl/logger.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "anyrl/engine/error.hpp"
#include "anyrl/engine/serialize.hpp"

namespace anyrl::rl {
namespace fs = std::filesystem;

std::string format_metric(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

namespace {

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}

std::string json_string(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\r': o += "\\r"; break;
      case '\t': o += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          o += b;
        } else {
          o += c;
        }
    }
  }
  return o + "\"";
}

std::string csv_text(const MetricValue& v) {
  if (auto d = std::get_if<double>(&v)) return format_metric(*d);
  if (auto i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  return csv_cell(std::get<std::string>(v));
}

std::string json_text(const MetricValue& v) {
  if (auto d = std::get_if<double>(&v)) return std::isfinite(*d) ? format_metric(*d) : "null";
  if (auto i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  return json_string(std::get<std::string>(v));
}

void write_line(std::FILE* f, const std::string& line, const fs::path& path) {
  if (std::fwrite(line.data(), 1, line.size(), f) != line.size() || std::fflush(f) != 0)
    throw IOError("MetricsLogger: writing '" + path.string() + "' failed");
}

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> cells;
  std::string cur;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') cur += '"', ++i;
      else if (c == '"') quoted = false;
      else cur += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      cells.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  cells.push_back(cur);
  return cells;
}

std::vector<std::string> read_lines(const fs::path& p) {
  std::vector<std::string> lines;
  std::ifstream f(p);
  std::string line;
  while (std::getline(f, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// The value of a top-level `"key":` in one of our JSON lines (written by this file, so the
// layout is known: {"stream":"...","step":N,...}).
std::string json_field(const std::string& line, const std::string& key) {
  const std::string pat = "\"" + key + "\":";
  auto p = line.find(pat);
  if (p == std::string::npos) return "";
  p += pat.size();
  if (p < line.size() && line[p] == '"') {
    auto e = line.find('"', p + 1);
    return line.substr(p + 1, e == std::string::npos ? std::string::npos : e - p - 1);
  }
  auto e = line.find_first_of(",}", p);
  return line.substr(p, e - p);
}

std::int64_t parse_step(const std::string& s) {
  std::int64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() ? v : std::int64_t{-1};
}

}  // namespace

int CsvTable::column(const std::string& name) const {
  auto it = std::find(header.begin(), header.end(), name);
  return it == header.end() ? -1 : static_cast<int>(it - header.begin());
}

CsvTable read_csv(const fs::path& path) {
  std::ifstream f(path);
  if (!f) throw IOError("cannot open '" + path.string() + "'");
  CsvTable t;
  std::string line;
  std::size_t lineno = 0;
  while (std::getline(f, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    auto cells = split_csv_line(line);
    if (t.header.empty()) {
      t.header = std::move(cells);
      continue;
    }
    if (cells.size() != t.header.size())
      throw IOError(path.string() + ":" + std::to_string(lineno) + ": " + std::to_string(cells.size()) +
                    " cells, the header has " + std::to_string(t.header.size()));
    t.rows.push_back(std::move(cells));
  }
  return t;
}

MetricsLogger::MetricsLogger(const fs::path& dir, std::int64_t resume_step) : dir_(dir), resume_step_(resume_step) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir)) throw IOError("MetricsLogger: cannot create '" + dir.string() + "'");
  // Streams of an earlier session, found in its metrics.jsonl.
  std::set<std::string> old_streams;
  std::vector<std::string> kept;
  for (const std::string& line : read_lines(jsonl_path())) {
    old_streams.insert(json_field(line, "stream"));
    if (resume_step >= 0 && parse_step(json_field(line, "step")) <= resume_step) kept.push_back(line + "\n");
  }
  if (resume_step >= 0) {
    std::string text;
    for (auto& l : kept) text += l;
    write_file_atomic(jsonl_path().string(), text);
    for (const std::string& s : old_streams) {
      const fs::path p = csv_path(s);
      auto lines = read_lines(p);
      if (lines.empty()) continue;
      std::string csv = lines[0] + "\n";
      for (std::size_t i = 1; i < lines.size(); ++i)
        if (parse_step(lines[i].substr(0, lines[i].find(','))) <= resume_step) csv += lines[i] + "\n";
      write_file_atomic(p.string(), csv);
      Stream st;
      st.columns = split_csv_line(lines[0]);
      st.columns.erase(st.columns.begin());  // "step"
      st.csv = std::fopen(p.string().c_str(), "a");
      if (!st.csv) throw IOError("MetricsLogger: cannot open '" + p.string() + "' for appending");
      streams_[s] = std::move(st);
    }
    jsonl_ = std::fopen(jsonl_path().string().c_str(), "a");
  } else {
    for (const std::string& s : old_streams) fs::remove(csv_path(s), ec);
    jsonl_ = std::fopen(jsonl_path().string().c_str(), "w");
  }
  if (!jsonl_) throw IOError("MetricsLogger: cannot open '" + jsonl_path().string() + "'");
}

MetricsLogger::~MetricsLogger() {
  for (auto& [name, s] : streams_)
    if (s.csv) std::fclose(s.csv);
  if (jsonl_) std::fclose(jsonl_);
}

MetricsLogger::Stream& MetricsLogger::open_stream(const std::string& name) {
  auto it = streams_.find(name);
  if (it != streams_.end()) return it->second;
  if (name.empty() || name.find_first_of("/\\\"., ") != std::string::npos)
    throw ValueError("MetricsLogger: invalid stream name '" + name + "'");
  Stream s;
  s.csv = std::fopen(csv_path(name).string().c_str(), "w");
  if (!s.csv) throw IOError("MetricsLogger: cannot create '" + csv_path(name).string() + "'");
  return streams_.emplace(name, std::move(s)).first->second;
}

void MetricsLogger::declare(const std::string& stream, const std::vector<std::string>& columns) {
  Stream& s = open_stream(stream);
  if (!s.columns.empty()) {
    if (s.columns != columns)
      throw ValueError("MetricsLogger::declare: stream '" + stream + "' already has its columns");
    return;
  }
  std::set<std::string> seen;
  for (const auto& c : columns)
    if (c == "step" || c == "stream" || !seen.insert(c).second)
      throw ValueError("MetricsLogger::declare: column '" + c + "' of stream '" + stream + "' is reserved or repeated");
  s.columns = columns;
  std::string header = "step";
  for (const auto& c : columns) header.append(1, ',').append(csv_cell(c));
  write_line(s.csv, header + "\n", csv_path(stream));
}

void MetricsLogger::log(const std::string& stream, std::int64_t step, const MetricRecord& values) {
  Stream& s = open_stream(stream);
  if (s.columns.empty()) {
    std::vector<std::string> cols;
    for (const auto& [k, v] : values) cols.push_back(k);
    declare(stream, cols);
  }
  std::vector<const MetricValue*> row(s.columns.size(), nullptr);
  for (const auto& [k, v] : values) {
    auto it = std::find(s.columns.begin(), s.columns.end(), k);
    if (it == s.columns.end()) {
      std::string cols;
      for (const auto& c : s.columns) cols += (cols.empty() ? "" : ", ") + c;
      throw ValueError("MetricsLogger: metric '" + k + "' is not a column of stream '" + stream +
                       "' (columns, fixed by its first record: " + cols + "); declare() it up front");
    }
    row[static_cast<std::size_t>(it - s.columns.begin())] = &v;
  }
  std::string line = std::to_string(step);
  for (const MetricValue* v : row) {
    line.push_back(',');
    if (v) line.append(csv_text(*v));
  }
  write_line(s.csv, line + "\n", csv_path(stream));

  std::string j = "{\"stream\":" + json_string(stream) + ",\"step\":" + std::to_string(step);
  for (const auto& [k, v] : values) j.append(1, ',').append(json_string(k)).append(1, ':').append(json_text(v));
  write_line(jsonl_, j + "}\n", jsonl_path());
}

std::vector<std::string> MetricsLogger::columns(const std::string& stream) const {
  auto it = streams_.find(stream);
  return it == streams_.end() ? std::vector<std::string>{} : it->second.columns;
}

}  // namespace anyrl::rl
