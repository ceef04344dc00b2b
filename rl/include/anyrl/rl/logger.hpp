// Metric logs of a run: one CSV per stream (train.csv, eval.csv, ...) and every record of every
// stream in metrics.jsonl, each line flushed as it is written so a crash loses nothing and a
// plot can read a live run.
//
// A record is (stream, step, named values). The first record of a stream fixes its CSV columns
// ("step" first, then the record's keys in the order given); a later record may omit columns
// (empty cells) but not add new ones (ValueError naming the key: declare them up front with
// declare() when some appear only later). JSON lines carry every key; NaN/Inf are written as
// null in JSON and nan/inf in CSV. Numbers are printed in their shortest round-trip form.
#pragma once
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace anyrl::rl {

using MetricValue = std::variant<double, std::int64_t, std::string>;
using MetricRecord = std::vector<std::pair<std::string, MetricValue>>;

class MetricsLogger {
 public:
  /// Logs into folder `dir` (created if missing). With `resume_step` >= 0 (resuming from a
  /// checkpoint at that step) existing logs are kept up to and including that step and the
  /// lines after it are dropped — the resumed run writes them again — so the logs of a resumed
  /// run equal those of an uninterrupted one. Otherwise existing logs are replaced.
  explicit MetricsLogger(const std::filesystem::path& dir, std::int64_t resume_step = -1);
  ~MetricsLogger();
  MetricsLogger(const MetricsLogger&) = delete;
  MetricsLogger& operator=(const MetricsLogger&) = delete;

  /// Fixes the columns of `stream` before its first record.
  void declare(const std::string& stream, const std::vector<std::string>& columns);
  /// Writes one record; flushed before returning.
  void log(const std::string& stream, std::int64_t step, const MetricRecord& values);

  /// Columns of a stream (empty before its first record).
  std::vector<std::string> columns(const std::string& stream) const;
  std::filesystem::path csv_path(const std::string& stream) const { return dir_ / (stream + ".csv"); }
  std::filesystem::path jsonl_path() const { return dir_ / "metrics.jsonl"; }

 private:
  struct Stream {
    std::vector<std::string> columns;
    std::FILE* csv = nullptr;
  };
  Stream& open_stream(const std::string& name);

  std::filesystem::path dir_;
  std::int64_t resume_step_;
  std::map<std::string, Stream> streams_;
  std::FILE* jsonl_ = nullptr;
};

/// Shortest round-trip text of a double ("0.1", "3e-05", "nan").
std::string format_metric(double v);

/// A parsed CSV table (header + rows of cells) — what plotting and tests read back.
struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  /// Index of a column, or -1.
  int column(const std::string& name) const;
};
/// Reads a CSV written by MetricsLogger (RFC 4180 quoting). Throws IOError naming the file and
/// line for a row with the wrong number of cells.
CsvTable read_csv(const std::filesystem::path& path);

}  // namespace anyrl::rl
