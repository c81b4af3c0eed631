// Writes the Query protocol's XML answers straight into the body. Text is escaped for XML 1.0:
// the five markup characters become entities, a carriage return a character reference (so it
// survives parsing), and what XML cannot carry at all (other control characters, invalid UTF-8,
// U+FFFE/U+FFFF) becomes U+FFFD. Not thread-safe; one writer per answer.
#pragma once

#include <string>
#include <string_view>

#include "kmsd/secret_bytes.h"

namespace kmsd::api::query {

class XmlWriter {
 public:
  // Room for any answer that carries a secret (CreateAccessKey, AssumeRole: under 2 KiB), so the
  // buffer is never reallocated with a secret in it, leaving a copy behind in freed memory.
  XmlWriter() { out_.reserve(4096); }
  // <name> or <name xmlns="...">.
  XmlWriter& Open(std::string_view name, std::string_view xmlns = {});
  XmlWriter& Close(std::string_view name);
  // <name>text</name>
  XmlWriter& Element(std::string_view name, std::string_view text);
  // A secret written from where it lies, with no other copy made.
  XmlWriter& Element(std::string_view name, const SecretBytes& text);

  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// Appends text escaped for an XML element or attribute.
void AppendXmlEscaped(std::string& out, std::string_view text);

}  // namespace kmsd::api::query
