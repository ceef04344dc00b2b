// Typed run configuration over TOML.
//
// Every option is declared in code with its type, default and a one-line description
// (`add_float("critic.lr", 3e-4, "critic learning rate", 0.0)`); a TOML file and `--set key=value`
// overrides then change values. Dotted keys are nested tables: `critic.lr` is `lr` in `[critic]`.
// Anything the declarations do not cover is an error — an unknown key (with a "did you mean"
// and the valid keys of its table), a value of the wrong type, a number out of range, a string
// outside its choices — and the message names the file (and line) or the --set argument, the key
// and the offending value.
//
// Reproducibility: numbers are parsed exactly (TOML's grammar, for --set values too) and dump()
// prints the shortest text that reads back to the same bits, so load(dump()) == the config and
// a run's `config.toml` reproduces it exactly.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "anyrl/engine/error.hpp"

namespace anyrl::rl {

/// A bad config file, key or value. The message is complete (source, key, value, valid keys).
struct ConfigError : ValueError {
  using ValueError::ValueError;
};

enum class ConfigType { Bool, Int, Float, String, IntList, FloatList };
const char* config_type_name(ConfigType t);

using ConfigValue =
    std::variant<bool, std::int64_t, double, std::string, std::vector<std::int64_t>, std::vector<double>>;

class Config {
 public:
  // ---- declarations (defaults in code). Keys: [A-Za-z0-9_] segments joined by '.'. -------------
  Config& add_bool(const std::string& key, bool def, const std::string& description);
  /// `min`/`max` (inclusive) are checked on every value that is set.
  Config& add_int(const std::string& key, std::int64_t def, const std::string& description,
                  std::optional<std::int64_t> min = std::nullopt, std::optional<std::int64_t> max = std::nullopt);
  /// Integers are accepted for float options; NaN and ±Inf are refused.
  Config& add_float(const std::string& key, double def, const std::string& description,
                    std::optional<double> min = std::nullopt, std::optional<double> max = std::nullopt);
  /// Non-empty `choices`: the value must be one of them.
  Config& add_string(const std::string& key, const std::string& def, const std::string& description,
                     std::vector<std::string> choices = {});
  Config& add_int_list(const std::string& key, std::vector<std::int64_t> def, const std::string& description);
  Config& add_float_list(const std::string& key, std::vector<double> def, const std::string& description);

  // ---- setting values ------------------------------------------------------------------------
  /// Reads a TOML file and sets every key it contains. Throws ConfigError (unreadable file, TOML
  /// syntax error with line, unknown key, bad type or value).
  void load_file(const std::string& path);
  /// Same for TOML text; `source` names it in errors (e.g. a file name).
  void load_string(std::string_view toml, const std::string& source = "<string>");
  /// One override "key=value" (from `--set`); the value is parsed as TOML, and as a bare string
  /// for string options ("--set policy.kind=diffusion" needs no quotes).
  void set(const std::string& assignment);
  void apply_overrides(const std::vector<std::string>& assignments);
  /// Programmatic set, checked like the others; `source` is recorded for source_of().
  void set_value(const std::string& key, const ConfigValue& value, const std::string& source = "code");

  // ---- reading -------------------------------------------------------------------------------
  bool has(const std::string& key) const { return index_.count(key) != 0; }
  ConfigType type(const std::string& key) const;
  /// Typed accessors; a key that was never declared or has another type throws ConfigError.
  bool get_bool(const std::string& key) const;
  std::int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  const std::string& get_string(const std::string& key) const;
  const std::vector<std::int64_t>& get_int_list(const std::string& key) const;
  const std::vector<double>& get_float_list(const std::string& key) const;
  const ConfigValue& value(const std::string& key) const;
  /// "default", the file name, or "--set".
  const std::string& source_of(const std::string& key) const;
  const std::string& description(const std::string& key) const;
  /// Declared keys in declaration order.
  std::vector<std::string> keys() const;
  /// The TOML text of one value ("3e-4" prints as 0.0003, strings quoted).
  std::string value_text(const std::string& key) const;

  /// The fully resolved config as TOML (every key, with its description as a comment), grouped
  /// into tables; reading it back gives bitwise the same values.
  std::string dump() const;
  /// Writes dump() to `path` atomically.
  void write(const std::string& path) const;
  /// Every key with type, default and description (for `--help`).
  std::string help() const;

 private:
  struct Option {
    std::string key;
    ConfigType type;
    std::string description;
    ConfigValue def, value;
    std::string source = "default";
    std::optional<double> min, max;
    std::vector<std::string> choices;
  };
  Option& declare(const std::string& key, ConfigType t, ConfigValue def, const std::string& description);
  const Option& find(const std::string& key, ConfigType want) const;
  void assign(Option& o, const ConfigValue& v, const std::string& where) const;
  std::string unknown_key_message(const std::string& key, const std::string& where) const;

  std::vector<Option> options_;
  std::map<std::string, std::size_t> index_;

  friend struct ConfigTomlAccess;
};

/// Flat view of any TOML file: dotted key -> value as TOML text (for tools that read configs
/// without declarations, e.g. `anyrl plot` grouping runs). Throws ConfigError.
std::map<std::string, std::string> read_toml_flat(const std::string& path);

/// Levenshtein distance (for "did you mean" suggestions).
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace anyrl::rl
