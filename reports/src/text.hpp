// Text helpers shared by the renderers: escaping for each output format and
// locale-independent number formatting.
//
// Contract: every string that comes from an input file passes through one of
// the escape functions before it reaches an output, so no input can inject
// markup. All functions are pure and thread-safe.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

namespace pjx::reports {

// The one escaper of the project's markup (the report's HTML and SVG, JUnit
// XML): & < > " ' as references, and the control characters XML 1.0 cannot
// carry (all below U+0020 but tab, newline and return) as U+FFFD. In XML
// attributes (`attribute`), tab, newline and carriage return become
// character references so they survive attribute-value normalisation.
std::string xml_escape(std::string_view text, bool attribute);

// xml_escape(text, false): HTML reads it alike, in text and in attribute
// values (HTML does not normalise attribute whitespace).
std::string html_escape(std::string_view text);

// Text for one GitHub-flavoured Markdown table cell: Markdown punctuation and
// HTML characters are backslash-escaped (`|` as `\|`), line breaks become spaces.
std::string md_cell(std::string_view text);

// A Markdown code span (fenced with more backticks than the text contains,
// line breaks as spaces). Code spans show their text literally, markup
// included. In a table cell (`in_table`) `|` is written `\|`, which GFM turns
// back into `|` before it splits the row.
std::string md_code(std::string_view text, bool in_table = true);

// Shortest text that reads back as the same double ("24.8", "50", "1e-06");
// "nan"/"inf" for non-finite values. Never depends on the C locale.
std::string format_number(double value);

// `value` rounded to `decimals` places ("24.80" for 2), with no "-0".
std::string format_fixed(double value, int decimals);

// `value` to `digits` significant figures in fixed notation ("0.412",
// "0.400", "25.1", "503"; whole numbers keep all their digits: "1234"). No "-0".
std::string format_significant(double value, int digits);

// Display text of a JSON value: strings as they are, numbers via
// format_number, booleans as true/false, null as "", anything else as compact JSON.
std::string json_text(const nlohmann::json& value);

}  // namespace pjx::reports
