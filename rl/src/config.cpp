// Config over toml++ (header-only mode, this file only: see rl/CMakeLists.txt).
#include "anyrl/rl/config.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

#include "anyrl/engine/serialize.hpp"

namespace anyrl::rl {

const char* config_type_name(ConfigType t) {
  switch (t) {
    case ConfigType::Bool: return "bool";
    case ConfigType::Int: return "integer";
    case ConfigType::Float: return "float";
    case ConfigType::String: return "string";
    case ConfigType::IntList: return "list of integers";
    case ConfigType::FloatList: return "list of floats";
  }
  return "?";
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

namespace {

// Shortest text that reads back to the same double, always recognisable as a TOML float.
std::string format_double(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          out += b;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string format_value(const ConfigValue& v) {
  struct V {
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(std::int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const { return format_double(d); }
    std::string operator()(const std::string& s) const { return quote(s); }
    std::string operator()(const std::vector<std::int64_t>& l) const {
      std::string o = "[";
      for (std::size_t i = 0; i < l.size(); ++i) o += (i ? ", " : "") + std::to_string(l[i]);
      return o + "]";
    }
    std::string operator()(const std::vector<double>& l) const {
      std::string o = "[";
      for (std::size_t i = 0; i < l.size(); ++i) o += (i ? ", " : "") + format_double(l[i]);
      return o + "]";
    }
  };
  return std::visit(V{}, v);
}

bool valid_key(const std::string& k) {
  if (k.empty() || k.front() == '.' || k.back() == '.' || k.find("..") != std::string::npos) return false;
  return std::all_of(k.begin(), k.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'; });
}

std::string parent_of(const std::string& key) {
  auto p = key.rfind('.');
  return p == std::string::npos ? "" : key.substr(0, p);
}

std::string node_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a bool";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

// TOML text of a node for messages and flat views.
std::string node_text(const toml::node& n) {
  std::ostringstream os;
  if (auto s = n.as_string()) return quote(s->get());
  if (auto f = n.as_floating_point()) return format_double(f->get());
  if (auto t = n.as_table()) {
    os << toml::toml_formatter{*t, toml::format_flags::none};
    std::string s = os.str();
    std::replace(s.begin(), s.end(), '\n', ' ');
    return "{" + s + "}";
  }
  if (auto a = n.as_array()) {
    std::string o = "[";
    for (std::size_t i = 0; i < a->size(); ++i) o += (i ? ", " : "") + node_text(*a->get(i));
    return o + "]";
  }
  n.visit([&](auto&& v) { os << v; });
  return os.str();
}

std::string where_of(const std::string& source, const toml::node& n) {
  const auto& src = n.source();
  if (src.begin.line > 0) return source + ":" + std::to_string(src.begin.line);
  return source;
}

// Converts a node to the option's type, or returns an explanation of why it cannot.
std::optional<ConfigValue> convert(const toml::node& n, ConfigType t, std::string& why) {
  switch (t) {
    case ConfigType::Bool:
      if (auto b = n.as_boolean()) return ConfigValue{b->get()};
      break;
    case ConfigType::Int:
      if (auto i = n.as_integer()) return ConfigValue{static_cast<std::int64_t>(i->get())};
      if (n.is_floating_point()) why = " (write integers without a decimal point)";
      break;
    case ConfigType::Float:
      if (auto f = n.as_floating_point()) return ConfigValue{f->get()};
      if (auto i = n.as_integer()) return ConfigValue{static_cast<double>(i->get())};
      break;
    case ConfigType::String:
      if (auto s = n.as_string()) return ConfigValue{s->get()};
      break;
    case ConfigType::IntList:
      if (auto a = n.as_array()) {
        std::vector<std::int64_t> out;
        for (std::size_t i = 0; i < a->size(); ++i) {
          auto e = a->get(i)->as_integer();
          if (!e) {
            why = " (element " + std::to_string(i) + " is " + node_type_name(*a->get(i)) + ")";
            return std::nullopt;
          }
          out.push_back(e->get());
        }
        return ConfigValue{out};
      }
      break;
    case ConfigType::FloatList:
      if (auto a = n.as_array()) {
        std::vector<double> out;
        for (std::size_t i = 0; i < a->size(); ++i) {
          const toml::node* e = a->get(i);
          if (auto f = e->as_floating_point()) out.push_back(f->get());
          else if (auto k = e->as_integer()) out.push_back(static_cast<double>(k->get()));
          else {
            why = " (element " + std::to_string(i) + " is " + node_type_name(*e) + ")";
            return std::nullopt;
          }
        }
        return ConfigValue{out};
      }
      break;
  }
  return std::nullopt;
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw ConfigError("cannot open config file '" + path + "'");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) throw ConfigError("cannot read config file '" + path + "'");
  return ss.str();
}

toml::table parse_toml(std::string_view text, const std::string& source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw ConfigError(source + ":" + std::to_string(e.source().begin.line) + ":" +
                      std::to_string(e.source().begin.column) + ": TOML syntax error: " +
                      std::string(e.description()));
  }
}

}  // namespace

// Friend of Config: walks a parsed table and assigns every leaf.
struct ConfigTomlAccess {
  static void load(Config& c, const toml::table& t, const std::string& prefix, const std::string& source) {
    for (auto&& [k, node] : t) {
      const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
      auto it = c.index_.find(key);
      if (it != c.index_.end()) {
        Config::Option& o = c.options_[it->second];
        const std::string where = where_of(source, node);
        std::string why;
        auto v = convert(node, o.type, why);
        if (!v)
          throw ConfigError(where + ": " + key + " = " + node_text(node) + " has the wrong type: expected " +
                            config_type_name(o.type) + ", got " + node_type_name(node) + why);
        c.assign(o, *v, where);
        o.source = source;
        continue;
      }
      if (auto sub = node.as_table()) {
        // A table is fine when some declared key lives under it.
        const std::string pre = key + ".";
        bool known = std::any_of(c.options_.begin(), c.options_.end(),
                                 [&](const Config::Option& o) { return o.key.compare(0, pre.size(), pre) == 0; });
        if (known) {
          load(c, *sub, key, source);
          continue;
        }
      }
      // Name the first leaf inside an unknown table ("critc.lr"), so the suggestion can match it.
      std::string leaf = key;
      const toml::node* n = &node;
      while (n->is_table() && !n->as_table()->empty()) {
        auto first = n->as_table()->begin();
        leaf.append(1, '.').append(first->first.str());
        n = &first->second;
      }
      throw ConfigError(c.unknown_key_message(leaf, where_of(source, *n)));
    }
  }
};

// ---- declarations -----------------------------------------------------------------------------

Config::Option& Config::declare(const std::string& key, ConfigType t, ConfigValue def, const std::string& description) {
  if (!valid_key(key)) throw ConfigError("Config: invalid key '" + key + "' (segments of [A-Za-z0-9_-] joined by '.')");
  if (index_.count(key)) throw ConfigError("Config: key '" + key + "' is declared twice");
  // A key cannot be both a value and a table ("a" and "a.b").
  for (const Option& o : options_)
    if (o.key.compare(0, key.size() + 1, key + ".") == 0 || key.compare(0, o.key.size() + 1, o.key + ".") == 0)
      throw ConfigError("Config: key '" + key + "' clashes with '" + o.key + "' (one would be a table of the other)");
  Option o;
  o.key = key;
  o.type = t;
  o.description = description;
  o.def = def;
  o.value = def;
  options_.push_back(std::move(o));
  index_[key] = options_.size() - 1;
  return options_.back();
}

Config& Config::add_bool(const std::string& key, bool def, const std::string& d) {
  declare(key, ConfigType::Bool, def, d);
  return *this;
}
Config& Config::add_int(const std::string& key, std::int64_t def, const std::string& d, std::optional<std::int64_t> min,
                        std::optional<std::int64_t> max) {
  Option& o = declare(key, ConfigType::Int, def, d);
  if (min) o.min = static_cast<double>(*min);
  if (max) o.max = static_cast<double>(*max);
  assign(o, def, "default of " + key);
  return *this;
}
Config& Config::add_float(const std::string& key, double def, const std::string& d, std::optional<double> min,
                          std::optional<double> max) {
  Option& o = declare(key, ConfigType::Float, def, d);
  o.min = min;
  o.max = max;
  assign(o, def, "default of " + key);
  return *this;
}
Config& Config::add_string(const std::string& key, const std::string& def, const std::string& d,
                           std::vector<std::string> choices) {
  Option& o = declare(key, ConfigType::String, def, d);
  o.choices = std::move(choices);
  assign(o, def, "default of " + key);
  return *this;
}
Config& Config::add_int_list(const std::string& key, std::vector<std::int64_t> def, const std::string& d) {
  declare(key, ConfigType::IntList, std::move(def), d);
  return *this;
}
Config& Config::add_float_list(const std::string& key, std::vector<double> def, const std::string& d) {
  Option& o = declare(key, ConfigType::FloatList, def, d);
  assign(o, def, "default of " + key);
  return *this;
}

// ---- checks -----------------------------------------------------------------------------------

void Config::assign(Option& o, const ConfigValue& v, const std::string& where) const {
  auto bad = [&](const std::string& why) {
    throw ConfigError(where + ": " + o.key + " = " + format_value(v) + " " + why);
  };
  if (v.index() != o.def.index()) bad("has the wrong type: expected " + std::string(config_type_name(o.type)));
  auto check_num = [&](double x) {
    if (!std::isfinite(x)) bad("is not a finite number");
    if (o.min && x < *o.min) bad("is out of range: must be >= " + (o.type == ConfigType::Int ? std::to_string(static_cast<std::int64_t>(*o.min)) : format_double(*o.min)));
    if (o.max && x > *o.max) bad("is out of range: must be <= " + (o.type == ConfigType::Int ? std::to_string(static_cast<std::int64_t>(*o.max)) : format_double(*o.max)));
  };
  if (o.type == ConfigType::Int) check_num(static_cast<double>(std::get<std::int64_t>(v)));
  if (o.type == ConfigType::Float) check_num(std::get<double>(v));
  if (o.type == ConfigType::FloatList)
    for (double x : std::get<std::vector<double>>(v))
      if (!std::isfinite(x)) bad("contains a non-finite number");
  if (o.type == ConfigType::String && !o.choices.empty()) {
    const std::string& s = std::get<std::string>(v);
    if (std::find(o.choices.begin(), o.choices.end(), s) == o.choices.end()) {
      std::string list;
      for (const auto& c : o.choices) list += (list.empty() ? "" : ", ") + c;
      std::string best;
      std::size_t bd = 3;
      for (const auto& c : o.choices)
        if (auto dd = edit_distance(s, c); dd < bd) bd = dd, best = c;
      bad("is not one of: " + list + (best.empty() ? "" : " (did you mean '" + best + "'?)"));
    }
  }
  o.value = v;
}

std::string Config::unknown_key_message(const std::string& key, const std::string& where) const {
  std::string msg = where + ": unknown key '" + key + "'";
  // Closest declared key, by full key and by last segment among siblings.
  std::string best;
  bool suggested = false;
  std::size_t bd = std::max<std::size_t>(2, key.size() / 3) + 1;
  for (const Option& o : options_) {
    const std::size_t dd = edit_distance(key, o.key);
    if (dd < bd) bd = dd, best = o.key;
  }
  if (best.empty()) {
    // A misspelt table: "critc.lr" when [critic] exists.
    std::string first_seg = key.substr(0, key.find('.'));
    std::size_t td = std::max<std::size_t>(2, first_seg.size() / 3) + 1;
    for (const Option& o : options_) {
      const auto dot = o.key.find('.');
      if (dot == std::string::npos) continue;
      const std::string tbl = o.key.substr(0, dot);
      if (const std::size_t dd = edit_distance(first_seg, tbl); dd > 0 && dd < td) td = dd, best = tbl + key.substr(first_seg.size());
    }
    if (!best.empty() && !index_.count(best)) {
      msg += " (did you mean [" + best.substr(0, best.find('.')) + "]?)";
      best.clear();
      suggested = true;
    }
  }
  if (best.empty() && !suggested) {
    // "lr" given at the top level but declared as "critic.lr": suggest by last segment.
    const std::string last = key.substr(key.rfind('.') + 1);
    for (const Option& o : options_)
      if (o.key.substr(o.key.rfind('.') + 1) == last) {
        best = o.key;
        break;
      }
  }
  if (!best.empty()) msg += " (did you mean '" + best + "'?)";
  // Valid keys in the same table (or the top-level names when the table itself is unknown).
  std::string parent = parent_of(key);
  auto in_table = [&](const std::string& tbl) {
    std::vector<std::string> ks;
    const std::string pre = tbl.empty() ? "" : tbl + ".";
    for (const Option& o : options_)
      if (o.key.compare(0, pre.size(), pre) == 0) {
        std::string rest = o.key.substr(pre.size());
        auto dot = rest.find('.');
        std::string name = pre + (dot == std::string::npos ? rest : rest.substr(0, dot) + ".*");
        if (std::find(ks.begin(), ks.end(), name) == ks.end()) ks.push_back(name);
      }
    return ks;
  };
  std::vector<std::string> ks = in_table(parent);
  while (ks.empty() && !parent.empty()) {
    parent = parent_of(parent);
    ks = in_table(parent);
  }
  std::string list;
  for (const auto& k : ks) list += (list.empty() ? "" : ", ") + k;
  msg += "; valid keys" + (parent.empty() ? std::string() : " in [" + parent + "]") + ": " + list;
  return msg;
}

// ---- setting ----------------------------------------------------------------------------------

void Config::load_file(const std::string& path) { load_string(read_text(path), path); }

void Config::load_string(std::string_view text, const std::string& source) {
  toml::table t = parse_toml(text, source);
  // Assign into a copy so a bad file leaves the config unchanged.
  Config copy = *this;
  ConfigTomlAccess::load(copy, t, "", source);
  *this = std::move(copy);
}

void Config::set(const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos)
    throw ConfigError("--set " + assignment + ": expected key=value");
  auto trim = [](std::string s) {
    const auto b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
  };
  const std::string key = trim(assignment.substr(0, eq)), text = trim(assignment.substr(eq + 1));
  const std::string where = "--set " + assignment;
  auto it = index_.find(key);
  if (it == index_.end()) throw ConfigError(unknown_key_message(key, "--set " + key));
  Option& o = options_[it->second];
  // Parse with TOML's own grammar, so "--set x=1e-3" means exactly what "x = 1e-3" in a file means.
  std::optional<ConfigValue> v;
  std::string why, got = "text that is not a TOML value";
  try {
    const std::string doc = "v = " + text;
    toml::table t = toml::parse(std::string_view(doc), std::string_view("--set"));
    const toml::node* n = t.get("v");
    v = convert(*n, o.type, why);
    got = node_type_name(*n);
  } catch (const toml::parse_error&) {
  }
  if (!v && o.type == ConfigType::String) v = ConfigValue{text};  // bare word
  if (!v)
    throw ConfigError(where + ": " + key + " = " + text + " has the wrong type: expected " + config_type_name(o.type) +
                      ", got " + got + why);
  assign(o, *v, where);
  o.source = "--set";
}

void Config::apply_overrides(const std::vector<std::string>& assignments) {
  for (const auto& a : assignments) set(a);
}

void Config::set_value(const std::string& key, const ConfigValue& value, const std::string& source) {
  auto it = index_.find(key);
  if (it == index_.end()) throw ConfigError(unknown_key_message(key, source));
  Option& o = options_[it->second];
  // Ints are accepted for float options here too.
  ConfigValue v = value;
  if (o.type == ConfigType::Float && std::holds_alternative<std::int64_t>(v))
    v = static_cast<double>(std::get<std::int64_t>(v));
  assign(o, v, source);
  o.source = source;
}

// ---- reading ----------------------------------------------------------------------------------

const Config::Option& Config::find(const std::string& key, ConfigType want) const {
  auto it = index_.find(key);
  if (it == index_.end()) throw ConfigError(unknown_key_message(key, "Config::get"));
  const Option& o = options_[it->second];
  if (o.type != want)
    throw ConfigError("Config::get: " + key + " is of type " + config_type_name(o.type) + ", not " +
                      config_type_name(want));
  return o;
}

ConfigType Config::type(const std::string& key) const {
  auto it = index_.find(key);
  if (it == index_.end()) throw ConfigError(unknown_key_message(key, "Config::type"));
  return options_[it->second].type;
}
bool Config::get_bool(const std::string& k) const { return std::get<bool>(find(k, ConfigType::Bool).value); }
std::int64_t Config::get_int(const std::string& k) const { return std::get<std::int64_t>(find(k, ConfigType::Int).value); }
double Config::get_float(const std::string& k) const { return std::get<double>(find(k, ConfigType::Float).value); }
const std::string& Config::get_string(const std::string& k) const {
  return std::get<std::string>(find(k, ConfigType::String).value);
}
const std::vector<std::int64_t>& Config::get_int_list(const std::string& k) const {
  return std::get<std::vector<std::int64_t>>(find(k, ConfigType::IntList).value);
}
const std::vector<double>& Config::get_float_list(const std::string& k) const {
  return std::get<std::vector<double>>(find(k, ConfigType::FloatList).value);
}
const ConfigValue& Config::value(const std::string& key) const { return find(key, type(key)).value; }
const std::string& Config::source_of(const std::string& key) const { return find(key, type(key)).source; }
const std::string& Config::description(const std::string& key) const { return find(key, type(key)).description; }
std::string Config::value_text(const std::string& key) const { return format_value(value(key)); }

std::vector<std::string> Config::keys() const {
  std::vector<std::string> ks;
  for (const Option& o : options_) ks.push_back(o.key);
  return ks;
}

std::string Config::dump() const {
  // Group by table, tables in order of first declaration; root keys first (TOML requires it).
  std::vector<std::string> tables;
  std::map<std::string, std::vector<const Option*>> by_table;
  for (const Option& o : options_) {
    const std::string t = parent_of(o.key);
    if (!by_table.count(t)) tables.push_back(t);
    by_table[t].push_back(&o);
  }
  std::stable_partition(tables.begin(), tables.end(), [](const std::string& t) { return t.empty(); });
  std::string out = "# anyrl resolved config: every key, defaults included. Reading it back reproduces the run.\n";
  for (const std::string& t : tables) {
    if (!t.empty()) out += "\n[" + t + "]\n";
    for (const Option* o : by_table[t]) {
      if (!o->description.empty()) out += "# " + o->description + "\n";
      out += o->key.substr(t.empty() ? 0 : t.size() + 1) + " = " + format_value(o->value);
      if (o->source != "default") out += "  # from " + o->source;
      out += "\n";
    }
  }
  return out;
}

void Config::write(const std::string& path) const { write_file_atomic(path, dump()); }

std::string Config::help() const {
  std::string out;
  for (const Option& o : options_) {
    out += "  " + o.key + " (" + config_type_name(o.type) + ", default " + format_value(o.def) + ")";
    if (!o.choices.empty()) {
      out += " one of:";
      for (const auto& c : o.choices) out += " " + c;
    }
    out += "\n      " + o.description + "\n";
  }
  return out;
}

// ---- flat view --------------------------------------------------------------------------------

namespace {
void flatten(const toml::table& t, const std::string& prefix, std::map<std::string, std::string>& out) {
  for (auto&& [k, node] : t) {
    const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (auto sub = node.as_table()) flatten(*sub, key, out);
    else out[key] = node_text(node);
  }
}
}  // namespace

std::map<std::string, std::string> read_toml_flat(const std::string& path) {
  toml::table t = parse_toml(read_text(path), path);
  std::map<std::string, std::string> out;
  flatten(t, "", out);
  return out;
}

}  // namespace anyrl::rl
