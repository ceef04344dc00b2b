// A small JSON value, parser and writer for the engine's own needs (safetensors headers,
// checkpoint metadata). Internal: not installed, not part of the public API.
//
// Numbers without a fraction or exponent that fit in int64 parse as Int, every other number
// as Double. Objects keep their keys in insertion order and reject duplicate keys. Parse
// errors throw JsonError whose message names the byte offset of the problem.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "anyrl/engine/error.hpp"

namespace anyrl::detail {

/// A malformed JSON text; `offset()` is the byte offset where parsing failed.
class JsonError : public ValueError {
 public:
  JsonError(const std::string& what, std::size_t offset) : ValueError(what), offset_(offset) {}
  std::size_t offset() const { return offset_; }

 private:
  std::size_t offset_;
};

class Json {
 public:
  enum class Type { Null, Bool, Int, Double, String, Array, Object };
  using Array = std::vector<Json>;
  using Object = std::vector<std::pair<std::string, Json>>;

  Json() = default;  // null
  Json(std::nullptr_t) {}
  Json(bool b) : v_(b) {}
  Json(int i) : v_(static_cast<std::int64_t>(i)) {}
  Json(std::int64_t i) : v_(i) {}
  Json(double d) : v_(d) {}
  Json(const char* s) : v_(std::string(s)) {}
  Json(std::string s) : v_(std::move(s)) {}
  Json(Array a) : v_(std::move(a)) {}
  Json(Object o) : v_(std::move(o)) {}
  static Json array() { return Json(Array{}); }
  static Json object() { return Json(Object{}); }

  Type type() const { return static_cast<Type>(v_.index()); }
  bool is_null() const { return type() == Type::Null; }
  bool is_bool() const { return type() == Type::Bool; }
  bool is_int() const { return type() == Type::Int; }
  bool is_double() const { return type() == Type::Double; }
  bool is_number() const { return is_int() || is_double(); }
  bool is_string() const { return type() == Type::String; }
  bool is_array() const { return type() == Type::Array; }
  bool is_object() const { return type() == Type::Object; }

  // Typed access; throws ValueError naming the expected and actual type on a mismatch.
  bool as_bool() const;
  std::int64_t as_int() const;
  double as_double() const;  ///< Int converts to double
  const std::string& as_string() const;
  const Array& as_array() const;
  Array& as_array();
  const Object& as_object() const;
  Object& as_object();

  /// Object member lookup; nullptr when absent (or when this is not an object).
  const Json* find(std::string_view key) const;
  /// Appends (or replaces) a member of an object.
  void set(const std::string& key, Json value);
  /// Appends to an array.
  void push_back(Json value);

  /// Compact JSON text (no whitespace). Doubles use the shortest round-trip form;
  /// NaN and infinities are refused (ValueError) since JSON cannot express them.
  std::string dump() const;
  void dump_to(std::string& out) const;

  static const char* type_name(Type t);

 private:
  std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, Array, Object> v_;
};

/// Parses one JSON value; surrounding whitespace is allowed, anything else after it is an
/// error. Nesting deeper than `max_depth` is refused (protects the stack on hostile input).
Json json_parse(std::string_view text, int max_depth = 256);

/// Appends `s` as a quoted JSON string (escaping quotes, backslashes and control characters).
void json_escape_to(std::string& out, std::string_view s);

}  // namespace anyrl::detail
