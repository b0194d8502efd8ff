// Command lines as text: splitting a `--worker-cmd` string into the words of
// an argv the way a POSIX shell would (without running one), and quoting
// words back so that a printed command can be pasted into a shell.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pjx::harness {

// Splits `command` into words. Unquoted whitespace separates words; inside
// single quotes every character is literal; inside double quotes a backslash
// escapes only `"`, `\`, `$`, and a backquote (before other characters it is
// kept); outside quotes a backslash makes the next character literal. Quotes
// may join parts of one word (`a'b c'd` is one word). Nothing is expanded:
// no variables, globs, `~` or command substitution.
// Throws std::invalid_argument naming the position for an unterminated
// quote or a trailing backslash.
std::vector<std::string> split_command_line(std::string_view command);

// Quotes `word` for a POSIX shell: unchanged when it holds only safe
// characters, else in single quotes. split_command_line(quote_word(w)) == {w}.
std::string quote_word(std::string_view word);

// The words quoted and joined by spaces.
std::string join_command_line(const std::vector<std::string>& words);

}  // namespace pjx::harness
