#include "command_line.hpp"

#include <stdexcept>

#include <gtest/gtest.h>

namespace pjx::harness {
namespace {

using Words = std::vector<std::string>;

TEST(SplitCommandLine, SplitsOnUnquotedWhitespace) {
  EXPECT_EQ(split_command_line("  pjx-worker   --defect\tskip-rows \n"),
            (Words{"pjx-worker", "--defect", "skip-rows"}));
  EXPECT_EQ(split_command_line(""), Words{});
  EXPECT_EQ(split_command_line("   "), Words{});
}

TEST(SplitCommandLine, SingleQuotesKeepEverythingLiteral) {
  EXPECT_EQ(split_command_line(R"(python3 'my dir/w.py' '\n$HOME "x"')"),
            (Words{"python3", "my dir/w.py", R"(\n$HOME "x")"}));
}

TEST(SplitCommandLine, DoubleQuotesEscapeOnlyShellSpecials) {
  EXPECT_EQ(split_command_line(R"("a \"b\" \\ \$ \n")"), (Words{R"(a "b" \ $ \n)"}));
}

TEST(SplitCommandLine, BackslashOutsideQuotesEscapesNextCharacter) {
  EXPECT_EQ(split_command_line(R"(a\ b c\'d)"), (Words{"a b", "c'd"}));
}

TEST(SplitCommandLine, QuotedPartsJoinIntoOneWordAndEmptyQuotesMakeAnEmptyWord) {
  EXPECT_EQ(split_command_line(R"(x'a b'"c d"e '' "")"), (Words{"xa bc de", "", ""}));
}

TEST(SplitCommandLine, RejectsUnterminatedQuotesAndTrailingBackslash) {
  EXPECT_THROW(split_command_line("a 'b"), std::invalid_argument);
  EXPECT_THROW(split_command_line("a \"b"), std::invalid_argument);
  EXPECT_THROW(split_command_line("a b\\"), std::invalid_argument);
  try {
    split_command_line("ok 'oops");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("character 4"), std::string::npos) << e.what();
  }
}

TEST(QuoteWord, RoundTripsThroughTheSplitter) {
  for (const std::string w : {"plain", "with space", "it's", "", "a\"b", "$HOME", "x\\y"}) {
    EXPECT_EQ(split_command_line(quote_word(w)), Words{w}) << w;
  }
  EXPECT_EQ(quote_word("/usr/bin/pjx-worker"), "/usr/bin/pjx-worker");
  const Words words = {"pjx-worker", "--defect", "deliver late", "it's"};
  EXPECT_EQ(split_command_line(join_command_line(words)), words);
}

}  // namespace
}  // namespace pjx::harness
