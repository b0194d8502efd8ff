#include "text.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace pjx::reports {
namespace {

TEST(HtmlEscape, EscapesMarkupAndQuotes) {
  EXPECT_EQ(html_escape("<script>alert(\"x\" & 'y')</script>"),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;");
  EXPECT_EQ(html_escape("plain text"), "plain text");
  // The same escaper as the XML: no control character reaches a page.
  EXPECT_EQ(html_escape(std::string("a\x1b[31mb")), "a\xEF\xBF\xBD[31mb");
}

TEST(XmlEscape, ReplacesControlCharactersXmlCannotCarry) {
  EXPECT_EQ(xml_escape(std::string("a\x01"
                                   "b"),
                       false),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(xml_escape("a<b>&\"'", false), "a&lt;b&gt;&amp;&quot;&#39;");
}

TEST(XmlEscape, KeepsLineBreaksInAttributesAsReferences) {
  EXPECT_EQ(xml_escape("one\ntwo\tthree", true), "one&#10;two&#9;three");
  EXPECT_EQ(xml_escape("one\ntwo", false), "one\ntwo");
}

TEST(MarkdownCell, EscapesPipesAndMarkupAndJoinsLines) {
  EXPECT_EQ(md_cell("a | b"), "a \\| b");
  EXPECT_EQ(md_cell("<b>x</b>"), "\\<b\\>x\\</b\\>");
  EXPECT_EQ(md_cell("line1\nline2"), "line1 line2");
  EXPECT_EQ(md_cell("poll_interval"), "poll\\_interval");
}

TEST(MarkdownCode, FencesLongerThanAnyBacktickRun) {
  EXPECT_EQ(md_code("pjx-harness run x.toml"), "`pjx-harness run x.toml`");
  EXPECT_EQ(md_code("a ``b`` c"), "```a ``b`` c```");
  EXPECT_EQ(md_code("`x"), "`` `x ``");
  EXPECT_EQ(md_code("a | b"), "`a \\| b`");
  EXPECT_EQ(md_code(""), "");
}

TEST(FormatNumber, GivesShortestRoundTripText) {
  EXPECT_EQ(format_number(24.8), "24.8");
  EXPECT_EQ(format_number(50), "50");
  EXPECT_EQ(format_number(-0.0), "0");
  EXPECT_EQ(format_significant(0.41234, 3), "0.412");
  EXPECT_EQ(format_significant(0.4, 3), "0.400");
  EXPECT_EQ(format_significant(25.06, 3), "25.1");
  EXPECT_EQ(format_significant(0.9996, 3), "1.00");
  EXPECT_EQ(format_significant(1234.6, 3), "1235");
  EXPECT_EQ(format_significant(-0.00001, 2), "-0.000010");
  EXPECT_EQ(format_significant(0, 3), "0");
  EXPECT_EQ(format_fixed(2.345, 2), "2.35");
  EXPECT_EQ(format_fixed(-0.0001, 2), "0.00");
  EXPECT_EQ(format_fixed(-1.5, 1), "-1.5");
}

TEST(JsonText, RendersScalarsAsText) {
  EXPECT_EQ(json_text(nlohmann::json("x")), "x");
  EXPECT_EQ(json_text(nlohmann::json(3)), "3");
  EXPECT_EQ(json_text(nlohmann::json(2.5)), "2.5");
  EXPECT_EQ(json_text(nlohmann::json(true)), "true");
  EXPECT_EQ(json_text(nlohmann::json()), "");
  EXPECT_EQ(json_text(nlohmann::json::array({1, 2})), "[1,2]");
}

}  // namespace
}  // namespace pjx::reports
