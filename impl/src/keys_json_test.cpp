#include "keys_json.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace pjx::detail {
namespace {

TEST(KeysJson, EncodesCompactSortedUtf8) {
  EXPECT_EQ(encode_keys({"b", "a"}), R"(["a","b"])");
  EXPECT_EQ(encode_keys({"caf\xC3\xA9"}), "[\"caf\xC3\xA9\"]");
  EXPECT_EQ(encode_keys({}), "[]");
}

TEST(KeysJson, SortsByUtf8BytesWhichIsCodePointOrder) {
  // 'Z' < 'a' < U+00E9 < U+FF41 < U+1F600, as Python's sorted() on str.
  const KeySet keys = {"\xF0\x9F\x98\x80", "\xEF\xBD\x81", "\xC3\xA9", "a", "Z"};
  EXPECT_EQ(encode_keys(keys), "[\"Z\",\"a\",\"\xC3\xA9\",\"\xEF\xBD\x81\",\"\xF0\x9F\x98\x80\"]");
}

TEST(KeysJson, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(encode_keys({"a\"b\\c\n\x01"}), R"(["a\"b\\c\n\u0001"])");
  const auto back = decode_keys(encode_keys({"a\"b\\c\n\x01\t"}));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, KeySet({"a\"b\\c\n\x01\t"}));
}

TEST(KeysJson, RejectsKeysThatAreNotUtf8WithTheKeyInTheMessage) {
  try {
    encode_keys({"ok", "bad\xFF"});
    FAIL() << "expected invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("bad\\xff"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("UTF-8"), std::string::npos) << e.what();
  }
}

TEST(KeysJson, Utf8Validation) {
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("\xF0\x9F\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate U+D800
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xE2\x82"));          // truncated
  EXPECT_FALSE(is_valid_utf8("\x80"));              // lone continuation
}

TEST(KeysJson, DecodesUpstreamPythonJsonDumps) {
  // json.dumps(sorted(["b", "a", "café", "😀"])) in Python.
  const auto keys = decode_keys(R"(["a", "b", "caf\u00e9", "\ud83d\ude00"])");
  ASSERT_TRUE(keys);
  EXPECT_EQ(*keys, KeySet({"a", "b", "caf\xC3\xA9", "\xF0\x9F\x98\x80"}));
}

TEST(KeysJson, MalformedPayloadsSayWhy) {
  std::string why;
  EXPECT_FALSE(decode_keys("not json", &why));
  EXPECT_EQ(why, "not valid JSON");
  EXPECT_FALSE(decode_keys(R"({"a": 1})", &why));
  EXPECT_NE(why.find("object"), std::string::npos);
  EXPECT_FALSE(decode_keys(R"(["a", 1])", &why));
  EXPECT_NE(why.find("number"), std::string::npos);
  EXPECT_FALSE(decode_keys(R"(["\ud800"])", &why));  // lone surrogate
  EXPECT_FALSE(decode_keys("", &why));
  // A number past a double: nlohmann's throwing parse raises out_of_range.
  EXPECT_FALSE(decode_keys("[7E036854775807]", &why));
  EXPECT_NE(why.find("not valid JSON"), std::string::npos) << why;
}

TEST(KeysJson, PlainPathTakesWhatPublishersWrite) {
  // Our encoder's output and upstream's json.dumps of plain keys take the
  // path without a DOM (so the comparison below is not vacuous).
  EXPECT_EQ(decode_plain_keys(encode_keys({"a", "b", "caf\xC3\xA9"})),
            KeySet({"a", "b", "caf\xC3\xA9"}));
  EXPECT_EQ(decode_plain_keys(R"(["user:1", "user:2"])"), KeySet({"user:1", "user:2"}));
  EXPECT_EQ(decode_plain_keys(" [ ] "), KeySet());
  EXPECT_EQ(decode_plain_keys(R"(["b","a","a"])"), KeySet({"a", "b"}));  // unsorted, duplicated
}

TEST(KeysJson, PlainPathAgreesWithTheFullParser) {
  const std::string_view inputs[] = {"[]",
                                     " [ ] ",
                                     "[\"a\"]",
                                     " [ \"a\" , \"b\" ] \n",
                                     "[\"a\",\"b\",\"c\"]",
                                     "[\"\"]",
                                     "[\"a\",]",
                                     "[,\"a\"]",
                                     "[\"a\" \"b\"]",
                                     "[\"a\"]x",
                                     "[\"a\"]]",
                                     "[\"a\"",
                                     "[\"a",
                                     "[",
                                     "",
                                     " ",
                                     "[[\"a\"]]",
                                     "[\"a\",1]",
                                     "{\"a\":1}",
                                     "[\"caf\xC3\xA9\"]",
                                     "[\"\xC3\"]",
                                     "[\"\xED\xA0\x80\"]",
                                     "[\"a\tb\"]",
                                     "[\"a\\\"b\"]",
                                     "[\"a\\u0041\"]",
                                     "[\"\x7F\"]",
                                     "\t[\"a\"]\r",
                                     "[\"a\"]\v",
                                     "[\"a\",\"b\"],"};
  for (const std::string_view input : inputs) {
    const auto full = decode_keys_full(input);
    const auto plain = decode_plain_keys(input);
    if (plain) {
      EXPECT_EQ(plain, full) << "input: " << input;
    }
    EXPECT_EQ(decode_keys(input), full) << "input: " << input;
  }
}

TEST(KeysJson, DuplicatesCollapse) {
  const auto keys = decode_keys(R"(["a","a","b"])");
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->size(), 2u);
}

}  // namespace
}  // namespace pjx::detail
