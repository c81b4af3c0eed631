// What a Query operation answers: the members of its <OperationResult> element as a small tree
// that renders two ways, so that the answer and its audit record cannot drift apart: the XML the
// client reads (lists as <member> elements, policy documents URL-encoded as IAM sends them), and
// the JSON object CloudTrail records as responseElements (lower camel case names, lists as
// arrays, secrets left out). Not thread-safe; a value.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "api/query/xml_writer.h"
#include "kmsd/secret_bytes.h"

namespace kmsd::api::query {

class Node {
 public:
  static Node Text(std::string_view name, std::string value);
  static Node Number(std::string_view name, int64_t value);
  static Node Boolean(std::string_view name, bool value);
  static Node Date(std::string_view name, int64_t unix_seconds);  // ISO 8601, UTC
  // A policy document: URL-encoded in the XML (as IAM answers them), as is in the audit.
  static Node PolicyDocument(std::string_view name, std::string document);
  // In the XML answer only; never in the audit (SecretAccessKey, SessionToken).
  static Node Secret(std::string_view name, SecretBytes value);
  static Node Struct(std::string_view name);
  // A list; each child is written as <member>, whatever its name.
  static Node List(std::string_view name);

  // Adds a member to a structure or an element to a list; returns the added child.
  Node& Add(Node child);

  void WriteXml(XmlWriter& writer) const;
  // The structure's members as a JSON object (for a structure node).
  nlohmann::json AuditJson() const;

  const std::string& name() const { return name_; }

 private:
  enum class Kind { kText, kNumber, kBoolean, kPolicyDocument, kSecret, kStruct, kList };
  Node(Kind kind, std::string_view name) : kind_(kind), name_(name) {}
  void WriteXmlAs(XmlWriter& writer, std::string_view name) const;
  nlohmann::json AuditValue() const;
  bool Audited() const { return kind_ != Kind::kSecret; }

  Kind kind_;
  std::string name_;
  std::string text_;
  int64_t number_ = 0;
  SecretBytes secret_;
  std::vector<Node> children_;
};

}  // namespace kmsd::api::query
