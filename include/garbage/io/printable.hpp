#pragma once
// Quoting bytes read from an untrusted file inside an error message: control bytes (terminal
// escape sequences) and non-ASCII bytes are escaped, and long text is cut, so a hostile file can
// neither drive the user's terminal nor flood the log.

#include <cstddef>
#include <string>
#include <string_view>

namespace garbage::io {

/// `text` with every byte outside printable ASCII written as \xNN and a backslash as \\, cut
/// after `max_bytes` input bytes ("..." and the full length follow a cut).
std::string printable(std::string_view text, size_t max_bytes = 80);

/// printable(text) between single quotes.
std::string quote_text(std::string_view text, size_t max_bytes = 80);

/// Longest tensor name a weight file may use (real names are a few dozen bytes); other code
/// prints names whole.
inline constexpr size_t kMaxTensorNameBytes = 4096;

/// True when `name` holds a control character (C0, DEL, or a UTF-8-encoded C1 such as CSI):
/// tensor names with those are refused, since other code prints names as they are.
bool has_control_characters(std::string_view name);

}  // namespace garbage::io
