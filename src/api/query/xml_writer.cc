// XML writing and escaping. See xml_writer.h.
#include "api/query/xml_writer.h"

#include "api/query/utf8.h"

namespace kmsd::api::query {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

std::string_view Entity(char c) {
  switch (c) {
    case '&':
      return "&amp;";
    case '<':
      return "&lt;";
    case '>':
      return "&gt;";
    case '"':
      return "&quot;";
    case '\'':
      return "&apos;";
    case '\r':
      return "&#13;";
    default:
      return {};
  }
}

// What XML 1.0 can carry as text (besides \r, which goes as a reference).
bool IsXmlChar(uint32_t c) {
  return c == '\t' || c == '\n' || (c >= 0x20 && c != 0xFFFE && c != 0xFFFF);
}

}  // namespace

void AppendXmlEscaped(std::string& out, std::string_view text) {
  while (!text.empty()) {
    if (std::string_view entity = Entity(text.front()); !entity.empty()) {
      out.append(entity);
      text.remove_prefix(1);
      continue;
    }
    uint32_t codepoint = 0;
    size_t length = DecodeUtf8(text, codepoint);
    if (length == 0 || !IsXmlChar(codepoint)) {
      out.append(kReplacement);
      text.remove_prefix(length == 0 ? 1 : length);  // a stray byte, or a whole character
      continue;
    }
    out.append(text.substr(0, length));
    text.remove_prefix(length);
  }
}

XmlWriter& XmlWriter::Open(std::string_view name, std::string_view xmlns) {
  out_.push_back('<');
  out_.append(name);
  if (!xmlns.empty()) {
    out_.append(" xmlns=\"");
    AppendXmlEscaped(out_, xmlns);
    out_.push_back('"');
  }
  out_.push_back('>');
  return *this;
}

XmlWriter& XmlWriter::Close(std::string_view name) {
  out_.append("</");
  out_.append(name);
  out_.push_back('>');
  return *this;
}

XmlWriter& XmlWriter::Element(std::string_view name, std::string_view text) {
  Open(name);
  AppendXmlEscaped(out_, text);
  return Close(name);
}

XmlWriter& XmlWriter::Element(std::string_view name, const SecretBytes& text) {
  return Element(name, text.view());
}

}  // namespace kmsd::api::query
