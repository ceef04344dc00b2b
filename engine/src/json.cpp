// Internal JSON parser/writer (see json.hpp). A recursive-descent parser over a string_view
// with an explicit depth limit; every error reports the byte offset where it was detected.
#include "json.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <system_error>

namespace anyrl::detail {

// ---- value access ----------------------------------------------------------------------------

const char* Json::type_name(Type t) {
  switch (t) {
    case Type::Null: return "null";
    case Type::Bool: return "bool";
    case Type::Int: return "integer";
    case Type::Double: return "number";
    case Type::String: return "string";
    case Type::Array: return "array";
    case Type::Object: return "object";
  }
  return "?";
}

namespace {
[[noreturn]] void type_mismatch(Json::Type want, Json::Type got) {
  throw ValueError(std::string("JSON: expected ") + Json::type_name(want) + ", got " + Json::type_name(got));
}
}  // namespace

bool Json::as_bool() const {
  if (!is_bool()) type_mismatch(Type::Bool, type());
  return std::get<bool>(v_);
}
std::int64_t Json::as_int() const {
  if (!is_int()) type_mismatch(Type::Int, type());
  return std::get<std::int64_t>(v_);
}
double Json::as_double() const {
  if (is_int()) return static_cast<double>(std::get<std::int64_t>(v_));
  if (!is_double()) type_mismatch(Type::Double, type());
  return std::get<double>(v_);
}
const std::string& Json::as_string() const {
  if (!is_string()) type_mismatch(Type::String, type());
  return std::get<std::string>(v_);
}
const Json::Array& Json::as_array() const {
  if (!is_array()) type_mismatch(Type::Array, type());
  return std::get<Array>(v_);
}
Json::Array& Json::as_array() {
  if (!is_array()) type_mismatch(Type::Array, type());
  return std::get<Array>(v_);
}
const Json::Object& Json::as_object() const {
  if (!is_object()) type_mismatch(Type::Object, type());
  return std::get<Object>(v_);
}
Json::Object& Json::as_object() {
  if (!is_object()) type_mismatch(Type::Object, type());
  return std::get<Object>(v_);
}

const Json* Json::find(std::string_view key) const {
  if (!is_object()) return nullptr;
  for (const auto& [k, v] : std::get<Object>(v_))
    if (k == key) return &v;
  return nullptr;
}

void Json::set(const std::string& key, Json value) {
  Object& o = as_object();
  for (auto& [k, v] : o)
    if (k == key) {
      v = std::move(value);
      return;
    }
  o.emplace_back(key, std::move(value));
}

void Json::push_back(Json value) { as_array().push_back(std::move(value)); }

// ---- writer ------------------------------------------------------------------------------------

void json_escape_to(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out.push_back('"');
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 15]);
        } else {
          out.push_back(ch);  // UTF-8 bytes pass through unchanged
        }
    }
  }
  out.push_back('"');
}

void Json::dump_to(std::string& out) const {
  switch (type()) {
    case Type::Null: out += "null"; break;
    case Type::Bool: out += std::get<bool>(v_) ? "true" : "false"; break;
    case Type::Int: out += std::to_string(std::get<std::int64_t>(v_)); break;
    case Type::Double: {
      const double d = std::get<double>(v_);
      if (!std::isfinite(d)) throw ValueError("JSON: cannot write a non-finite number (" + std::to_string(d) + ")");
      char buf[64];
      const auto r = std::to_chars(buf, buf + sizeof buf, d);  // shortest round-trip form
      std::string_view txt(buf, static_cast<std::size_t>(r.ptr - buf));
      out += txt;
      // Keep it a double when read back ("1" would come back as an integer).
      if (txt.find_first_of(".eEn") == std::string_view::npos) out += ".0";
      break;
    }
    case Type::String: json_escape_to(out, std::get<std::string>(v_)); break;
    case Type::Array: {
      out.push_back('[');
      bool first = true;
      for (const Json& e : std::get<Array>(v_)) {
        if (!first) out.push_back(',');
        first = false;
        e.dump_to(out);
      }
      out.push_back(']');
      break;
    }
    case Type::Object: {
      out.push_back('{');
      bool first = true;
      for (const auto& [k, v] : std::get<Object>(v_)) {
        if (!first) out.push_back(',');
        first = false;
        json_escape_to(out, k);
        out.push_back(':');
        v.dump_to(out);
      }
      out.push_back('}');
      break;
    }
  }
}

std::string Json::dump() const {
  std::string s;
  dump_to(s);
  return s;
}

// ---- parser ------------------------------------------------------------------------------------

namespace {

class Parser {
 public:
  Parser(std::string_view text, int max_depth) : s_(text), max_depth_(max_depth) {}

  Json parse_document() {
    skip_ws();
    Json v = parse_value(0);
    skip_ws();
    if (pos_ != s_.size()) fail("unexpected " + describe_here() + " after the JSON value");
    return v;
  }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
  int max_depth_;

  [[noreturn]] void fail(const std::string& msg) const { fail_at(msg, pos_); }
  [[noreturn]] static void fail_at(const std::string& msg, std::size_t at) {
    throw JsonError("JSON parse error at byte " + std::to_string(at) + ": " + msg, at);
  }

  std::string describe_here() const {
    if (pos_ >= s_.size()) return "end of input";
    const auto c = static_cast<unsigned char>(s_[pos_]);
    if (c >= 0x20 && c < 0x7f) return std::string("character '") + static_cast<char>(c) + "'";
    static const char* hex = "0123456789abcdef";
    return std::string("byte 0x") + hex[c >> 4] + hex[c & 15];
  }

  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }

  void expect_literal(std::string_view lit) {
    if (s_.substr(pos_, lit.size()) != lit) fail("invalid literal, expected '" + std::string(lit) + "'");
    pos_ += lit.size();
  }

  Json parse_value(int depth) {
    if (pos_ >= s_.size()) fail("unexpected end of input, expected a value");
    switch (s_[pos_]) {
      case '{': return parse_object(depth + 1);
      case '[': return parse_array(depth + 1);
      case '"': return Json(parse_string());
      case 't': expect_literal("true"); return Json(true);
      case 'f': expect_literal("false"); return Json(false);
      case 'n': expect_literal("null"); return Json(nullptr);
      default:
        if (s_[pos_] == '-' || (s_[pos_] >= '0' && s_[pos_] <= '9')) return parse_number();
        fail("unexpected " + describe_here() + ", expected a value");
    }
  }

  Json parse_object(int depth) {
    if (depth > max_depth_) fail("nesting deeper than " + std::to_string(max_depth_));
    ++pos_;  // '{'
    Json obj = Json::object();
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return obj;
    }
    for (;;) {
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != '"') fail("expected a string key, got " + describe_here());
      const std::size_t key_at = pos_;
      std::string key = parse_string();
      if (obj.find(key)) fail_at("duplicate key \"" + key + "\"", key_at);
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != ':') fail("expected ':' after key, got " + describe_here());
      ++pos_;
      skip_ws();
      obj.as_object().emplace_back(std::move(key), parse_value(depth));
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return obj;
      }
      fail("expected ',' or '}' in object, got " + describe_here());
    }
  }

  Json parse_array(int depth) {
    if (depth > max_depth_) fail("nesting deeper than " + std::to_string(max_depth_));
    ++pos_;  // '['
    Json arr = Json::array();
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return arr;
    }
    for (;;) {
      skip_ws();
      arr.as_array().push_back(parse_value(depth));
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        return arr;
      }
      fail("expected ',' or ']' in array, got " + describe_here());
    }
  }

  unsigned parse_hex4() {
    if (s_.size() - pos_ < 4) fail("truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s_[pos_];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned>(c - 'A' + 10);
      else fail("invalid hex digit in \\u escape: " + describe_here());
      ++pos_;
    }
    return v;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  std::string parse_string() {
    const std::size_t start = pos_;
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      if (pos_ >= s_.size()) fail_at("unterminated string", start);
      const char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) fail("unescaped control character in string");
      if (c != '\\') {
        out.push_back(c);
        ++pos_;
        continue;
      }
      ++pos_;
      if (pos_ >= s_.size()) fail_at("unterminated string", start);
      const char e = s_[pos_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          const std::size_t esc_at = pos_ - 2;
          unsigned cp = parse_hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            // A high surrogate must be followed by an escaped low surrogate.
            if (s_.substr(pos_, 2) != "\\u") fail_at("unpaired high surrogate in \\u escape", esc_at);
            pos_ += 2;
            const unsigned lo = parse_hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail_at("invalid low surrogate in \\u escape", esc_at);
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail_at("unpaired low surrogate in \\u escape", esc_at);
          }
          append_utf8(out, cp);
          break;
        }
        default: fail_at("invalid escape sequence '\\" + std::string(1, e) + "'", pos_ - 2);
      }
    }
  }

  Json parse_number() {
    const std::size_t start = pos_;
    bool is_double = false;
    if (s_[pos_] == '-') ++pos_;
    auto digits = [&] {
      const std::size_t d0 = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ - d0;
    };
    if (pos_ < s_.size() && s_[pos_] == '0') {
      ++pos_;  // JSON forbids leading zeros: "0" stands alone
    } else if (digits() == 0) {
      fail("invalid number: expected a digit, got " + describe_here());
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      is_double = true;
      if (digits() == 0) fail("invalid number: expected a digit after '.', got " + describe_here());
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      is_double = true;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (digits() == 0) fail("invalid number: expected an exponent digit, got " + describe_here());
    }
    const char* b = s_.data() + start;
    const char* e = s_.data() + pos_;
    if (!is_double) {
      std::int64_t i = 0;
      const auto r = std::from_chars(b, e, i);
      if (r.ec == std::errc() && r.ptr == e) return Json(i);
      // Too large for int64: fall through to double, as most JSON readers do.
    }
    double d = 0.0;
    const auto r = std::from_chars(b, e, d);
    if (r.ec == std::errc::result_out_of_range)
      fail_at("number out of the range of a double '" + std::string(b, e) + "'", start);
    if (r.ec != std::errc() || r.ptr != e) fail_at("invalid number '" + std::string(b, e) + "'", start);
    return Json(d);
  }
};

}  // namespace

Json json_parse(std::string_view text, int max_depth) { return Parser(text, max_depth).parse_document(); }

}  // namespace anyrl::detail
